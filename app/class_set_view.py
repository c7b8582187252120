"""The Class set page's overview: counts per digit and per student, the class's average digit beside MNIST's, a
grid of samples per digit (each deletable by the student who drew it, or by the teacher), and the teacher's tools
(close collection, download the set as MNIST's own files)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from app import identity, resources
from app.class_set_texts import owner_label, refusal_text
from app.errors import error_text
from app.i18n import _
from app.run.texts import upscale
from mnist_core.class_set.idx_files import zip_bytes
from mnist_core.class_set.samples import DIGITS, ClassSet, ClassSetRefused
from mnist_core.data import DatasetUnavailable
from mnist_core.runs.permissions import Actor

GRID_COLUMNS = 10
AVERAGE_WIDTH = 168  # pixels: each of the 28 pixels 6 screen pixels wide
GRID_SHOWN = 30  # samples of one digit on screen
_MESSAGE_KEY = "class_set_page_message"


def class_set() -> ClassSet:
    return ClassSet(resources.store())


def _name_of(owner_id: str) -> str:
    try:
        return identity.default_name(owner_id)
    except ValueError:  # not a student's hash (e.g. the command line's)
        return owner_id


def counts_figures(samples: ClassSet) -> tuple[go.Figure, go.Figure]:
    """Bars: samples per digit, and per student (names of live identities only)."""
    per_digit = go.Figure(go.Bar(x=[str(d) for d in range(DIGITS)], y=samples.per_digit(), marker_color="#4c78a8"))
    per_digit.update_layout(title=_("Drawings per digit"), xaxis_title=_("digit"), yaxis_title=_("drawings"),
                            height=300, margin={"t": 40, "b": 40, "l": 40, "r": 10}, xaxis_type="category")
    owners = samples.per_owner()
    labels = [owner_label(owner, _name_of(owner.owner_id)) for owner in owners]
    # Each bar keyed by position: two anonymous students are two bars, not one.
    per_student = go.Figure(go.Bar(x=list(range(len(owners))), y=[owner.count for owner in owners],
                                   marker_color="#f58518", hovertext=labels, hoverinfo="text+y"))
    per_student.update_layout(title=_("Drawings per student"), yaxis_title=_("drawings"), height=300,
                              margin={"t": 40, "b": 40, "l": 40, "r": 10})
    per_student.update_xaxes(tickvals=list(range(len(owners))), ticktext=labels)
    return per_digit, per_student


@st.cache_resource(show_spinner=False)
def _mnist_average(root: str) -> np.ndarray:  # keyed by the data dir: one computation per server
    data = resources.dataset("mnist")
    return data.train_images.numpy().mean(0, dtype=np.float64).round().astype(np.uint8)


def averages(samples: ClassSet) -> None:
    """The class's average digit next to MNIST's: where the two differ, the class writes differently."""
    images, _labels = samples.arrays()
    left, right = st.columns(2)
    if len(images):
        left.image(upscale(images.astype(np.float32).mean(0).round().astype(np.uint8), 6),
                   caption=_("The class's average digit ({count} drawings)", count=len(images)), width=AVERAGE_WIDTH)
    try:
        right.image(upscale(_mnist_average(resources.data_root()), 6),
                    caption=_("MNIST's average digit (60,000 training images)"), width=AVERAGE_WIDTH)
    except DatasetUnavailable as exc:
        right.warning(error_text(exc))


def _delete(sample_id: int) -> None:
    try:  # who asks is checked again at the click: teacher mode may have been left meanwhile
        class_set().delete(identity.current_actor(), sample_id)
        st.session_state[_MESSAGE_KEY] = None
    except ClassSetRefused as exc:
        st.session_state[_MESSAGE_KEY] = refusal_text(exc)


def sample_grid(samples: ClassSet, actor: Actor, owner_id: str | None = None, key: str = "all") -> None:
    """The samples of one digit (picked above the grid), each with a Delete button where the viewer may."""
    digit = st.segmented_control(_("Digit"), list(range(DIGITS)), default=0, key=f"class_set_digit_{key}")
    chosen = samples.samples(owner_id=owner_id, label=0 if digit is None else digit, limit=GRID_SHOWN)
    if not chosen:
        st.caption(_("No drawings of this digit yet."))
    for row in range(0, len(chosen), GRID_COLUMNS):
        for column, sample in zip(st.columns(GRID_COLUMNS), chosen[row:row + GRID_COLUMNS], strict=False):
            mine = sample.owner_id == actor.owner_id
            column.image(upscale(sample.image, 3), caption=_("yours") if mine else None, width="stretch")
            if mine or actor.may_change_any:
                column.button(_("Delete"), key=f"class_set_delete_{key}_{sample.id}", on_click=_delete,
                              args=(sample.id,), icon=":material/delete:", type="tertiary")
    if st.session_state.get(_MESSAGE_KEY):
        st.error(st.session_state[_MESSAGE_KEY])


def _set_frozen() -> None:
    try:
        class_set().set_frozen(identity.current_actor(), bool(st.session_state.get("class_set_frozen")))
    except ClassSetRefused as exc:
        st.session_state[_MESSAGE_KEY] = refusal_text(exc)


def teacher_tools(samples: ClassSet, actor: Actor) -> None:
    """Close collection, and download the set as MNIST's own files (for next year's class)."""
    if not actor.is_teacher:
        return
    with st.container(border=True):
        st.subheader(_("Teacher"))
        st.session_state["class_set_frozen"] = samples.frozen()
        st.toggle(_("Close collection (no new drawings)"), key="class_set_frozen", on_change=_set_frozen)
        images, labels = samples.arrays()
        st.download_button(_("Download the class set (MNIST IDX files, zip)"), zip_bytes(images, labels),
                           file_name="class-set-idx.zip", mime="application/zip", key="class_set_download",
                           icon=":material/download:")
        st.caption(_("The zip holds the drawings as MNIST's own gzip IDX files; next year's class can start from "
                     "them with `python -m mnist_core class-set import DIR`."))
