"""AppTest of the Draw page: genuine MNIST digits fed through the canvas's session-state value, an empty
canvas, marks that are not digits, Clear and Undo, uploads good and bad, several models asked at once, and a look
inside the network."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from mnist_core.config import TrainConfig
from mnist_core.runs.store import RunStore

import hand_drawn
from app_harness import (
    button,
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
    for image, label in zip(images, labels, strict=False):
        draw(app, canvas_rgba(image))
        assert not app.exception and not app.error
        assert metric(app, "Prediction") == str(label)
        confidence = next(m.proto.delta for m in app.metric if m.label == "Prediction")
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
    assert error == ("Could not read the uploaded file: digit\\.png is not an image. Upload a photo of a digit saved "
                     "as PNG or JPEG.")
    assert not [m for m in app.metric if m.label == "Prediction"]


def test_a_text_file_is_accepted_by_the_uploader_and_refused_in_words(runs_root: Path) -> None:
    """The uploader's own type filter says why only on hover; it takes any file and the page says why on screen."""
    app = start_app("draw")
    uploader = app.file_uploader(key="upload_draw")
    assert not list(uploader.proto.type)  # no filter: the browser hands over notes.txt too
    uploader.set_value(("notes.txt", b"my lecture notes\n", "text/plain")).run()
    (error,) = texts(app, "error")
    assert error.startswith("Could not read the uploaded file: notes\\.txt is not an image.")
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buffer, format="GIF")  # an image the page does not read
    app.file_uploader(key="upload_draw").set_value(("anim.gif", buffer.getvalue(), "image/gif")).run()
    assert texts(app, "error") == [("Could not read the uploaded file: anim\\.gif is a GIF image. Upload a PNG or JPEG "
                                   "instead.")]


def test_uploaded_photo_of_paper_is_read(runs_root: Path) -> None:
    images, labels = mnist_test_digits(2)
    paper = 235 - (canvas_rgba(images[1])[..., :3].astype(np.int16) * 200 // 255)  # dark ink on light paper
    app = start_app("draw")
    app.file_uploader(key="upload_draw").set_value(("photo.png", png_bytes(paper.astype(np.uint8)), "image/png"))
    app.run()
    assert not app.error
    assert metric(app, "Prediction") == str(labels[1])
    assert any("Reading the uploaded image **photo\\.png**" in c for c in texts(app, "caption"))


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
    confidence = next(m.proto.delta for m in app.metric if m.label == "Prediction")
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
    # Short labels (name and test accuracy), so a phone's dropdown does not cut them off; details in a caption.
    assert options[0].startswith("Built-in LeNet (MNIST) · ") and options[0].endswith("%")
    assert options[1].startswith("quick mlp · ") and options[1].endswith("%")
    assert max(len(option) for option in options) <= 32
    assert any(c.startswith("CNN with 16 and 32 convolution channels, trained on MNIST with adam for 15 epochs")
               for c in texts(app, "caption"))
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


# -- honest answers -----------------------------------------------------------------------------------------


def prediction_metric(app):
    return [m for m in app.metric if m.label == "Prediction"]


def test_a_dot_is_too_small_to_read(runs_root: Path) -> None:
    app = start_app("draw")
    draw(app, hand_drawn.render(hand_drawn.DOT))
    assert not app.exception and not prediction_metric(app)  # no digit at all, not "0, 100% confident"
    assert any(w.startswith("Too small to read") for w in texts(app, "warning"))


def test_letters_and_scribbles_are_not_shown_as_confident_digits(runs_root: Path) -> None:
    app = start_app("draw")
    for strokes in (hand_drawn.LETTER_A, hand_drawn.SCRIBBLE):
        draw(app, hand_drawn.render(strokes))
        (shown,) = prediction_metric(app)
        assert shown.value == "?" and shown.proto.delta.startswith("best guess ")
        assert any(w.startswith("This does not look like the digits the model learned from") and "only a guess" in w
                   for w in texts(app, "warning"))
    images, labels = mnist_test_digits(1)
    draw(app, canvas_rgba(images[0]))  # a genuine digit after them: a plain, confident answer again
    assert metric(app, "Prediction") == str(labels[0]) and not texts(app, "warning")
    assert any(c.startswith("Calibrated probabilities: the network's outputs are divided by a temperature of 2.12")
               for c in texts(app, "caption"))


def test_hair_thin_strokes_are_too_thin_to_read(runs_root: Path) -> None:
    app = start_app("draw")
    draw(app, hand_drawn.render(hand_drawn.HAIRLINE_ONE, pen=5))
    assert not prediction_metric(app)
    assert any(w.startswith("Too thin to read") for w in texts(app, "warning"))


# -- Clear and Undo --------------------------------------------------------------------------------------------


def canvas_with_strokes(pixels: np.ndarray, count: int) -> dict:
    value = canvas_value(pixels)
    value["drawing"]["raw"]["objects"] = [{"type": "path", "stroke": "#FFFFFF", "n": n} for n in range(count)]
    return value


def test_clear_and_undo_are_buttons_outside_the_canvas(runs_root: Path) -> None:
    images, labels = mnist_test_digits(1)
    app = start_app("draw")
    assert button(app, "Clear").disabled and button(app, "Undo").disabled  # nothing drawn yet
    app.session_state["canvas_draw"] = canvas_with_strokes(canvas_rgba(images[0]), 3)
    app.run()
    assert metric(app, "Prediction") == str(labels[0])
    button(app, "Undo").click().run()
    # The canvas is reloaded with all strokes but the last; until it sends its redrawn picture, the old one is
    # not read.
    reload = app.session_state["draw_initial_drawing"]
    assert [o["n"] for o in reload["objects"]] == [0, 1] and reload["revision"] == 1
    assert not prediction_metric(app)
    app.session_state["canvas_draw"] = canvas_with_strokes(canvas_rgba(images[0], scale=7), 2)  # what it sends
    app.run()
    assert metric(app, "Prediction") == str(labels[0])
    button(app, "Clear").click().run()
    assert app.session_state["draw_initial_drawing"] == {"objects": [], "revision": 2}
    assert EMPTY_HINT in texts(app, "info") and not prediction_metric(app)
    button(app, "Clear").click().run()  # a second Clear must reload the canvas too: a new revision
    assert app.session_state["draw_initial_drawing"]["revision"] == 3


# -- looking inside ----------------------------------------------------------------------------------------


def test_look_inside_a_cnn_shows_its_filters_and_feature_maps(runs_root: Path) -> None:
    images, _ = mnist_test_digits(1)
    app = start_app("draw")
    inside = [e for e in app.expander if e.label == "Look inside the network"]
    assert inside and not any("First layer" in m for m in texts(app, "markdown"))  # drawn only once opened
    app.session_state["draw_look_inside"] = True  # the student opens it
    app.run()
    assert any("First layer: 16 of the 16 5×5 filters" in m for m in texts(app, "markdown"))
    draw(app, canvas_rgba(images[0]))
    notes = texts(app, "markdown")
    assert any("Convolution block 1: 16 feature maps of 14×14" in m for m in notes)
    assert any("Convolution block 2: 32 feature maps of 7×7" in m for m in notes)
    captions = [c for image in app.image for c in image.captions]
    assert captions.count("#32") == 1 and captions.count("#16") == 3  # 16 filters, 16 and 32 maps


def test_look_inside_an_mlp_shows_what_each_hidden_unit_looks_for(runs_root: Path, data_root: Path) -> None:
    store = RunStore(runs_root)
    run_id = train_run(store, data_root, TrainConfig(hidden=(24,), epochs=1, train_limit=2000, val_size=500),
                       name="small mlp")
    images, _ = mnist_test_digits(1)
    app = start_app("draw")
    app.session_state["draw_look_inside"] = True
    app.selectbox(key="draw_model").set_value(run_id).run()
    assert any("First hidden layer: 16 of its 24 units" in m for m in texts(app, "markdown"))
    draw(app, canvas_rgba(images[0]))
    captions = [c for image in app.image for c in image.captions]
    units = [c for c in captions if c.startswith("#") and ": " in c]  # "#3: 1.7": unit 3 fires 1.7 for it
    assert len(units) == 16
    assert any(c.startswith("The number under each unit is its output") for c in texts(app, "caption"))


def test_the_draw_page_speaks_korean(runs_root: Path) -> None:
    app = start_app("draw", {"lang": "ko"})
    draw(app, hand_drawn.render(hand_drawn.DOT))
    assert any(w.startswith("너무 작아서 읽을 수 없습니다") for w in texts(app, "warning"))
    assert [b.label for b in app.button if b.key in ("draw_clear", "draw_undo")] == ["지우기", "되돌리기"]
