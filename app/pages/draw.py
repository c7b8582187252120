"""Draw: write a digit (or upload a photo of one) and see the softmax probabilities of a trained model."""

from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from app import charts, resources
from app.run_views import model_label, upscale
from mnist_core.image_files import ImageFileError, read_image_file
from mnist_core.predict import predict, preprocess_for
from mnist_core.preprocess import Drawing
from mnist_core.store import RunNotFound
from mnist_core.weights import LoadedModel, WeightsError

DEFAULT = "default"  # the built-in model's key in the pickers; runs are keyed by their id
CANVAS_SIZE = 280
LOW_CONFIDENCE = 0.5
KEEP = "session"  # widget values survive a visit to another page (persist_state)
EMPTY_HINT = ("Nothing drawn yet: draw a digit in the black box, big and centred, and lift the mouse "
              "(or upload a photo below).")


def model_options() -> dict[object, str]:
    """The built-in model plus every run that has trained weights, newest first."""
    try:
        builtin = resources.default_model()
        options: dict[object, str] = {DEFAULT: model_label(builtin.label, builtin.config,
                                                           resources.default_model_accuracy())}
    except WeightsError:
        options = {DEFAULT: "Built-in LeNet (file missing)"}
    store = resources.store()
    for record in store.list_runs(statuses=("completed", "stopped")):
        if store.has_weights(record.id):
            options[record.id] = model_label(record.name, record.config, record.test_accuracy)
    return options


def load(choice: object) -> LoadedModel:
    return resources.default_model() if choice == DEFAULT else resources.run_model(int(choice))


def read(loaded: LoadedModel, pixels: np.ndarray) -> Drawing:
    # Not predict_image: the page also shows the 28x28 image the model reads.
    return preprocess_for(loaded, pixels)


options = model_options()
# Runs may have been deleted meanwhile (by any browser session): drop them before the widgets are drawn.
if st.session_state.get("draw_model") not in options:
    st.session_state["draw_model"] = DEFAULT
st.session_state["draw_ask_models"] = [c for c in st.session_state.get("draw_ask_models", list(options)[:2])
                                       if c in options]
st.session_state.setdefault("draw_stroke", 22)

st.title("Draw a digit")
pad, result = st.columns([1, 1.4], gap="large")
with pad:
    choice = st.selectbox("Model", list(options), key="draw_model", persist_state=KEEP, format_func=options.get)
    st.space("small")  # room for the canvas's toolbar, which floats above its top edge
    canvas = st_canvas(stroke_width=st.session_state["draw_stroke"], stroke_color="#FFFFFF",
                       background_color="#000000", width=CANVAS_SIZE, height=CANVAS_SIZE, drawing_mode="freedraw",
                       return_image_data=True, key="canvas_draw")
    st.caption("Draw one digit. The canvas toolbar's bin icon clears it; ↶ undoes a stroke.")
    st.slider("Stroke width", min_value=5, max_value=50, key="draw_stroke", persist_state=KEEP,
              help="MNIST digits are written with a thick pen: about a tenth of the digit's height.")
    upload = st.file_uploader("…or upload a photo of a digit (PNG or JPEG)", type=["png", "jpg", "jpeg"],
                              key="upload_draw")

pixels: np.ndarray | None = None
with result:
    if upload is not None:
        try:
            pixels = read_image_file(upload.getvalue(), upload.name)
            st.caption(f"Reading the uploaded image **{upload.name}**; remove it to read your drawing again.")
        except ImageFileError as exc:
            st.error(f"Could not read the uploaded file: {exc}")
    elif canvas.image_data is not None:
        pixels = np.asarray(canvas.image_data)[:, :, :3]  # RGB: the canvas's alpha says nothing about the ink
    try:
        loaded = load(choice)
    except (WeightsError, RunNotFound) as exc:
        st.error(f"This model cannot be used: {exc}")
        st.stop()
    drawing = read(loaded, pixels) if pixels is not None else None
    if drawing is None or drawing.empty:
        if upload is None or pixels is not None:
            st.info(EMPTY_HINT)
    else:
        prediction = predict(loaded, drawing)
        guess, seen = st.columns([2, 1])
        guess.metric("Prediction", prediction.label, f"{prediction.confidence:.0%} confident",
                     delta_color="off", delta_arrow="off")
        seen.image(upscale(drawing.image, 4), caption="What the model sees (28×28)")
        if prediction.confidence < LOW_CONFIDENCE:
            st.warning(f"Low confidence: only {prediction.confidence:.0%} for its best guess. Try writing the "
                       "digit bigger, centred, with a thicker stroke.")
        if loaded.config.dataset == "fashion":
            st.caption("This model learned Fashion-MNIST: it sees every drawing as a piece of clothing.")
        st.plotly_chart(charts.probability_figure(prediction.probabilities, loaded.class_names),
                        key="draw_probabilities")

st.subheader("Ask several models")
asked = st.multiselect("Models to ask", list(options), key="draw_ask_models", persist_state=KEEP,
                       format_func=options.get, help="The same drawing, scored by each model side by side.")
if len(asked) < 2:
    st.caption("Pick two or more models to compare their answers.")
elif pixels is None or drawing is None or drawing.empty:
    st.caption("Draw a digit first: each model's answer appears here.")
else:
    for column, other in zip(st.columns(len(asked)), asked):
        with column:
            try:
                model = load(other)
            except (WeightsError, RunNotFound) as exc:
                st.error(f"{options[other]} cannot be used: {exc}")
                continue
            answer = predict(model, read(model, pixels))
            st.metric(options[other].split(" — ")[0], answer.label, f"{answer.confidence:.0%} confident",
                      delta_color="off", delta_arrow="off")
            st.plotly_chart(charts.probability_figure(answer.probabilities, model.class_names, title="", height=260),
                            key=f"draw_ask_{other}")
