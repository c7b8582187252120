"""Widget values the app sets itself (a preset filling the Train form), held until the browser has them.

Streamlit sends a widget's new value to the browser while the page reruns, and every rerun request from the
browser carries the values the browser holds for all widgets. A student who edits another box before that rerun
reached their browser (a busy class server takes a second or two) sends the browser's older values back with
the edit, and they win: picking the softmax-sgd preset and at once typing the epochs brought back "256, 256" and
adam. So a value the app sets is remembered with the value it replaced; on a later run, the replaced value coming
back means a stale browser (the app's value is put back), the app's value coming back means the browser has it
(forgotten), and anything else is the student's own edit (kept, forgotten).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

_PENDING_KEY = "pending_widget_values"  # widget key -> [replaced value, app's value, seen by a later run]


def set_widget(key: str, value: Any) -> None:
    """Set a widget's value from a callback (before the widget is drawn), held until the browser has it."""
    old = st.session_state.get(key)
    st.session_state[key] = value
    pending: dict[str, list[Any]] = st.session_state.setdefault(_PENDING_KEY, {})
    if old != value:
        pending[key] = [old, value, False]
    else:
        pending.pop(key, None)


def hold() -> None:
    """Put back app-set values that a stale browser overwrote; call at the top of the page, before its widgets."""
    pending: dict[str, list[Any]] = st.session_state.get(_PENDING_KEY, {})
    for key, entry in list(pending.items()):
        replaced, wanted, seen = entry
        current = st.session_state.get(key)
        if current == wanted and not seen:  # the run the callback started: the browser has not answered yet
            entry[2] = True
        elif current == replaced:  # the browser sent its old value: it had not received the app's
            st.session_state[key] = wanted
            entry[2] = True
        else:  # the browser holds the app's value, or the student edited the box since: theirs stands
            del pending[key]
