"""The sidebar every page shares: datasets on this machine, the training device, and every training in progress."""

from __future__ import annotations

import streamlit as st

from app import i18n, identity, navigation, resources, teacher
from app.i18n import _
from app.run import scope as run_scope
from app.run.texts import activity_line, progress_fraction
from app.ui_settings import SIDEBAR_REFRESH_S
from app.user_text import markdown_text
from mnist_core.backends.jobs import JobManager
from mnist_core.data import dataset_status
from mnist_core.runs.record import ACTIVE_STATUSES, RunRecord
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


def active_runs() -> list[RunRecord]:
    """The queued and running runs, read again only when one small query says something changed since this tab's
    last refresh (an idle sidebar does no other work)."""
    store = resources.store()
    activity = (store.db_path, store.activity())
    cached = st.session_state.get("sidebar_active_runs")
    if cached is None or cached[0] != activity:
        cached = st.session_state["sidebar_active_runs"] = (
            activity, store.list_runs(statuses=ACTIVE_STATUSES) if activity[1] else [])
    return cached[1]


def training_row(record: RunRecord, manager: JobManager) -> None:
    """One training in the sidebar: its progress bar, or its place in the queue."""
    name = markdown_text(record.name)  # a classmate's run name, shown as typed
    if record.status == "running":
        st.progress(progress_fraction(record), text=activity_line(record, label=name, brief=True))
    else:
        st.caption(activity_line(record, manager.queue_position(record.id), label=name))


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
