"""Draw: write a digit (or upload a photo of one) and see the softmax probabilities of a trained model."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import charts, identity, page_style, resources, teacher, view_state
from app.draw import collect
from app.draw import pad as draw_pad
from app.draw import prediction as prediction_view
from app.draw.prediction import model_details, short_model_label
from app.errors import error_text
from app.i18n import N_, _, percent
from app.run import scope as run_scope
from app.run.texts import class_name
from app.ui_settings import KEEP
from app.user_text import markdown_text
from mnist_core.cost import RunTooLarge
from mnist_core.image_files import ImageFileError
from mnist_core.predict import Prediction, predict, preprocess_for
from mnist_core.preprocess import Drawing
from mnist_core.runs.record import RunRecord
from mnist_core.runs.store import RunNotFound
from mnist_core.weights import LoadedModel, WeightsError

FINISHED = ("completed", "stopped")  # runs with weights to draw with
DEFAULT = "default"  # the built-in model's key in the pickers; runs are keyed by their id
EMPTY_HINT = N_("Nothing drawn yet: draw a digit in the black box, big and centred, and lift the mouse "
                "(or upload a photo below).")
# The same hint for a finger; the browser shows one of the two (app/page_style.py: touch_ and mouse_ keys).
EMPTY_HINT_TOUCH = N_("Nothing drawn yet: draw a digit in the black box with your finger, big and centred, and "
                      "lift your finger (or upload a photo below).")


def _finished_run(run_id: int | None) -> RunRecord | None:
    try:
        record = resources.store().get(run_id) if run_id is not None else None
    except RunNotFound:
        return None
    return record if record is not None and record.status in FINISHED else None


def finished_in_scope(scope: str) -> list[RunRecord]:
    """The newest finished runs of the scope ("My runs" or "Everyone's"), filtered and limited in SQL."""
    owner = identity.current_actor().owner_id if scope == run_scope.MINE else None
    return resources.store().list_runs(statuses=FINISHED, owner_id=owner, limit=run_scope.PAGE_SIZE)


def model_options(finished: list[RunRecord]) -> dict[object, str]:
    """The class's reference model (pinned by the teacher) first, the built-in model, then `finished` (the runs of
    the scope) that have trained weights, newest first."""
    reference = teacher.reference_run_id()
    try:
        builtin = resources.default_model()
        options: dict[object, str] = {DEFAULT: short_model_label(builtin.label, resources.default_model_accuracy())}
    except WeightsError:
        options = {DEFAULT: _("Built-in LeNet (file missing)")}
    store = resources.store()
    pinned = next((r for r in finished if r.id == reference), None) or _finished_run(reference)
    if pinned is not None and store.has_weights(pinned.id):
        label = short_model_label(pinned.name, pinned.test_accuracy)
        options = {pinned.id: _("Class reference: {model}", model=label), **options}
    for record in finished:
        if store.has_weights(record.id) and record.id not in options:
            options[record.id] = short_model_label(record.name, record.test_accuracy)
    return options


DRAW_VIEW = {"draw_model": view_state.MODEL,
             "draw_ask_models": view_state.MODEL_LIST}


def model_title(model: LoadedModel) -> str:
    """A model's name for Markdown (metric labels, captions): a run's as its student typed it; the built-in
    model's label is the app's own text."""
    return model.label if model.run_id is None else markdown_text(model.label)


def load(choice: object) -> LoadedModel:
    return resources.default_model() if choice == DEFAULT else resources.run_model(int(choice))


def test_accuracy(choice: object) -> float | None:
    if choice == DEFAULT:
        return resources.default_model_accuracy()
    try:
        return resources.store().get(int(choice)).test_accuracy
    except RunNotFound:
        return None


readings: dict[tuple, Drawing] = {}  # this rerun's drawing as each kind of model reads it
answers: dict[object, Prediction] = {}  # this rerun's answer of each model asked (the chosen one is asked twice)


def answer_of(choice: object, loaded: LoadedModel, drawing: Drawing) -> Prediction:
    if choice not in answers:
        answers[choice] = predict(loaded, drawing)
    return answers[choice]


def read(loaded: LoadedModel, pixels: np.ndarray) -> Drawing:
    # Not predict_image: the page also shows the 28x28 image the model reads. Preprocessed once per kind of model
    # (dataset and statistics): the models asked side by side mostly read the drawing alike.
    kind = (loaded.config.dataset, loaded.mean, loaded.std)
    if kind not in readings:
        readings[kind] = preprocess_for(loaded, pixels)
    return readings[kind]


view_state.restore(DRAW_VIEW)
has_mine = resources.store().count_runs(statuses=FINISHED, owner_id=identity.current_actor().owner_id) > 0
options = model_options(finished_in_scope(run_scope.current_scope("draw", has_mine)))
# Runs may have been deleted meanwhile (by any browser session): drop them before the widgets are drawn.
if st.session_state.get("draw_model") not in options:
    st.session_state["draw_model"] = next(iter(options))  # the class's reference model when one is pinned
st.session_state["draw_ask_models"] = [c for c in st.session_state.get("draw_ask_models", list(options)[:2])
                                       if c in options]
st.session_state.setdefault("draw_stroke", 22)

st.title(_("Draw a digit"))
pad, result = st.columns([1, 1.4], gap="large")
with pad:
    run_scope.scope_picker("draw", has_mine)
    choice = st.selectbox(_("Model"), list(options), key="draw_model", persist_state=KEEP, format_func=options.get)
    view_state.remember(DRAW_VIEW)
    details = st.empty()  # the chosen model's details, once it is loaded below
    answer_slot: list = []  # beside Clear and Undo: the answer stays in view on a phone while drawing
    canvas_pixels = draw_pad.canvas(st.session_state["draw_stroke"], answer_slot)
# Below both columns, so that on a phone (columns stacked) the prediction sits right under the canvas.
controls = st.container()
with controls:
    st.slider(_("Stroke width"), min_value=5, max_value=50, key="draw_stroke", persist_state=KEEP,
              help=_("MNIST digits are written with a thick pen: about a tenth of the digit's height."))
    # Any file is accepted and checked here: the uploader's own type filter explains a refusal only on hover.
    upload = st.file_uploader(_("…or upload a photo of a digit (PNG or JPEG)"), key="upload_draw",
                              max_upload_size=draw_pad.UPLOAD_LIMIT_MB)
    page_style.translate_uploader("upload_draw", draw_pad.UPLOAD_LIMIT_MB)  # its own texts are English only

pixels: np.ndarray | None = None
with result:
    if upload is not None:
        try:
            pixels = draw_pad.read_upload(upload.getvalue(), upload.name)
            st.caption(_("Reading the uploaded image **{name}**; remove it to read your drawing again.",
                         name=markdown_text(upload.name)))
        except ImageFileError as exc:
            with controls:
                st.error(_("Could not read the uploaded file: {reason}", reason=draw_pad.upload_problem(exc)))
    else:
        draw_pad.forget_upload()
        pixels = canvas_pixels
    try:
        loaded = load(choice)
    except (WeightsError, RunNotFound, RunTooLarge) as exc:  # too large: refused before loading it
        st.error(_("This model cannot be used: {reason}", reason=error_text(exc)))
        st.stop()
    details.caption(model_details(loaded.config, test_accuracy(choice)))
    drawing = read(loaded, pixels) if pixels is not None else None
    if drawing is None or drawing.empty:
        if upload is None or pixels is not None:
            st.container(key="mouse_draw_hint").info(_(EMPTY_HINT))
            st.container(key="touch_draw_hint").info(_(EMPTY_HINT_TOUCH))
        draw_pad.compact_answer(answer_slot[0], None, None)
    else:
        answer = answer_of(choice, loaded, drawing)
        prediction_view.show_answer(loaded, drawing, answer)
        draw_pad.compact_answer(answer_slot[0], *prediction_view.compact_words(drawing, answer))
        collect.offer(loaded, drawing, pixels)  # add it to the class set (#20)

st.subheader(_("Ask several models"))
asked = st.multiselect(_("Models to ask"), list(options), key="draw_ask_models", persist_state=KEEP,
                       placeholder=_("Choose models"),
                       format_func=options.get, help=_("The same drawing, scored by each model side by side."))
if len(asked) < 2:
    st.caption(_("Pick two or more models to compare their answers."))
elif pixels is None or drawing is None or drawing.empty:
    st.caption(_("Draw a digit first: each model's answer appears here."))
else:
    for column, other in zip(st.columns(len(asked)), asked, strict=False):
        with column:
            try:
                model = load(other)
            except (WeightsError, RunNotFound, RunTooLarge) as exc:
                st.error(_("{model} cannot be used: {reason}", model=markdown_text(options[other]),
                           reason=error_text(exc)))
                continue
            seen = read(model, pixels)
            answer = answer_of(other, model, seen)
            if seen.unreadable:
                st.metric(model_title(model), "—", _("too small or thin to read"), delta_color="off",
                          delta_arrow="off")
                continue
            value = "?" if answer.unlike_training else class_name(answer.label)
            note = (_("best guess {label}", label=class_name(answer.label)) if answer.unlike_training
                    else _("{confidence} confident", confidence=percent(answer.confidence, 0)))
            st.metric(model_title(model), value, note, delta_color="off", delta_arrow="off")
            st.plotly_chart(charts.probability_figure(answer.probabilities, model.class_names, title="", height=260),
                            key=f"draw_ask_{other}")

# Drawn only while open: the pictures and feature maps are a quarter of a drawing's rerun, and most never look.
inside = st.expander(_("Look inside the network"), icon=":material/visibility:", key="draw_look_inside",
                     on_change="rerun")
if inside.open:
    with inside:
        st.caption(_("What {model} computes between your pixels and the probabilities.", model=model_title(loaded)))
        prediction_view.show_network(loaded, drawing)
