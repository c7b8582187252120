"""app.session_memo: what a page derives from ended runs is computed again only when its key or the page's language
changes; a view with a run still queued or training is computed at every look."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from streamlit.testing.v1 import AppTest

from mnist_core.config import TrainConfig
from mnist_core.runs.store import RunStore


def remembering_page() -> None:
    import streamlit as st

    from app import session_memo

    calls = st.session_state.setdefault("calls", [])
    key = st.session_state.get("key")
    st.write(session_memo.remembered("thing", key, lambda: calls.append(key) or len(calls)))


def test_remembered_computes_again_only_for_a_new_key_or_language() -> None:
    from app import i18n

    page = AppTest.from_function(remembering_page)
    page.session_state["key"] = 1
    page.session_state[i18n._STATE_KEY] = "en"
    page.run()
    page.run()
    assert page.session_state["calls"] == [1]
    page.session_state["key"] = 2
    page.run()
    assert page.session_state["calls"] == [1, 2]
    page.session_state[i18n._STATE_KEY] = "ko"  # the same key in another language: the tables speak it
    page.run()
    assert page.session_state["calls"] == [1, 2, 2]
    page.session_state["key"] = None  # not to be remembered
    page.run()
    page.run()
    assert page.session_state["calls"] == [1, 2, 2, None, None]


def test_versions_of_runs_change_with_what_a_view_shows_and_are_none_while_one_trains(tmp_path: Path) -> None:
    from app.session_memo import record_versions

    store = RunStore(tmp_path)
    run_id = store.create_run(TrainConfig(), name="a")
    store.set_status(run_id, "completed")
    ended = store.get(run_id)
    versions = record_versions([ended])
    assert versions is not None and versions == record_versions([store.get(run_id)])
    assert record_versions([dataclasses.replace(ended, name="b")]) != versions  # renamed
    assert record_versions([dataclasses.replace(ended, owner_name="Ann")]) != versions
    store.set_status(run_id, "running")
    assert record_versions([ended, store.get(run_id)]) is None
