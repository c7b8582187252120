"""The sidebar every page shares: datasets on this machine, the training device, and every training in progress."""

from __future__ import annotations

import time

import streamlit as st

from app import i18n, identity, navigation, resources, run_scope, teacher
from app.i18n import _, percent
from app.run_views import progress_fraction, queue_place
from app.ui_settings import SIDEBAR_REFRESH_S
from mnist_core.data import dataset_status
from mnist_core.jobs import JobManager
from mnist_core.run_record import ACTIVE_STATUSES, RunRecord
from mnist_core.training import pick_device


def datasets() -> None:
    st.sidebar.subheader(_("Datasets"))
    for status in dataset_status():
        if status.present:
            st.sidebar.markdown(_(":material/check_circle: **{dataset}** ready", dataset=status.title))
            continue
        st.sidebar.markdown(_(":material/warning: **{dataset}** not downloaded yet", dataset=status.title))
        with st.sidebar.expander(_("How to get {dataset}", dataset=status.title)):
            st.markdown(_(
                "Online, it downloads by itself the first time you use it. Offline, copy its four files "
                "({files}) from a USB stick or share with\n\n`python -m mnist_core data import DIR`\n\n"
                "or put them in `{directory}`.", files=", ".join(status.missing), directory=status.directory))


def device() -> None:
    st.sidebar.subheader(_("Device"))
    st.sidebar.markdown(_("Training on **{device}**", device=pick_device().type.upper()))


@st.fragment(run_every=SIDEBAR_REFRESH_S)
def trainings() -> None:
    # Refreshes on its own, so a run started on one page stays visible while the student draws on another.
    # Everything goes into one st.empty(): a refresh with fewer rows then replaces the old rows instead of
    # leaving finished runs' bars behind until the next full rerun.
    with st.empty().container():
        active = active_runs()
        if not active:
            st.caption(_("Nothing training right now."))
            return
        manager = resources.jobs()
        for title, entries in run_scope.sidebar_sections(active, identity.current_actor()):
            st.caption(f"**{title}**")
            for entry in entries:
                if len(entry) > 1:  # an optimizer race: its runs together, under one heading
                    with st.container(border=True):
                        st.caption(run_scope.group_title(entry))
                        for record in entry:
                            training_row(record, manager)
                else:
                    training_row(entry[0], manager)


RECOVERY_INTERVAL_S = 10.0  # how often the server looks for runs whose process died (a killed CLI training)
_last_recovery = [0.0]  # per server process, not per tab: one look serves every student


def active_runs() -> list[RunRecord]:
    """The queued and running runs, read again only when one small query says something changed since this tab's
    last refresh (an idle sidebar does no other work)."""
    store = resources.store()
    if time.monotonic() - _last_recovery[0] >= RECOVERY_INTERVAL_S:
        _last_recovery[0] = time.monotonic()
        store.recover_interrupted()  # e.g. a CLI training whose process died while the app was running
    activity = (store.db_path, store.activity())
    cached = st.session_state.get("sidebar_active_runs")
    if cached is None or cached[0] != activity:
        cached = st.session_state["sidebar_active_runs"] = (
            activity, store.list_runs(statuses=ACTIVE_STATUSES) if activity[1] else [])
    return cached[1]


def training_row(record: RunRecord, manager: JobManager) -> None:
    """One training in the sidebar: its progress bar, or its place in the queue."""
    if record.status == "running":
        fraction = progress_fraction(record)
        st.progress(fraction, text=f"{record.name} · {percent(fraction, 0)}")
    else:
        position = manager.queue_position(record.id)
        where = queue_place(position)
        st.caption(_(":material/hourglass_empty: {run}: queued, {place}", run=record.name, place=where))


def show() -> None:
    """Draw the whole sidebar."""
    navigation.menu()
    i18n.language_switch()
    identity.name_box()
    navigation.keep_session_params()
    teacher.sidebar_panel(identity.current_actor())
    datasets()
    device()
    st.sidebar.subheader(_("Trainings"))
    with st.sidebar:
        trainings()
