"""Lessons that train on real MNIST (1, 7 and 9) run ordinary background runs through the JobManager: this starts
a lesson's runs, shows their progress with a Stop button while they train, and hands the finished records to the
lesson's own results view. The runs are normal runs, so they also appear on Train and Compare."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from app import identity, resources
from app.errors import error_text
from app.i18n import _
from app.run import scope as run_scope
from app.run.texts import activity_line, progress_fraction
from app.ui_settings import LIVE_REFRESH_S
from mnist_core.config import ConfigError, TrainConfig
from mnist_core.runs.class_rules import LimitReached
from mnist_core.runs.permissions import NotPermitted
from mnist_core.runs.record import RunRecord
from mnist_core.runs.store import RunNotFound

Results = Callable[[dict[str, RunRecord]], None]


def _state_key(lesson: str) -> str:
    return f"learn_{lesson}_runs"


def start_runs(lesson: str, configs: dict[str, TrainConfig], names: dict[str, str]) -> None:
    """Queue one run per label (a button's callback); a refusal (a teacher's cap) is shown on the next draw."""
    actor, ids = identity.current_actor(), {}
    try:
        for label, config in configs.items():
            ids[label] = resources.jobs().submit(config, name=names[label], actor=actor)
    except (NotPermitted, LimitReached) as exc:
        st.session_state[f"learn_{lesson}_error"] = run_scope.refusal(exc)
    except (ConfigError, ValueError) as exc:
        st.session_state[f"learn_{lesson}_error"] = _("Could not start the runs: {error}", error=error_text(exc))
    st.session_state[_state_key(lesson)] = ids


def _records(lesson: str, names: dict[str, str]) -> dict[str, RunRecord]:
    """This session's runs of the lesson; on a fresh visit, my newest stored run of each name instead."""
    store = resources.store()
    ids = st.session_state.get(_state_key(lesson))
    if ids is None:
        me = identity.current_actor().owner_id
        mine = store.list_runs(owner_id=me, limit=300)
        ids = {label: next((r.id for r in mine if r.name == name), None) for label, name in names.items()}
        ids = {label: run_id for label, run_id in ids.items() if run_id is not None}
    records = {}
    for label, run_id in ids.items():
        try:
            records[label] = store.get(run_id)
        except RunNotFound:  # deleted on the Compare page meanwhile
            continue
    return records


def stop_runs(records: dict[str, RunRecord]) -> None:
    actor = identity.current_actor()
    for record in records.values():
        if record.is_active and run_scope.may_change(record, actor):
            try:
                resources.jobs().stop(record.id, actor=actor)
            except NotPermitted:
                continue


def runs_panel(lesson: str, names: dict[str, str], results: Results) -> bool:
    """The lesson's runs: live progress while any trains (refreshed every LIVE_REFRESH_S), else `results` of them.
    False when there are none yet."""
    error = st.session_state.pop(f"learn_{lesson}_error", None)
    if error:
        st.error(error)
    records = _records(lesson, names)
    if not records:
        return False
    if any(r.is_active for r in records.values()):
        _live(lesson, names, results)
    else:
        results(records)
    return True


@st.fragment(run_every=LIVE_REFRESH_S)
def _live(lesson: str, names: dict[str, str], results: Results) -> None:
    records = _records(lesson, names)
    if not any(r.is_active for r in records.values()):
        st.rerun()  # the whole page: the results are drawn once, without refreshing
    with st.container(border=True):
        for label, record in records.items():
            text = _("{label}: waiting for a free worker", label=label) if record.status == "queued" \
                else activity_line(record, label=label)
            st.progress(progress_fraction(record), text=text)
        if st.button(_("Stop these runs"), icon=":material/stop_circle:", key=f"learn_{lesson}_stop"):
            stop_runs(records)
    results(records)
