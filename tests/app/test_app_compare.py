"""AppTest of the Compare page with 0, 1 and 3 real runs; the optimizer race; rename and delete."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd
import pytest

from mnist_core.runs.store import RunStore

from app_harness import QUICK, button, figure_titled, start_app, student, texts, train_run, wait_until_finished

EN = {"lang": "en"}  # the language these assertions are written in (a browser saying nothing gets Korean)


@pytest.fixture
def store(runs_root: Path) -> RunStore:
    return RunStore(runs_root)


def test_no_runs_says_how_to_get_some(store: RunStore) -> None:
    app = start_app("compare")
    info = texts(app, "info")
    assert "No runs to compare yet: train one on the Train page, or start an optimizer race above." in info
    assert not app.get("plotly_chart")


def test_one_run(store: RunStore, data_root: Path) -> None:
    run_id = train_run(store, data_root, name="only run")
    app = start_app("compare")
    assert app.multiselect(key="compare_runs").value == [run_id]
    loss = figure_titled(app, "Training loss (smoothed)")
    assert [trace["name"] for trace in loss["data"]] == ["only run"]
    assert len(loss["data"][0]["y"]) == 20 and all(math.isfinite(v) for v in loss["data"][0]["y"])
    table = app.dataframe[0].value
    assert list(table["run"]) == ["only run"] and "optimizer" not in table.columns  # nothing differs
    assert "One run: choose two or more to see which settings differ." in texts(app, "caption")


def test_three_runs_overlaid_with_their_differences(store: RunStore, data_root: Path, downloads) -> None:
    ids = [train_run(store, data_root, QUICK.replace(optimizer=opt, lr=lr), name=f"{opt} run")
           for opt, lr in (("sgd", 0.1), ("momentum", 0.01), ("adam", 0.001))]
    app = start_app("compare")
    assert app.multiselect(key="compare_runs").value == ids[::-1]  # the most recent first

    loss = figure_titled(app, "Training loss (smoothed)")
    assert [t["name"] for t in loss["data"]] == ["adam run", "momentum run", "sgd run"]
    assert len({t["line"]["color"] for t in loss["data"]}) == 3  # one colour per run
    assert loss["layout"]["xaxis"]["title"]["text"] == "iteration (mini-batch updates)"
    assert all(t["x"] == list(range(1, 21)) for t in loss["data"])
    accuracy = figure_titled(app, "Validation accuracy per epoch")
    assert all(len(t["y"]) == 1 and 0 < t["y"][0] <= 100 for t in accuracy["data"])

    table = app.dataframe[0].value
    assert list(table.columns[:4]) == ["run", "id", "optimizer", "lr"]  # only what differs, then metrics
    assert "batch_size" not in table.columns and "test accuracy (%)" in table.columns
    assert list(table["optimizer"]) == ["adam", "momentum", "sgd"]
    csv = pd.read_csv(io.BytesIO(_csv_bytes(app, downloads)))
    assert len(csv) == 3 and list(csv["run"]) == ["adam run", "momentum run", "sgd run"]

    app.radio(key="compare_x_axis").set_value("seconds").run()
    seconds = figure_titled(app, "Training loss (smoothed)")
    assert seconds["layout"]["xaxis"]["title"]["text"] == "wall-clock time (s)"
    for trace in seconds["data"]:
        assert all(b >= a for a, b in zip(trace["x"], trace["x"][1:], strict=False)) and 0 < trace["x"][-1] < 60
    app.radio(key="compare_x_axis").set_value("samples").run()
    samples = figure_titled(app, "Training loss (smoothed)")
    assert samples["data"][0]["x"][-1] == 2000  # the whole (limited) training set, once


def _csv_bytes(app, downloads) -> bytes:
    return downloads(app.get("download_button")[0])


def test_optimizer_race_runs_from_the_same_start(store: RunStore) -> None:
    app = start_app("compare", query=EN)
    app.selectbox(key="compare_race_preset").set_value("softmax-adam")
    app.number_input(key="compare_race_epochs").set_value(1)
    app.multiselect(key="compare_race_optimizers").set_value(["sgd", "adam"])
    app.toggle(key="compare_race_same_lr").set_value(True).run()  # one rate for all: only the optimizer differs
    assert [n.label for n in app.number_input] == ["Epochs", "Learning rate"]
    button(app, "Start the race").click().run()
    assert not app.exception
    assert "The race is on: 2 runs with the same seed and the same initial weights." in texts(app, "success")
    assert "Learning rates: sgd 0.001, adam 0.001." in texts(app, "caption")
    racers = sorted(app.multiselect(key="compare_runs").value)
    assert len(racers) == 2
    wait_until_finished(store, racers)
    records = [store.get(i) for i in racers]
    assert {r.config.optimizer for r in records} == {"sgd", "adam"} and len({r.group_id for r in records}) == 1
    assert records[0].config.replace(optimizer="adam") == records[1].config.replace(optimizer="adam")
    app.run()
    loss = figure_titled(app, "Training loss (smoothed)")
    assert {t["name"] for t in loss["data"]} == {"race · sgd", "race · adam"}
    first = [store.losses(i).losses[0] for i in racers]
    assert first[0] == pytest.approx(first[1], rel=1e-6)  # same weights, same first batch: same first loss


def test_race_needs_two_optimizers(store: RunStore) -> None:
    app = start_app("compare")
    app.multiselect(key="compare_race_optimizers").set_value(["adam"]).run()
    assert button(app, "Start the race").disabled


def test_rename_and_delete_with_confirmation(store: RunStore, data_root: Path) -> None:
    query, me = student("compare-test-student-token-00000001")  # only a run's owner may rename or delete it
    keep = train_run(store, data_root, name="keep me", owner=me)
    doomed = train_run(store, data_root, name="delete me", owner=me)
    app = start_app("compare", query)
    app.selectbox(key="compare_manage_run").set_value(keep)
    app.text_input(key="compare_new_name").set_value("  my   best run ")
    button(app, "Rename").click().run()
    assert store.get(keep).name == "my best run"
    assert f"Run #{keep} is now called “my best run”." in texts(app, "success")

    app.text_input(key="compare_new_name").set_value("   ")
    button(app, "Rename").click().run()
    assert any(e.startswith("Could not rename: A run name cannot be empty") for e in texts(app, "error"))

    app.selectbox(key="compare_manage_run").set_value(doomed)
    button(app, "Delete run…").click().run()
    assert any("Delete **delete me**" in w for w in texts(app, "warning"))
    button(app, "Cancel").click().run()
    assert store.get(doomed).name == "delete me" and not texts(app, "warning")

    button(app, "Delete run…").click().run()
    button(app, "Yes, delete").click().run()
    assert not app.exception
    assert [r.id for r in store.list_runs()] == [keep]
    assert not store.weights_path(doomed).exists()
    assert f"Run #{doomed} deleted." in texts(app, "success")
    assert app.multiselect(key="compare_runs").value == [keep]


def test_each_racer_starts_from_its_own_learning_rate(store: RunStore) -> None:
    app = start_app("compare", query=EN)
    # Shown and editable: one box per chosen optimizer, at that optimizer's sensible rate.
    assert not app.toggle(key="compare_race_same_lr").value
    rates = {n.label: n.value for n in app.number_input if n.label.endswith(" learning rate")}
    assert rates == {"sgd learning rate": 0.1, "momentum learning rate": 0.01, "rmsprop learning rate": 0.001,
                     "adam learning rate": 0.001}
    app.selectbox(key="compare_race_preset").set_value("softmax-adam")
    app.number_input(key="compare_race_epochs").set_value(1)
    app.multiselect(key="compare_race_optimizers").set_value(["sgd", "momentum", "adam"]).run()
    app.number_input(key="compare_race_lr_momentum").set_value(0.05)
    button(app, "Start the race").click().run()
    assert "Learning rates: sgd 0.1, momentum 0.05, adam 0.001." in texts(app, "caption")
    racers = app.multiselect(key="compare_runs").value
    records = {store.get(i).config.optimizer: store.get(i) for i in racers}
    assert {o: r.config.lr for o, r in records.items()} == {"sgd": 0.1, "momentum": 0.05, "adam": 0.001}
    assert len({r.config.replace(optimizer="adam", lr=1.0) for r in records.values()}) == 1  # nothing else differs
    for run_id in racers:
        resources_stop(run_id)
    wait_until_finished(store, racers)


def resources_stop(run_id: int) -> None:
    from app import resources

    resources.jobs().stop(run_id)


def test_csv_has_every_setting_of_every_run_and_a_bom(store: RunStore, data_root: Path, downloads) -> None:
    ids = [train_run(store, data_root, QUICK.replace(optimizer=opt), name=name)
           for opt, name in (("sgd", "첫 번째 실행"), ("adam", "두 번째 실행"))]
    app = start_app("compare", query=EN)
    raw = _csv_bytes(app, downloads)
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel on a Korean Windows reads the names right
    csv = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig")
    assert list(csv["run"]) == ["두 번째 실행", "첫 번째 실행"] and list(csv["id"]) == ids[::-1]
    from dataclasses import fields

    from mnist_core.config import TrainConfig

    assert {f.name for f in fields(TrainConfig)} <= set(csv.columns)  # the same in both runs, yet listed
    assert list(csv["batch_size"]) == [100, 100] and list(csv["hidden"].astype(str)) == ["32", "32"]
    assert list(csv["optimizer"]) == ["adam", "sgd"] and "test accuracy (%)" in csv.columns
    assert "batch_size" not in app.dataframe[0].value.columns  # the table on screen still shows only differences


def test_enter_in_new_name_renames(store: RunStore, data_root: Path) -> None:
    query, me = student("compare-enter-student-token-00000002")
    run_id = train_run(store, data_root, name="old name", owner=me)  # only its owner may rename it
    app = start_app("compare", query=query)
    name_box = app.text_input(key="compare_new_name")
    # In a form with the Rename button: the browser submits the form on Enter (tested in a real browser too).
    assert name_box.form_id == "rename_form"
    assert [b.form_id for b in app.button if b.label == "Rename"] == ["rename_form"]
    name_box.set_value("new name")
    button(app, "Rename").click().run()
    assert store.get(run_id).name == "new name"
