"""The sidebar every page shares: datasets on this machine, the training device, and every training in progress."""

from __future__ import annotations

import streamlit as st

from app import resources
from app.run_views import progress_fraction
from mnist_core.data import dataset_status
from mnist_core.run_record import ACTIVE_STATUSES
from mnist_core.training import pick_device

SIDEBAR_REFRESH_S = 2.0


def datasets() -> None:
    st.sidebar.subheader("Datasets")
    for status in dataset_status():
        if status.present:
            st.sidebar.markdown(f":material/check_circle: **{status.title}** ready")
            continue
        st.sidebar.markdown(f":material/warning: **{status.title}** not downloaded yet")
        with st.sidebar.expander(f"How to get {status.title}"):
            st.markdown(
                f"Online, it downloads by itself the first time you use it. Offline, copy its four files "
                f"({', '.join(status.missing)}) from a USB stick or share with\n\n"
                f"`python -m mnist_core data import DIR`\n\nor put them in `{status.directory}`."
            )


def device() -> None:
    st.sidebar.subheader("Device")
    st.sidebar.markdown(f"Training on **{pick_device().type.upper()}**")


@st.fragment(run_every=SIDEBAR_REFRESH_S)
def trainings() -> None:
    # Refreshes on its own, so a run started on one page stays visible while the student draws on another.
    # Everything goes into one st.empty(): a refresh with fewer rows then replaces the old rows instead of
    # leaving finished runs' bars behind until the next full rerun.
    with st.empty().container():
        store = resources.store()
        store.recover_interrupted()  # e.g. a CLI training whose process died while the app was running
        active = store.list_runs(statuses=ACTIVE_STATUSES)
        if not active:
            st.caption("Nothing training right now.")
            return
        manager = resources.jobs()
        for record in reversed(active):  # oldest first: the order they run in
            if record.status == "running":
                fraction = progress_fraction(record)
                st.progress(fraction, text=f"{record.name} · {fraction:.0%}")
            else:
                position = manager.queue_position(record.id)
                where = f"position {position} in the queue" if position else "starting"
                st.caption(f":material/hourglass_empty: {record.name}: queued, {where}")


def show() -> None:
    """Draw the whole sidebar."""
    datasets()
    device()
    st.sidebar.subheader("Trainings")
    with st.sidebar:
        trainings()
