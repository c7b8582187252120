"""AppTest: every page renders; the home page and sidebar; the Train page from form to finished run."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from mnist_core.store import RunStore

from app_harness import button, figure_titled, metric, start_app, texts, wait_until_finished

PAGES = {"home": "MNIST Playground", "train": "Train a network", "draw": "Draw a digit", "compare": "Compare runs"}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_sidebar(runs_root: Path, page: str) -> None:
    app = start_app(None if page == "home" else page)
    assert [t.value for t in app.title] == [PAGES[page]]
    sidebar = " ".join(m.value for m in app.sidebar.markdown)
    assert "**MNIST** ready" in sidebar and "**Fashion-MNIST** ready" in sidebar
    assert "Training on **CPU**" in sidebar
    assert "Nothing training right now." in [c.value for c in app.sidebar.caption]
    assert not app.error


def test_home_shows_real_labelled_samples(runs_root: Path, mnist) -> None:
    app = start_app()
    captions = [c for image in app.image for c in image.captions]
    assert len(captions) == 20 and set(captions) <= set("0123456789")
    assert len(set(captions)) >= 5  # random test digits, not one repeated image
    app.radio(key="home_dataset").set_value("fashion").run()
    captions = [c for image in app.image for c in image.captions]
    assert len(captions) == 20 and set(captions) <= set(mnist_fashion_names()) and len(set(captions)) >= 4


def mnist_fashion_names() -> tuple[str, ...]:
    from mnist_core.data import DATASET_INFO

    return DATASET_INFO["fashion"].class_names


def test_pages_explain_a_missing_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_PLAYGROUND_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("MNIST_PLAYGROUND_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_PLAYGROUND_MIRROR", "http://127.0.0.1:9")  # nothing listens: fails at once
    app = start_app()
    warning = " ".join(texts(app, "warning"))
    assert "MNIST is not available" in warning and "python -m mnist_core data import" in warning
    sidebar = " ".join(m.value for m in app.sidebar.markdown)
    assert "**MNIST** not downloaded yet" in sidebar
    assert any("python -m mnist_core data import DIR" in m.value for m in app.sidebar.expander[0].markdown)
    for page in ("draw", "compare", "train"):
        app.switch_page(f"app/pages/{page}.py").run()
        assert not app.exception and [t.value for t in app.title] == [PAGES[page]]
    button(app, "Start training").click().run()  # the run fails in the background, with the fix in its message
    store = RunStore(tmp_path / "runs")
    (record,) = store.list_runs()
    wait_until_finished(store, [record.id])
    app.run()
    assert store.get(record.id).status == "failed"
    assert any(e.startswith("This run failed: MNIST is not available") for e in texts(app, "error"))
    fix = "MNIST is not on this machine yet: the sidebar's “How to get MNIST” says how to get it"
    assert fix + "; then start the run again." in texts(app, "info")


def test_train_form_explains_the_settings(runs_root: Path) -> None:
    app = start_app("train")
    preview = " ".join(texts(app, "markdown"))
    assert "55,000 / 100 = 550 iterations per epoch" in preview
    assert "550 × 15 epochs = 8,250 iterations in total" in preview
    assert metric(app, "Parameters") == "269,322"  # 784*256+256 + 256*256+256 + 256*10+10
    layers = app.dataframe[0].value
    assert list(layers["parameters"]) == [0, 200_960, 0, 65_792, 0, 2_570]

    app.number_input(key="train_val_size").set_value(0)
    button(app, "Update preview").click().run()
    assert "This is the course's number: 60,000 / 100 = 600 iterations per epoch." in " ".join(texts(app, "markdown"))

    app.selectbox(key="train_preset").set_value("lenet").run()
    assert app.text_input(key="train_hidden").value == "128"
    assert app.selectbox(key="train_model").value == "cnn"
    assert int(metric(app, "Parameters").replace(",", "")) > 100_000
    assert [row for row in app.dataframe[0].value["layer"]][0] == "0: Conv2d"


def test_train_form_lists_every_bad_field(runs_root: Path) -> None:
    app = start_app("train")
    app.number_input(key="train_batch_size").set_value(100_000)
    app.text_input(key="train_hidden").set_value("256, lots")
    app.number_input(key="train_lr").set_value(0.0)
    button(app, "Start training").click().run()
    assert not app.exception
    (message,) = texts(app, "error")
    assert "Batch size: 100000 is not allowed — use 1 to 55000" in message
    assert "Hidden layers: “256, lots” is not allowed" in message
    assert "Learning rate: 0 is not allowed — use greater than 0, at most 10." in message
    assert RunStore(runs_root).list_runs() == []  # nothing was started


def test_train_a_run_and_see_its_results(runs_root: Path) -> None:
    app = start_app("train")
    assert "No runs yet: choose settings above and press **Start training**." in texts(app, "info")
    app.text_input(key="train_hidden").set_value("32")
    app.number_input(key="train_epochs").set_value(2)
    app.number_input(key="train_train_limit").set_value(2000)
    app.number_input(key="train_val_size").set_value(500)
    app.text_input(key="train_name").set_value("tiny test run")
    button(app, "Start training").click().run()
    assert not app.exception and not app.error

    store = RunStore(runs_root)
    (record,) = store.list_runs()
    assert record.name == "tiny test run" and record.config.hidden == (32,) and record.config.epochs == 2
    assert app.session_state["train_selected_run"] == record.id
    assert app.text_input(key="train_name").value == ""  # ready for the next run
    assert f"Run #{record.id} started: watch it below" in [t.value for t in app.toast]
    wait_until_finished(store, [record.id])
    app.run()
    assert not app.exception and not app.error

    accuracy = float(metric(app, "Test accuracy").rstrip("%"))
    assert 50 < accuracy <= 100  # 2 epochs on 2,000 images: clearly learned
    assert math.isclose(accuracy / 100, store.get(record.id).test_accuracy, abs_tol=1e-4)
    assert 0 < float(metric(app, "Test loss")) < 2.3  # below chance level (ln 10 = 2.30)

    loss = figure_titled(app, "Training loss per iteration")
    raw = loss["data"][0]["y"]
    assert len(raw) == 40 and all(math.isfinite(v) for v in raw)  # 2,000 / 100 = 20 iterations × 2 epochs
    assert loss["layout"]["yaxis"]["title"]["text"] == "cross-entropy loss (nats)"
    assert sum(raw[-5:]) < sum(raw[:5])  # it learned
    accuracy_chart = figure_titled(app, "Accuracy per epoch")
    assert [trace["name"] for trace in accuracy_chart["data"]] == ["train", "validation"]
    assert all(0 < v <= 100 for trace in accuracy_chart["data"] for v in trace["y"])
    confusion = figure_titled(app, "Confusion matrix (test set, 10,000 images)")
    assert sum(map(sum, confusion["data"][0]["z"])) == 10_000
    per_class = figure_titled(app, "Accuracy per class (test set)")
    assert len(per_class["data"][0]["y"]) == 10

    wrong = [c.split(" → ") for image in app.image for c in image.captions if " → " in c]
    assert len(wrong) == 24 and all(truth != guess for truth, guess in wrong)
    assert any("of 10,000 test images are misclassified" in c for c in texts(app, "caption"))


def test_train_page_shows_why_a_run_failed(runs_root: Path) -> None:
    from app_harness import QUICK

    store = RunStore(runs_root)
    run_id = store.create_run(QUICK, name="doomed")
    store.fail(run_id, "DatasetUnavailable: MNIST is not available")
    app = start_app("train")
    assert app.selectbox(key="train_selected_run").value == run_id
    assert "This run failed: DatasetUnavailable: MNIST is not available" in texts(app, "error")
    assert not [m for m in app.metric if m.label == "Test accuracy"]


def test_stop_a_queued_run(runs_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run waiting in the queue shows its position and its Stop button takes it out of the queue."""
    from app_harness import QUICK

    monkeypatch.setenv("MNIST_PLAYGROUND_MAX_JOBS", "1")  # one worker, so the second run has to wait
    app = start_app("train")
    from app import resources

    manager = resources.jobs()
    assert manager.max_concurrent == 1
    blocker = manager.submit(QUICK.replace(epochs=30, train_limit=0, val_size=0))
    deadline = time.monotonic() + 30
    while manager.active() != [blocker] and time.monotonic() < deadline:
        time.sleep(0.02)  # until the worker has taken it: the next run is then first in the queue
    waiting = manager.submit(QUICK)
    try:
        app.session_state["train_selected_run"] = waiting
        app.run()
        assert any("Queued: number 1 in the queue" in t for t in texts(app, "info"))
        assert ":material/hourglass_empty: " in " ".join(c.value for c in app.sidebar.caption)
        app.button(key=f"stop_{waiting}").click().run()
    finally:
        manager.stop(blocker)
    store = RunStore(runs_root)
    wait_until_finished(store, [waiting, blocker])
    assert store.get(waiting).status == "stopped" and store.get(waiting).test_accuracy is None
    assert store.get(blocker).status == "stopped"


def test_settings_survive_a_page_change_but_stay_per_session(runs_root: Path) -> None:
    mine = start_app("train")
    mine.number_input(key="train_epochs").set_value(3)
    mine.text_input(key="train_hidden").set_value("64")
    mine.number_input(key="train_train_limit").set_value(1000)
    button(mine, "Update preview").click().run()
    mine.switch_page("app/pages/draw.py").run()
    mine.switch_page("app/pages/train.py").run()
    assert mine.number_input(key="train_epochs").value == 3
    assert mine.text_input(key="train_hidden").value == "64"
    assert "10 × 3 epochs = 30 iterations in total" in " ".join(texts(mine, "markdown"))
    button(mine, "Start training").click().run()
    (record,) = RunStore(runs_root).list_runs()

    other = start_app("train")  # another browser: its own form, but the same runs
    assert other.number_input(key="train_epochs").value == 15
    assert other.text_input(key="train_hidden").value == "256, 256"
    assert other.selectbox(key="train_selected_run").value == record.id
    wait_until_finished(RunStore(runs_root), [record.id])
