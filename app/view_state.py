"""What a page shows, kept in its URL: a reload (a new browser session) comes back to the same runs and choices.

A page names the session-state keys of its view and how each reads from and writes to text (a `Codec`). `restore`
copies the URL's values into the session once, on the session's first run of the page, before its widgets are
drawn; `remember` writes the current values back into the URL. A value that does not parse (a hand-edited URL) is
ignored and the page shows its default. The identity and language parameters are kept by their own modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

_FIRST_SEEN_KEY = "view_state_first_seen"  # each key's value when the page first drew it
_RESTORED_KEY = "view_state_restored"


@dataclass(frozen=True)
class Codec:
    """How one view value reads from (`parse`, ValueError when it cannot) and writes to (`dump`) URL text."""

    parse: Callable[[str], Any]
    dump: Callable[[Any], str]


def _whole(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):
        raise ValueError(text)
    return value


def choice(options: Iterable[Any]) -> Codec:
    """One of `options` (compared as text, so ints and strings both work)."""
    by_text = {str(o): o for o in options}

    def parse(text: str) -> Any:
        if text not in by_text:
            raise ValueError(text)
        return by_text[text]

    return Codec(parse, str)


def choices(options: Iterable[Any]) -> Codec:
    """Several of `options`, comma-separated."""
    one = choice(options)
    return Codec(lambda text: [one.parse(p) for p in text.split(",") if p], lambda values: ",".join(map(str, values)))


WHOLE = Codec(_whole, str)
NUMBER = Codec(_positive_float, lambda v: f"{float(v):g}")
WHOLE_LIST = Codec(lambda text: [_whole(p) for p in text.split(",") if p], lambda values: ",".join(map(str, values)))
MODEL = Codec(lambda text: text if text == "default" else _whole(text), str)  # the Draw page's model keys


def restore(params: Mapping[str, Codec]) -> None:
    """Copy the URL's values of these keys into the session, once per session (call before the widgets)."""
    done: set[str] = st.session_state.setdefault(_RESTORED_KEY, set())
    for key, codec in params.items():
        if key in done:
            continue
        done.add(key)
        raw = st.query_params.get(key)
        if raw is None:
            continue
        try:
            st.session_state[key] = codec.parse(raw)
        except (ValueError, TypeError):
            pass  # a hand-edited or stale value: the page's default stands


def remember(params: Mapping[str, Codec]) -> None:
    """Write these keys' values into the URL once the student has changed them (or a link brought them), in one
    message: every change of the query string is a browser-history entry, so a page left as it opened adds none
    and one press of Back still leaves it."""
    first_seen: dict[str, str] = st.session_state.setdefault(_FIRST_SEEN_KEY, {})
    current = st.query_params.to_dict()
    updated = dict(current)
    for key, codec in params.items():
        value = st.session_state.get(key)
        text = "" if value is None else codec.dump(value)
        opened_with = first_seen.setdefault(key, text)
        if text and (text != opened_with or key in current):
            updated[key] = text
        elif not text:
            updated.pop(key, None)
    if updated != current:
        st.query_params.from_dict(updated)


MODEL_LIST = Codec(lambda text: [MODEL.parse(p) for p in text.split(",") if p], lambda values: ",".join(map(str, values)))
