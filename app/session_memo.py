"""What a page derives from data that rarely changes (a pandas table, a CSV file), kept in the browser session while
its inputs stay the same. A class's students rerun Compare every few seconds; rebuilding the same tables and CSV
files each time was a quarter of that page's work on the server."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import streamlit as st

from app import i18n
from mnist_core.runs.record import RunRecord

T = TypeVar("T")
_MEMO_KEY = "session_memo"  # name -> (key, value)


def remembered(name: str, key: Hashable | None, compute: Callable[[], T]) -> T:
    """`compute()`, or what it gave this session last time for the same `key` (the page's language is part of it:
    the tables speak it). A key of None: computed every time."""
    if key is None:
        return compute()
    memo: dict[str, tuple[Hashable, object]] = st.session_state.setdefault(_MEMO_KEY, {})
    key = (i18n.language(), key)
    if name not in memo or memo[name][0] != key:
        memo[name] = (key, compute())
    return memo[name][1]


def record_versions(records: Sequence[RunRecord]) -> tuple | None:
    """What a view of ended runs shows changes only with these: a run's name, status, results and owner's name.
    None while one of them is queued or training: it changes with every look."""
    if any(r.is_active for r in records):
        return None
    return tuple((r.id, r.name, r.status, r.finished, r.test_accuracy, r.owner_name) for r in records)
