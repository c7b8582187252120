"""A finished run's test-set diagnostics on the Train page: the confusion matrix (click a cell to see its images),
accuracy per class, and a gallery of test images with the model's confidence, filtered by true and predicted class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from app import charts, resources
from app.errors import error_text
from app.i18n import _, number, percent
from app.run.texts import ANY_WRONG, class_name, gallery_indices
from mnist_core.data import DatasetUnavailable
from mnist_core.runs.record import RunRecord
from mnist_core.runs.store import RunNotFound

GALLERY_SHOWN = 24
GALLERY_COLUMNS = 8
ALL_CLASSES = -1  # the gallery's "true class" choice for every class


def _true_key(run_id: int) -> str:
    return f"gallery_true_{run_id}"


def _predicted_key(run_id: int) -> str:
    return f"gallery_predicted_{run_id}"


def _confusion_key(run_id: int) -> str:
    return f"confusion_{run_id}"


def show_clicked_cell(run_id: int, class_names: Sequence[str]) -> None:
    """on_select of the confusion matrix: point the gallery at the clicked cell (true row, predicted column)."""
    event = st.session_state.get(_confusion_key(run_id))
    points = (event or {}).get("selection", {}).get("points", [])
    names = list(class_names)
    cells = [(p.get("y"), p.get("x")) for p in points if p.get("y") in names and p.get("x") in names]
    if cells:
        true_name, predicted_name = cells[0]
        st.session_state[_true_key(run_id)] = names.index(true_name)
        st.session_state[_predicted_key(run_id)] = names.index(predicted_name)


def test_diagnostics(record: RunRecord) -> None:
    """Confusion matrix, per-class accuracy and the gallery of the 10,000 test images."""
    store = resources.store()
    try:  # two BLOBs (90 kB) read and decoded once per ended run, not on every rerun of every student watching
        predictions, confidences = resources.ended_run_view(
            record, "test predictions", lambda: (store.test_predictions(record.id), store.test_confidences(record.id)))
    except RunNotFound:
        return  # deleted meanwhile; the training charts already said so
    if predictions is None:
        return
    try:
        data = resources.dataset(record.config.dataset)
    except DatasetUnavailable as exc:
        st.warning(_("The test-set diagnostics need the dataset: {reason}", reason=error_text(exc)))
        return
    labels, predicted = data.test_labels.numpy(), predictions.numpy()
    left, right = st.columns(2)
    with left:
        st.plotly_chart(resources.ended_run_view(record, "confusion", lambda: charts.confusion_figure(
                            labels, predicted, data.class_names)), key=_confusion_key(record.id),
                        on_select=lambda: show_clicked_cell(record.id, data.class_names), selection_mode="points")
        st.caption(_("Click a cell to see its test images below."))
    with right:
        st.plotly_chart(resources.ended_run_view(record, "per class", lambda: charts.per_class_figure(
                            labels, predicted, data.class_names, record.id)),
                        key=f"per_class_{record.id}")
    gallery(record, data, labels, predicted, confidences)


def gallery(record: RunRecord, data, labels: np.ndarray, predicted: np.ndarray, confidences: np.ndarray | None) -> None:
    """Test images of the chosen true and predicted class, each captioned true → predicted and its confidence."""
    names = [class_name(n) for n in data.class_names]  # in the student's language (티셔츠/탑, ...)
    total_wrong = int(np.count_nonzero(labels != predicted))
    st.subheader(_("Misclassified test images"))
    if not total_wrong:
        st.success(_("Not a single test image is misclassified."))
    st.session_state.setdefault(_true_key(record.id), ALL_CLASSES)
    st.session_state.setdefault(_predicted_key(record.id), ANY_WRONG)
    true_column, predicted_column = st.columns(2)
    true_class = true_column.selectbox(
        _("True class"), [ALL_CLASSES, *range(len(names))], key=_true_key(record.id),
        format_func=lambda c: _("All classes") if c == ALL_CLASSES else names[c])
    chosen = predicted_column.selectbox(
        _("Predicted as"), [ANY_WRONG, *range(len(names))], key=_predicted_key(record.id),
        format_func=lambda c: _("Any wrong class") if c == ANY_WRONG else names[c])
    shown, total = gallery_indices(labels, predicted, None if true_class == ALL_CLASSES else true_class, chosen,
                                   GALLERY_SHOWN)
    st.caption(gallery_caption(len(labels), total_wrong, total, len(shown)))
    if confidences is None:
        st.caption(_("This run was trained before confidences were stored: the images show no confidence."))
    pictures = resources.test_image_pngs(record.config.dataset, shown, 3)
    for start in range(0, len(shown), GALLERY_COLUMNS):
        columns = st.columns(GALLERY_COLUMNS)
        for column, index, picture in zip(columns, shown[start:start + GALLERY_COLUMNS],
                                          pictures[start:start + GALLERY_COLUMNS], strict=False):
            caption = image_caption(names[labels[index]], names[predicted[index]],
                                    None if confidences is None else float(confidences[index]))
            column.image(picture, width="stretch", output_format="PNG", caption=caption)


def gallery_caption(images: int, wrong: int, matching: int, shown: int) -> str:
    if not matching:
        return _("No test image matches this choice ({wrong} of {images} are misclassified).",
                 wrong=number(wrong), images=number(images))
    return _("{matching} test images match ({wrong} of {images} are misclassified); the first {shown}, labelled "
             "true → predicted and the model's confidence:", matching=number(matching), wrong=number(wrong),
             images=number(images), shown=number(shown))


def image_caption(truth: str, guess: str, confidence: float | None) -> str:
    """E.g. "7 → 2 · 63%": the confidence is the softmax probability of the predicted class."""
    if confidence is None:
        return f"{truth} → {guess}"
    return _("{truth} → {guess} · {confidence}", truth=truth, guess=guess, confidence=percent(confidence, 0))
