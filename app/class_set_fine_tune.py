"""The Class set page's "Continue training with the class set": the chosen run trained one more epoch on MNIST plus
the class's drawings except the asking student's, then tested on theirs, before and after.

Like Start on Train, the button only asks: `mnist_core.class_set.fine_tune.start_fine_tune` checks, measures the
parent on the student's drawings ("before") and queues an ordinary run through the JobManager, so the quotas and
the class rules hold and the page never trains (an epoch in the web server would hold its GIL for the whole class).
The run trains in a worker process; this page shows its progress with a Stop button, and once it has ended the
score after, which the worker measured and stored. The student's newest fine-tune of the chosen run is shown again
after a reload or a visit elsewhere: everything shown is read from the run store.
"""

from __future__ import annotations

import streamlit as st

from app import identity, resources
from app.class_set_meet import BUILT_IN
from app.class_set_texts import refusal_text
from app.errors import error_text, failure_text
from app.i18n import _, percent
from app.run import scope as run_scope
from app.run.start import start_message
from app.run.texts import activity_line, progress_fraction
from app.run.view import stop_button
from app.ui_settings import LIVE_REFRESH_S
from mnist_core.class_set.fine_tune import start_fine_tune
from mnist_core.class_set.meeting import NotDigits
from mnist_core.class_set.samples import ClassSet, ClassSetRefused, FineTuneRow
from mnist_core.config import ConfigError
from mnist_core.cost import RunTooLarge
from mnist_core.runs.class_rules import LimitReached
from mnist_core.runs.continuation import CannotContinue
from mnist_core.runs.permissions import NotPermitted
from mnist_core.runs.record import RunRecord
from mnist_core.runs.store import RunNotFound
from mnist_core.weights import WeightsError

_ERROR_KEY = "class_set_fine_tune_error"
_STARTED_KEY = "class_set_fine_tune_started"


def _start(parent_id: int) -> None:
    """The button's callback: it runs before the page is drawn, so the queued run shows below at once."""
    actor, store = identity.current_actor(), resources.store()
    try:
        parent = store.get(parent_id)
        started = start_fine_tune(store, parent.id, actor, resources.jobs().submit, 1,
                                  name=_("{name} + class set", name=parent.name),
                                  parent_model=resources.run_model(parent.id))
    except ClassSetRefused as exc:
        st.session_state[_ERROR_KEY] = refusal_text(exc)
    except (LimitReached, NotPermitted) as exc:  # a quota or a teacher's cap, as on Train
        st.session_state[_ERROR_KEY] = run_scope.refusal(exc)
    except (CannotContinue, ConfigError, NotDigits, RunNotFound, RunTooLarge, WeightsError, ValueError) as exc:
        st.session_state[_ERROR_KEY] = _("Could not continue this run: {reason}", reason=error_text(exc))
    else:
        st.session_state[_STARTED_KEY] = started.run_id


def fine_tune_section(choice: object) -> None:
    """The button, then the student's newest fine-tune of the chosen run: live while it trains, then before and
    after."""
    st.caption(_("Trains the chosen network one more epoch on MNIST plus the class's drawings, except yours: it "
                 "learns from the others' handwriting and is tested on yours, so the score is honest (it has "
                 "never seen your drawings). It trains in the background like any run: you may stop it, or leave "
                 "this page and come back. The new run is yours and appears on Train."))
    if choice == BUILT_IN:
        st.caption(_("Choose one of the class's runs: the built-in model cannot be trained further here."))
        return
    store, actor = resources.store(), identity.current_actor()
    row = ClassSet(store).latest_fine_tune(int(choice), actor.owner_id)
    record = _record(row)
    active = record is not None and record.is_active
    st.button(_("Continue training with the class set"), key="class_set_fine_tune", type="primary",
              icon=":material/model_training:", on_click=_start, args=(int(choice),), disabled=active,
              help=_("Your fine-tune of this network is still training: stop it or wait for it.") if active else None)
    error = st.session_state.pop(_ERROR_KEY, None)
    if error:
        st.error(error)
    started = st.session_state.pop(_STARTED_KEY, None)
    if started is not None:
        st.toast(start_message(started), icon=":material/model_training:")
    if row is None or record is None:
        return
    if active:
        _live(row)
    else:
        _finished(row, record)


def _record(row: FineTuneRow | None) -> RunRecord | None:
    if row is None:
        return None
    try:
        return resources.store().get(row.run_id)
    except RunNotFound:  # deleted on Train or Compare: nothing to show
        return None


def _before(column, row: FineTuneRow) -> None:
    if row.before_accuracy is not None:
        column.metric(_("Your handwriting, before"), percent(row.before_accuracy),
                      _("{count} drawings", count=row.before_count), delta_color="off", delta_arrow="off")


@st.fragment(run_every=LIVE_REFRESH_S)
def _live(row: FineTuneRow) -> None:
    """Redrawn every LIVE_REFRESH_S while the run waits or trains; a whole rerun shows the score once it ends."""
    try:
        record = resources.store().get(row.run_id)
    except RunNotFound as exc:
        st.info(error_text(exc))
        return
    if not record.is_active:
        st.rerun()  # the whole page: the button comes back, the result is drawn once
    left, right = st.columns(2)
    _before(left, row)
    with right:
        if record.status == "queued":
            st.info(activity_line(record, resources.jobs().queue_position(record.id)))
        else:
            st.progress(progress_fraction(record), text=activity_line(record))
        stop_button(record)
    st.caption(_("Run {run_id} is training on {count} drawings of the others'; your score after appears here when "
                 "it ends.", run_id=record.id, count=row.train_samples))


def _finished(row: FineTuneRow, record: RunRecord) -> None:
    left, right = st.columns(2)
    _before(left, row)
    if record.status == "failed":
        right.error(_("This run failed: {reason}", reason=failure_text(record.failure) if record.failure
                      else _("no reason was recorded")))
    elif record.status == "interrupted":
        right.warning(_("Run {run_id} was interrupted ({reason}) before it finished: continue training again.",
                        run_id=record.id, reason=failure_text(record.failure) if record.failure
                        else _("its process ended")))
    elif record.status == "stopped" and record.started is None:
        right.info(_("You cancelled this run before it started: it never trained, so it has no results."))
    elif row.after_accuracy is None:
        right.info(_("Run {run_id} has no score after: your drawings it was to be tested on were deleted.",
                     run_id=record.id))
    else:
        delta = None if row.before_accuracy is None else percent(row.after_accuracy - row.before_accuracy)
        right.metric(_("Your handwriting, after"), percent(row.after_accuracy), delta, delta_arrow="auto")
        if record.status == "stopped":
            st.caption(_("You stopped it early: the score after is for the network as it was then."))
        st.caption(_("Run {run_id} trained on {count} drawings of the others' and was tested on your {tested}.",
                     run_id=record.id, count=row.train_samples, tested=row.after_count))
