"""One run on screen: live progress while it trains, then its test results. Used by the Train page.

Kept outside app/pages/, which holds only pages. Everything it shows is read from the RunStore, so every
browser session sees the same runs, whichever session (or the command line) started them.
"""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go
import streamlit as st

from app import charts, identity, resources
from app.errors import error_text, failure_text
from app.i18n import _, number, percent
from app.run import live_charts
from app.run import scope as run_scope
from app.run.continue_training import continue_training, lineage_caption
from app.run.diagnostics import test_diagnostics
from app.run.texts import (
    activity_line,
    architecture,
    dataset_title,
    epochs_text,
    format_seconds,
    progress_fraction,
    status_word,
)
from app.ui_settings import LIVE_REFRESH_S
from mnist_core.data import dataset_status
from mnist_core.events import LossPoints
from mnist_core.runs.permissions import NotPermitted
from mnist_core.runs.record import RunRecord
from mnist_core.runs.store import RunNotFound

STATUS_ICONS = {"queued": ":material/hourglass_empty:", "running": ":material/directions_run:",
                "completed": ":material/check_circle:", "stopped": ":material/stop_circle:",
                "failed": ":material/error:", "interrupted": ":material/warning:"}


def run_summary(record: RunRecord) -> None:
    c = record.config
    st.caption(STATUS_ICONS.get(record.status, "") + " " + _(
        "**{status}** · {dataset} · {architecture} · {activation} · init {init} · dropout {dropout} · "
        "{optimizer} lr {lr} · batch {batch} · {epochs} · seed {seed}",
        status=status_word(record.status), dataset=dataset_title(c.dataset), architecture=architecture(c),
        activation=c.activation, init=_("default") if c.init == "default" else c.init, dropout=f"{c.dropout:g}",
        optimizer=c.optimizer, lr=f"{c.lr:g}",
        batch=c.batch_size, epochs=epochs_text(c.epochs), seed=c.seed))
    if record.parent_id is not None:
        st.caption(lineage_caption(record))


@dataclass(frozen=True)
class RunCharts:
    """A run's training charts (None: nothing to draw yet) and whether it held out validation images."""

    loss: go.Figure | None
    accuracy: go.Figure | None
    epoch_loss: go.Figure | None
    has_validation: bool


def run_charts(record: RunRecord) -> RunCharts:
    """Read a run's curves and build its charts. RunNotFound when it was deleted."""
    store = resources.store()
    points, epochs = store.losses(record.id), store.epochs(record.id)
    if not points.iterations:
        return RunCharts(None, None, None, False)
    parent = parent_losses(record.parent_id) if record.parent_id is not None else None
    earlier = None if parent is None else charts.EarlierRun(parent[1].iterations, parent[1].losses,
                                                             _("{run} (continued)", run=parent[0].name))
    loss = charts.loss_figure(points.iterations, points.losses, record.id, earlier=earlier)
    if not epochs:
        return RunCharts(loss, None, None, False)
    numbers = [m.epoch for m in epochs]
    return RunCharts(
        loss,
        charts.epoch_figure(numbers, [m.train_accuracy for m in epochs], [m.val_accuracy for m in epochs],
                            "accuracy", record.id),
        charts.epoch_figure(numbers, [m.train_loss for m in epochs], [m.val_loss for m in epochs], "loss", record.id),
        any(m.val_accuracy is not None for m in epochs))


def training_charts(record: RunRecord) -> None:
    """Loss per iteration, then accuracy and loss per epoch (train vs validation) side by side."""
    try:
        # The run it continues is part of the key: renamed, its name in the legend changes.
        parent = resources.store().get(record.parent_id).name if record.parent_id is not None else None
    except RunNotFound:
        parent = None
    try:
        shown = resources.ended_run_view(record, ("training charts", parent), lambda: run_charts(record))
    except RunNotFound as exc:  # deleted by another session while this one shows it
        st.info(error_text(exc))
        return
    if shown.loss is None:
        if record.is_active:
            st.caption(_("The first losses appear here within a few seconds of the training starting."))
        return
    st.plotly_chart(shown.loss, key=f"loss_{record.id}")
    if shown.accuracy is None:
        st.caption(_("Accuracy per epoch appears when the first epoch ends.") if record.is_active else
                   _("This run ended before its first epoch did, so it has no accuracy per epoch."))
        return
    left, right = st.columns(2)
    left.plotly_chart(shown.accuracy, key=f"epoch_acc_{record.id}")
    right.plotly_chart(shown.epoch_loss, key=f"epoch_loss_{record.id}")
    if not shown.has_validation:
        st.caption(_("No validation curve: this run used all training images (validation size 0)."))


def parent_losses(parent_id: int) -> tuple[RunRecord, LossPoints] | None:
    """The run a continued run started from and its loss points; None once it was deleted."""
    store = resources.store()
    try:
        return store.get(parent_id), store.losses(parent_id)
    except RunNotFound:
        return None


def stop_button(record: RunRecord) -> None:
    # Only for who may stop it (the owner, the teacher); JobManager checks again, so a forged click is refused.
    me = identity.current_actor()
    if not run_scope.may_change(record, me):
        return
    if st.button(_("Stop"), key=f"stop_{record.id}", icon=":material/stop_circle:",
                 help=_("Stop after the current iteration; what it learned so far is kept and tested.")):
        try:
            stopped = resources.jobs().stop(record.id, actor=me)
        except NotPermitted as exc:
            st.error(run_scope.refusal(exc))
            return
        if not stopped:
            st.warning(_("This run was started by another process (the command line?): stop it there."))


@st.fragment(run_every=LIVE_REFRESH_S)
def live_run(run_id: int) -> None:
    """Redrawn every LIVE_REFRESH_S while the run is queued or running; a full rerun shows the results once it ends."""
    try:
        record = resources.store().get(run_id)
    except RunNotFound as exc:
        st.info(error_text(exc))
        return
    if not record.is_active:
        st.rerun()  # the whole page: the finished view is static (no more refreshing)
    with st.empty().container():  # one block, so the queued view is replaced, not kept, once it runs
        run_summary(record)
        if record.status == "queued":
            st.info(activity_line(record, resources.jobs().queue_position(run_id)))
            stop_button(record)
            return
        bar, button = st.columns([6, 1], vertical_alignment="bottom")
        bar.progress(progress_fraction(record), text=activity_line(record))
        with button:
            stop_button(record)
    live_charts.show(record)  # reads only what is new; figures rebuilt only when their data changed


def finished_run(record: RunRecord) -> None:
    """A run that ended: why it failed, or its test results and diagnostics."""
    run_summary(record)
    if record.status == "failed":
        st.error(_("This run failed: {reason}", reason=failure_text(record.failure) if record.failure
                   else _("no reason was recorded")))
        missing = [s.title for s in dataset_status() if s.name == record.config.dataset and not s.present]
        if missing:
            st.info(_("{dataset} is not on this machine yet: the sidebar's “How to get {dataset}” says how to get "
                      "it; then start the run again.", dataset=missing[0]))
    elif record.status == "interrupted":
        st.warning(_("This run was interrupted ({reason}): the charts show how far it got; start it again to "
                     "finish it.", reason=failure_text(record.failure) if record.failure else _("its process ended")))
    elif record.status == "stopped" and record.started is None:
        st.info(_("You cancelled this run before it started: it never trained, so it has no results."))
        return
    elif record.status == "stopped":
        st.info(_("You stopped this run early: the test results are for the network as it was then."))
    if record.test_accuracy is not None:
        test_metrics(record)
    training_charts(record)
    if record.test_accuracy is not None:
        test_diagnostics(record)
    continue_training(record)


def test_metrics(record: RunRecord) -> None:
    columns = st.columns(4)
    columns[0].metric(_("Test accuracy"), percent(record.test_accuracy, 2))
    columns[1].metric(_("Test loss"), number(record.test_loss, 4))
    columns[2].metric(_("Training time"), format_seconds(record.duration_s))
    columns[3].metric(_("Device"), (record.device or "-").upper())
