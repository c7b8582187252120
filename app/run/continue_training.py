"""Continue training, on a finished run's view: N more epochs from its weights and optimizer state, as a new run
linked to it (mnist_core.runs.continuation), and the line that tells a continued run's story."""

from __future__ import annotations

import streamlit as st

from app import identity, resources
from app.errors import error_text
from app.i18n import _, ngettext
from app.run import scope as run_scope
from app.user_text import markdown_text
from mnist_core.config import MAX_EPOCHS, ConfigError
from mnist_core.runs.class_rules import LimitReached
from mnist_core.runs.continuation import CONTINUABLE_STATUSES, CannotContinue
from mnist_core.runs.permissions import NotPermitted
from mnist_core.runs.record import RunRecord
from mnist_core.runs.store import RunNotFound
from mnist_core.weights import WeightsError

DEFAULT_MORE_EPOCHS = 5


def _epochs_key(run_id: int) -> str:
    return f"continue_epochs_{run_id}"


def _error_key(run_id: int) -> str:
    return f"continue_error_{run_id}"


def more_epochs_problem(value: object, most: int) -> str | None:
    """What is wrong with the "More epochs" box, in words; None when it is a whole number from 1 to `most`."""
    whole = isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
    if whole and 1 <= value <= most:
        return None
    return _("More epochs: {value} is not allowed — use a whole number from 1 to {most}.",
             value=_("empty") if value is None else f"{value:g}" if isinstance(value, float) else value, most=most)


def start_continuing(record: RunRecord, most: int) -> None:
    """The button's callback (before the page is drawn, so it may select the new run in "Show run")."""
    value = st.session_state.get(_epochs_key(record.id))
    problem = more_epochs_problem(value, most)
    if problem:
        st.session_state[_error_key(record.id)] = problem
        return
    name = _("{name} + {epochs} epochs", name=record.name, epochs=int(value))
    try:  # the new run is the student's own, whoever trained the one it continues
        run_id = resources.jobs().continue_run(record.id, int(value), name=name, actor=identity.current_actor())
    except (NotPermitted, LimitReached) as exc:
        st.session_state[_error_key(record.id)] = run_scope.refusal(exc)
        return
    except (CannotContinue, RunNotFound, WeightsError, ConfigError, ValueError) as exc:
        st.session_state[_error_key(record.id)] = _("Could not continue this run: {reason}", reason=error_text(exc))
        return
    st.session_state["train_selected_run"] = run_id
    st.session_state["train_started"] = run_id  # the Train page toasts and scrolls to it, as after Start


def continue_training(record: RunRecord) -> None:
    """The "Continue training" box under a completed or stopped run that has weights."""
    store = resources.store()
    if record.status not in CONTINUABLE_STATUSES or not store.has_weights(record.id):
        return
    try:
        done = len(store.epochs(record.id))
    except RunNotFound:
        return
    most = MAX_EPOCHS - done
    if most < 1:
        return  # already trained as long as a run may
    with st.container(border=True):
        st.subheader(_("Continue training"))
        st.caption(ngettext(
            "This network has trained {n} epoch. Train it further from where it ended: its weights and the "
            "optimizer's state (e.g. Adam's running averages) carry on, in a new run linked to this one whose "
            "curves continue these.",
            "This network has trained {n} epochs. Train it further from where it ended: its weights and the "
            "optimizer's state (e.g. Adam's running averages) carry on, in a new run linked to this one whose "
            "curves continue these.", done))
        st.session_state.setdefault(_epochs_key(record.id), DEFAULT_MORE_EPOCHS)
        epochs_column, button_column = st.columns([1, 3], vertical_alignment="bottom")
        epochs_column.number_input(_("More epochs"), step=1, key=_epochs_key(record.id))
        button_column.button(_("Continue training"), icon=":material/fast_forward:", key=f"continue_{record.id}",
                             on_click=start_continuing, args=(record, most))
        if _error_key(record.id) in st.session_state:
            st.error(st.session_state.pop(_error_key(record.id)))


def lineage_caption(record: RunRecord) -> str:
    """E.g. "Continues run #3 (my run) from its epoch 5: its weights and optimizer state.", as Markdown."""
    store = resources.store()
    try:
        parent = store.get(record.parent_id)
    except RunNotFound:
        return _("Continues run #{parent}, which has since been deleted.", parent=record.parent_id)
    return _("Continues run #{parent} ({name}): it started from that run's weights and optimizer state, and its "
             "curves go on from where that run's ended.", parent=parent.id, name=markdown_text(parent.name))
