"""AppTest: every page renders; the home page and sidebar; the Train page from form to finished run."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from mnist_core.runs.failures import failure_of
from mnist_core.runs.store import RunStore

from app_harness import button, figure_titled, figures, metric, start_app, texts, wait_until_finished

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
    how_to = next(e for e in app.sidebar.expander if e.label == "How to get MNIST")  # not the identity's box
    assert any("python -m mnist_core data import DIR" in m.value for m in how_to.markdown)
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

    app.number_input(key="train_val_size").set_value(0).run()  # no "Update preview": the page follows each edit
    assert "This is the course's number: 60,000 / 100 = 600 iterations per epoch." in " ".join(texts(app, "markdown"))

    app.selectbox(key="train_preset").set_value("lenet").run()
    assert app.text_input(key="train_hidden").value == "128"
    assert app.selectbox(key="train_model").value == "cnn"
    assert int(metric(app, "Parameters").replace(",", "")) > 100_000
    assert app.dataframe[0].value["layer"].iloc[0] == "0: Conv2d"


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
    app = start_app("train", query={"lang": "en"})
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
    assert f"Run #{record.id} started: watch it below." in [t.value for t in app.toast]
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

    wrong = [c.split(" · ")[0].split(" → ") for image in app.image for c in image.captions if " → " in c]
    assert len(wrong) == 24 and all(truth != guess for truth, guess in wrong)
    assert any("of 10,000 are misclassified" in c for c in texts(app, "caption"))


def test_train_page_shows_why_a_run_failed(runs_root: Path) -> None:
    from app_harness import QUICK

    store = RunStore(runs_root)
    run_id = store.create_run(QUICK, name="doomed")
    store.fail(run_id, failure_of(RuntimeError("CUDA out of memory")))
    app = start_app("train")
    assert app.selectbox(key="train_selected_run").value == run_id
    assert "This run failed: an unexpected error in training (RuntimeError: CUDA out of memory)" in texts(app, "error")
    assert not [m for m in app.metric if m.label == "Test accuracy"]


def test_stop_a_queued_run(runs_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run waiting in the queue shows its position and its Stop button takes it out of the queue."""
    from app_harness import QUICK, student

    monkeypatch.setenv("MNIST_PLAYGROUND_MAX_JOBS", "1")  # one worker, so the second run has to wait
    query, me = student("stop-test-student-token-000000000001")  # a Stop button is offered to the run's owner
    app = start_app("train", query)
    from app import resources

    manager = resources.jobs()
    assert manager.max_concurrent == 1
    blocker = manager.submit(QUICK.replace(epochs=30, train_limit=0, val_size=0))
    deadline = time.monotonic() + 30
    while manager.active() != [blocker] and time.monotonic() < deadline:
        time.sleep(0.02)  # until the worker has taken it: the next run is then first in the queue
    waiting = manager.submit(QUICK, actor=me)
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
    mine.number_input(key="train_train_limit").set_value(1000).run()
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


# -- issue 13: what students trip over on the Train page --------------------------------------------------------


EN = {"lang": "en"}  # the language these assertions are written in (a browser saying nothing gets Korean)
NUMBER_FIELDS = ("val_size", "train_limit", "batch_size", "dropout", "lr", "weight_decay", "epochs", "seed")


def test_every_bad_value_is_worded_when_start_is_pressed(runs_root: Path) -> None:
    app = start_app("train", query=EN)
    # A min/max on a number box makes the browser refuse the value silently (a "!" on hover, Start does nothing):
    # the page must get every value and say what is wrong in words.
    assert all(app.number_input(key=f"train_{name}").min is None and app.number_input(key=f"train_{name}").max is None
               for name in NUMBER_FIELDS)
    for name, value in (("batch_size", 0), ("epochs", 0), ("lr", -1.0), ("dropout", -0.1), ("val_size", -5),
                        ("seed", -1), ("weight_decay", -0.5)):
        app.number_input(key=f"train_{name}").set_value(value)
    app.text_input(key="train_hidden").set_value("abc")
    button(app, "Start training").click().run()
    assert not app.exception
    (message,) = texts(app, "error")  # all problems at once, in one message
    assert message.startswith("Training did not start. Fix these settings first:")
    for expected in ("Epochs: 0 is not allowed — use 1 to 200.",
                     "Learning rate: -1 is not allowed — use greater than 0, at most 10.",
                     "Dropout: -0.1 is not allowed — use 0 to 0.9.",
                     "Validation images: -5 is not allowed",
                     "Seed: -1 is not allowed",
                     "Weight decay: -0.5 is not allowed",
                     "Hidden layers: “abc” is not allowed"):
        assert expected in message, (expected, message)
    assert RunStore(runs_root).list_runs() == []
    app.number_input(key="train_val_size").set_value(5000).run()  # the split valid again: batch size is checked
    assert "Batch size: 0 is not allowed — use 1 to 55000" in texts(app, "error")[0]


def test_a_preset_changes_only_the_network_and_optimizer(runs_root: Path) -> None:
    app = start_app("train", query=EN)
    app.selectbox(key="train_dataset").set_value("fashion")
    app.number_input(key="train_epochs").set_value(3)
    app.number_input(key="train_batch_size").set_value(50)
    app.number_input(key="train_seed").set_value(7)
    app.number_input(key="train_train_limit").set_value(5000)
    app.checkbox(key="train_drop_last").check()
    app.selectbox(key="train_preset").set_value("lenet").run()
    assert app.selectbox(key="train_model").value == "cnn" and app.text_input(key="train_hidden").value == "128"
    assert app.text_input(key="train_conv_channels").value == "16, 32"
    assert app.selectbox(key="train_dataset").value == "fashion"  # kept: the preset does not define the data
    assert [app.number_input(key=f"train_{n}").value for n in ("epochs", "batch_size", "seed", "train_limit")] == [
        3, 50, 7, 5000]
    assert app.checkbox(key="train_drop_last").value is True
    assert "5,000 / 50 = 100 iterations per epoch" in " ".join(texts(app, "markdown"))


def test_a_preset_survives_a_browser_that_had_not_received_it(runs_root: Path) -> None:
    # On a busy server a student picks softmax-sgd and types the epochs before the preset's values reached the
    # browser: its rerun request carries the values it still held (mlp-3's) beside the new epochs.
    app = start_app("train", query=EN)
    app.selectbox(key="train_preset").set_value("softmax-sgd").run()
    app.text_input(key="train_hidden").set_value("256, 256")
    app.selectbox(key="train_optimizer").set_value("adam")
    app.number_input(key="train_lr").set_value(0.001)
    app.number_input(key="train_epochs").set_value(5).run()
    assert app.text_input(key="train_hidden").value == ""
    assert (app.selectbox(key="train_optimizer").value, app.number_input(key="train_lr").value) == ("sgd", 0.1)
    assert app.number_input(key="train_epochs").value == 5  # the student's edit stands too
    assert app.selectbox(key="train_preset").value == "softmax-sgd"
    # Once the browser has them, every edit is the student's own.
    app.text_input(key="train_hidden").set_value("").run()
    app.text_input(key="train_hidden").set_value("256, 256").run()
    assert app.text_input(key="train_hidden").value == "256, 256"


def test_the_preview_follows_every_edit_and_start_trains_what_is_shown(runs_root: Path) -> None:
    app = start_app("train", query=EN)
    app.text_input(key="train_hidden").set_value("64").run()  # no button pressed
    assert metric(app, "Parameters") == f"{784 * 64 + 64 + 64 * 10 + 10:,}"
    assert list(app.dataframe[0].value["parameters"]) == [0, 784 * 64 + 64, 0, 64 * 10 + 10]
    app.number_input(key="train_batch_size").set_value(1000).run()
    assert "55,000 / 1,000 = 55 iterations per epoch" in " ".join(texts(app, "markdown"))
    app.number_input(key="train_epochs").set_value(1)
    app.number_input(key="train_train_limit").set_value(2000)
    button(app, "Start training").click().run()
    (record,) = RunStore(runs_root).list_runs()
    assert record.config.hidden == (64,) and record.config.batch_size == 1000 and record.config.train_limit == 2000
    wait_until_finished(RunStore(runs_root), [record.id])


def test_convolution_channels_only_for_the_cnn(runs_root: Path) -> None:
    app = start_app("train", query=EN)
    assert app.selectbox(key="train_model").value == "mlp"
    assert not [t for t in app.text_input if t.key == "train_conv_channels"]
    app.selectbox(key="train_model").set_value("cnn").run()
    app.text_input(key="train_conv_channels").set_value("8, 16").run()
    app.selectbox(key="train_model").set_value("mlp").run()
    assert not [t for t in app.text_input if t.key == "train_conv_channels"]
    app.selectbox(key="train_model").set_value("cnn").run()
    assert app.text_input(key="train_conv_channels").value == "8, 16"  # kept while hidden


def test_after_start_the_page_scrolls_to_the_run(runs_root: Path) -> None:
    app = start_app("train", query=EN)
    app.number_input(key="train_epochs").set_value(1)
    app.number_input(key="train_train_limit").set_value(1000)
    button(app, "Start training").click().run()
    scripts = [element.proto.body for element in app.get("html")]
    assert any("scrollIntoView" in body and '"run-view"' in body for body in scripts), scripts
    assert [h.proto.anchor for h in app.header if h.value == "Runs"] == ["run-view"]
    app.run()  # the next rerun does not scroll again
    assert not [e for e in app.get("html") if "scrollIntoView" in e.proto.body]
    wait_until_finished(RunStore(runs_root), [r.id for r in RunStore(runs_root).list_runs()])


def test_a_queued_run_says_so_and_stopping_it_cancels_it(runs_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app_harness import QUICK

    monkeypatch.setenv("MNIST_PLAYGROUND_MAX_JOBS", "1")  # one worker, so the student's run has to wait
    app = start_app("train", query=EN)
    from app import resources

    manager = resources.jobs()
    blocker = manager.submit(QUICK.replace(epochs=30, train_limit=0, val_size=0))
    deadline = time.monotonic() + 30
    while manager.active() != [blocker] and time.monotonic() < deadline:
        time.sleep(0.02)
    store = RunStore(runs_root)
    try:
        app.number_input(key="train_epochs").set_value(1)
        button(app, "Start training").click().run()
        waiting = app.session_state["train_selected_run"]
        assert waiting != blocker and store.get(waiting).status == "queued"
        toasts = [t.value for t in app.toast]
        queued = f"Run #{waiting} is queued: number 1 in the queue. It starts as soon as a running training finishes."
        assert toasts == [queued], toasts
        app.button(key=f"stop_{waiting}").click().run()
        app.run()
    finally:
        manager.stop(blocker)
    wait_until_finished(store, [waiting, blocker])
    assert store.get(waiting).status == "stopped"
    assert "You cancelled this run before it started: it never trained, so it has no results." in texts(app, "info")
    assert not any("You stopped this run early" in t for t in texts(app, "info"))
    assert not [m for m in app.metric if m.label == "Test accuracy"]
    assert "Misclassified test images" not in texts(app, "subheader")
    assert not [b for b in app.button if b.label == "Continue training"]


def test_a_started_run_says_started(runs_root: Path) -> None:
    app = start_app("train", query=EN)
    app.number_input(key="train_epochs").set_value(1)
    app.number_input(key="train_train_limit").set_value(1000)
    button(app, "Start training").click().run()
    (record,) = RunStore(runs_root).list_runs()
    assert [t.value for t in app.toast] == [f"Run #{record.id} started: watch it below."]
    wait_until_finished(RunStore(runs_root), [record.id])


def test_continue_training_from_a_finished_run(runs_root: Path, data_root: Path) -> None:
    from mnist_core.weights import load_optimizer_state

    from app_harness import QUICK, train_run

    store = RunStore(runs_root)
    parent = train_run(store, data_root, QUICK.replace(epochs=2), name="first two")
    assert load_optimizer_state(store.weights_path(parent))["state"]  # Adam's moments are saved with the weights
    app = start_app("train", query=EN)
    assert app.selectbox(key="train_selected_run").value == parent
    app.number_input(key=f"continue_epochs_{parent}").set_value(0)
    button(app, "Continue training").click().run()
    assert "More epochs: 0 is not allowed — use a whole number from 1 to 198." in texts(app, "error")
    assert len(store.list_runs()) == 1

    app.number_input(key=f"continue_epochs_{parent}").set_value(2)
    button(app, "Continue training").click().run()
    child = app.session_state["train_selected_run"]
    assert child != parent and app.toast[0].value.startswith(f"Run #{child} ")
    wait_until_finished(store, [child])
    app.run()
    assert not app.exception
    record = store.get(child)
    assert record.status == "completed" and record.parent_id == parent and record.name == "first two + 2 epochs"
    assert record.config == store.get(parent).config.replace(epochs=4)
    assert any(c.startswith(f"Continues run #{parent} (first two)") for c in texts(app, "caption"))
    # The curves go on where the parent's ended: QUICK is 2,000 images / 100 = 20 iterations per epoch.
    assert store.losses(parent).iterations[-1] == 40
    assert store.losses(child).iterations == list(range(41, 81))
    assert [m.epoch for m in store.epochs(child)] == [3, 4]
    loss = figure_titled(app, "Training loss per iteration")
    # The parent's curve first, in grey, ending where the child's begins.
    assert loss["data"][0]["name"] == "first two (continued)" and loss["data"][0]["x"][-1] == 40
    assert loss["data"][1]["x"][0] == 41 and loss["data"][1]["x"][-1] == 80
    assert figure_titled(app, "Accuracy per epoch")["data"][0]["x"] == [3, 4]
    assert store.get(child).test_accuracy > 0.5


# -- the finished run's test results ------------------------------------------------------------------------------


def test_per_class_accuracy_axis_starts_at_zero(runs_root: Path, data_root: Path) -> None:
    from app_harness import train_run

    train_run(RunStore(runs_root), data_root, name="tested")
    app = start_app("train", query=EN)
    per_class = figure_titled(app, "Accuracy per class (test set)")
    axis = per_class["layout"]["yaxis"]
    assert axis["range"] == [0, 100]  # not from ~86%, which made small differences look large
    assert max(axis["tickvals"]) == 100  # no "102" tick


def test_gallery_shows_confidence_and_filters_by_true_and_predicted_class(runs_root: Path, data_root: Path) -> None:
    import re

    import numpy as np

    from app_harness import mnist_test_digits, train_run

    store = RunStore(runs_root)
    run_id = train_run(store, data_root, name="tested")
    labels, predicted = mnist_test_digits(10_000)[1], np.asarray(store.test_predictions(run_id))
    confidences = store.test_confidences(run_id)  # stored with the run, 1 byte per test image
    assert confidences.shape == (10_000,) and 0.1 <= confidences.min() and confidences.max() <= 1.0
    app = start_app("train", query=EN)
    captions = [c for image in app.image for c in image.captions]
    pattern = re.compile(r"^(\d) → (\d) · (\d+)%$")  # true → predicted · confidence
    assert len(captions) == 24 and all(pattern.match(c) for c in captions), captions
    wrong = np.flatnonzero(labels != predicted)[:24]
    assert [int(pattern.match(c)[3]) for c in captions] == [round(confidences[i] * 100) for i in wrong]
    assert [f"{labels[i]} → {predicted[i]}" for i in wrong] == [c.split(" · ")[0] for c in captions]

    app.selectbox(key=f"gallery_true_{run_id}").set_value(3).run()  # the mistakes on 3s only
    captions = [c for image in app.image for c in image.captions]
    threes = int(np.count_nonzero((labels == 3) & (predicted != 3)))
    assert len(captions) == min(24, threes) and all(re.match(r"^3 → [012456789] · ", c) for c in captions)
    assert any(c.startswith(f"{threes:,} test images match") for c in texts(app, "caption"))

    # A confusion-matrix cell (what a click on it selects; the click itself is tested in the browser).
    true_class, predicted_class = 4, 9
    app.selectbox(key=f"gallery_true_{run_id}").set_value(true_class)
    app.selectbox(key=f"gallery_predicted_{run_id}").set_value(predicted_class).run()
    cell = int(np.count_nonzero((labels == true_class) & (predicted == predicted_class)))
    captions = [c for image in app.image for c in image.captions]
    assert len(captions) == min(24, cell) and all(c.startswith("4 → 9 · ") for c in captions)
    figure = figure_titled(app, "Confusion matrix (test set, 10,000 images)")
    targets = figure["data"][1]  # the clickable layer over the heatmap
    assert targets["name"] == "cells" and len(targets["x"]) == 100 and figure["layout"]["clickmode"] == "event+select"
    assert targets["customdata"][true_class * 10 + predicted_class][0] == cell


def test_a_finished_runs_charts_are_built_once_per_language(runs_root: Path, data_root: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Every student who opens an ended run sees the same charts: the server builds them once per language, not
    on each rerun of each student's page (#25)."""
    import streamlit as st

    from app import charts

    from app_harness import train_run

    train_run(RunStore(runs_root), data_root, name="tested")
    st.cache_resource.clear()
    built = []
    for name in ("loss_figure", "epoch_figure", "confusion_figure", "per_class_figure"):
        original = getattr(charts, name)
        monkeypatch.setattr(charts, name, lambda *a, _original=original, _name=name, **k: (
            built.append(_name), _original(*a, **k))[1])
    first = start_app("train", query=EN)
    assert sorted(built) == ["confusion_figure", "epoch_figure", "epoch_figure", "loss_figure", "per_class_figure"]
    first.run()
    start_app("train", query=EN)  # another student, the same language
    assert len(built) == 5
    korean = start_app("train", query={**EN, "lang": "ko"})
    assert len(built) == 10
    titles = [figure["layout"]["title"]["text"] for figure in figures(korean)]
    assert len(titles) == 5 and "Accuracy per class (test set)" not in titles, titles  # the Korean ones, built anew
