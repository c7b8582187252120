"""AppTest of the Draw page: genuine MNIST digits fed through the canvas's session-state value, an empty
canvas, uploads good and bad, and several models asked at once."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnist_core.config import TrainConfig
from mnist_core.store import RunStore

from app_harness import (
    canvas_rgba,
    canvas_value,
    figure_titled,
    metric,
    mnist_test_digits,
    png_bytes,
    start_app,
    texts,
    train_run,
)

EMPTY_HINT = ("Nothing drawn yet: draw a digit in the black box, big and centred, and lift the mouse "
              "(or upload a photo below).")


def draw(app, pixels: np.ndarray | None):
    app.session_state["canvas_draw"] = canvas_value(pixels)
    return app.run()


def test_empty_canvas_gives_a_hint_not_a_guess(runs_root: Path) -> None:
    app = start_app("draw")
    assert EMPTY_HINT in texts(app, "info")
    assert not [m for m in app.metric if m.label == "Prediction"]
    blank = np.zeros((280, 280, 4), np.uint8)
    blank[..., 3] = 255
    draw(app, blank)  # strokes undone: an all-black canvas
    assert EMPTY_HINT in texts(app, "info") and not app.metric and not app.exception


def test_genuine_test_digits_are_read_right(runs_root: Path) -> None:
    images, labels = mnist_test_digits(6)
    app = start_app("draw")
    for image, label in zip(images, labels):
        draw(app, canvas_rgba(image))
        assert not app.exception and not app.error
        assert metric(app, "Prediction") == str(label)
        confidence = [m.proto.delta for m in app.metric if m.label == "Prediction"][0]
        assert confidence.endswith("% confident") and int(confidence.split("%")[0]) >= 50
        chart = figure_titled(app, "Softmax probabilities")
        probabilities = chart["data"][0]["y"]
        assert chart["data"][0]["x"] == [str(d) for d in range(10)]
        assert int(np.argmax(probabilities)) == label and abs(sum(probabilities) - 100) < 1e-3
        colours = chart["data"][0]["marker"]["color"]
        assert len(set(colours)) == 2 and colours.count(colours[label]) == 1  # the argmax stands out
        assert "What the model sees (28×28)" in [c for image in app.image for c in image.captions]


def test_small_off_centre_digit_still_read(runs_root: Path) -> None:
    images, labels = mnist_test_digits(3)
    app = start_app("draw")
    draw(app, canvas_rgba(images[2], scale=4, top=150, left=10))  # 112 px, bottom-left
    assert metric(app, "Prediction") == str(labels[2])


def test_bad_upload_gets_a_clear_message(runs_root: Path) -> None:
    app = start_app("draw")
    app.file_uploader(key="upload_draw").set_value(("digit.png", b"this is not an image at all", "image/png")).run()
    assert not app.exception
    (error,) = texts(app, "error")
    assert error.startswith("Could not read the uploaded file: digit.png is not a PNG or JPEG image")
    assert not [m for m in app.metric if m.label == "Prediction"]


def test_uploaded_photo_of_paper_is_read(runs_root: Path) -> None:
    images, labels = mnist_test_digits(2)
    paper = 235 - (canvas_rgba(images[1])[..., :3].astype(np.int16) * 200 // 255)  # dark ink on light paper
    app = start_app("draw")
    app.file_uploader(key="upload_draw").set_value(("photo.png", png_bytes(paper.astype(np.uint8)), "image/png"))
    app.run()
    assert not app.error
    assert metric(app, "Prediction") == str(labels[1])
    assert any("Reading the uploaded image **photo.png**" in c for c in texts(app, "caption"))


def test_low_confidence_is_said(runs_root: Path) -> None:
    """An untrained network spreads its probability over all ten classes: the page must say it is unsure."""
    from mnist_core.models import build_model

    store = RunStore(runs_root)
    config = TrainConfig(hidden=(16,), epochs=1)
    run_id = store.create_run(config, name="untrained")
    store.save_weights(run_id, build_model(config), config, mean=0.1307, std=0.3081)
    store.set_status(run_id, "stopped")
    images, _ = mnist_test_digits(1)
    app = start_app("draw")
    app.selectbox(key="draw_model").set_value(run_id).run()
    draw(app, canvas_rgba(images[0]))
    confidence = [m.proto.delta for m in app.metric if m.label == "Prediction"][0]
    assert int(confidence.split("%")[0]) < 50
    assert any(w.startswith(f"Low confidence: only {confidence.split()[0]} for its best guess")
               for w in texts(app, "warning"))
    app.selectbox(key="draw_model").set_value("default").run()
    assert not texts(app, "warning")  # the trained model is sure of the same digit


def test_ask_several_models_side_by_side(runs_root: Path, data_root: Path) -> None:
    store = RunStore(runs_root)
    run_id = train_run(store, data_root, TrainConfig(hidden=(64,), epochs=1, val_size=0), name="quick mlp")
    images, labels = mnist_test_digits(1)
    app = start_app("draw")
    options = app.selectbox(key="draw_model").options
    assert options[0].startswith("Built-in LeNet (MNIST) — MNIST, lenet/adam, ")
    assert options[1].startswith("quick mlp — MNIST, mlp/adam, ") and options[1].endswith("% test")
    assert app.multiselect(key="draw_ask_models").value == ["default", run_id]
    draw(app, canvas_rgba(images[0]))
    labels_shown = [(m.label, m.value) for m in app.metric]
    assert labels_shown == [("Prediction", str(labels[0])), ("Built-in LeNet (MNIST)", str(labels[0])),
                            ("quick mlp", str(labels[0]))]
    app.selectbox(key="draw_model").set_value(run_id).run()
    assert metric(app, "Prediction") == str(labels[0])


def test_fashion_model_speaks_in_class_names(runs_root: Path, data_root: Path) -> None:
    store = RunStore(runs_root)
    run_id = train_run(store, data_root, TrainConfig(dataset="fashion", hidden=(32,), epochs=1, train_limit=5000,
                                                     val_size=0))
    images, _ = mnist_test_digits(1)
    app = start_app("draw")
    app.selectbox(key="draw_model").set_value(run_id).run()
    draw(app, canvas_rgba(images[0]))
    chart = figure_titled(app, "Softmax probabilities")
    assert chart["data"][0]["x"][-1] == "Ankle boot"
    assert metric(app, "Prediction") in chart["data"][0]["x"]
    assert any("Fashion-MNIST" in c for c in texts(app, "caption"))
