"""What a page shows, kept in its URL: a reload (a new browser session) comes back to the same runs and choices.

A page names the session-state keys of its view and how each reads from and writes to text (a `Codec`). `restore`
copies the URL's values into the session once, on the session's first run of the page, before its widgets are
drawn; `remember` writes the current values back into the URL. A value that does not parse (a hand-edited URL) is
ignored and the page shows its default. The identity and language parameters are kept by their own modules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from app.i18n import _

_FIRST_SEEN_KEY = "view_state_first_seen"  # each key's value when the page first drew it
_RESTORED_KEY = "view_state_restored"
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class Codec:
    """How one value reads from (`parse`: ValueError with the reason in the student's words, when it cannot) and
    writes to (`dump`) URL text. The one place that knows how each kind of value stands in a URL: the page views
    here and the Train form's settings (share_link) both use these."""

    parse: Callable[[str], Any]
    dump: Callable[[Any], str]


def choice(options: Iterable[Any]) -> Codec:
    """One of `options` (compared as text, so ints and strings both work)."""
    by_text = {str(o): o for o in options}

    def parse(text: str) -> Any:
        if text not in by_text:
            raise ValueError(_("use one of: {options}", options=", ".join(o for o in by_text if o)))
        return by_text[text]

    return Codec(parse, str)


def several(one: Codec) -> Codec:
    """A comma-separated list of values that each read and write as `one`."""
    return Codec(lambda text: [one.parse(p) for p in text.split(",") if p],
                 lambda values: ",".join(one.dump(v) for v in values))


def choices(options: Iterable[Any]) -> Codec:
    """Several of `options`, comma-separated."""
    return several(choice(options))


def whole(least: int = 0) -> Codec:
    """A whole number, `least` or more."""

    def parse(text: str) -> int:
        return _at_least(_converted(int, text, _("it is not a whole number")), least)

    return Codec(parse, str)


def number(least: float = 0, as_shown: bool = False) -> Codec:
    """A finite number, `least` or more. Written with every digit, so a link gives back the very value; `as_shown`:
    as a `format="%g"` box shows it (six significant digits, "1" for 1.0)."""

    def parse(text: str) -> float:
        value = _converted(float, text, _("it is not a number"))
        if not math.isfinite(value):
            raise ValueError(_("it is not a number"))
        return _at_least(value, least)

    return Codec(parse, (lambda v: f"{float(v):g}") if as_shown else str)


def _converted(convert: Callable[[str], Any], text: str, reason: str) -> Any:
    try:
        return convert(text)
    except ValueError:
        raise ValueError(reason) from None


def _at_least(value: Any, least: float) -> Any:
    if value < least:
        raise ValueError(_("it must be at least {least}", least=least))
    return value


def _flag(text: str) -> bool:
    if text.lower() not in _TRUE + _FALSE:
        raise ValueError(_("use true or false"))
    return text.lower() in _TRUE


def _layers_text(value: Any) -> str:
    # "256, 256" or (256, 256) -> "256,256"; the form's other spellings ("256 256") keep their parts.
    parts = value if isinstance(value, (tuple, list)) else re.split(r"[,\s]+", str(value))
    return ",".join(str(p) for p in parts if str(p))


WHOLE = whole()
NUMBER = number(as_shown=True)
WHOLE_LIST = several(WHOLE)
FLAG = Codec(_flag, lambda value: "true" if value else "false")
# Layer sizes as the Train form shows them ("256, 256"); the config checks the sizes themselves.
LAYERS = Codec(lambda text: text.replace(",", ", "), _layers_text)
MODEL = Codec(lambda text: text if text == "default" else WHOLE.parse(text), str)  # the Draw page's model keys
MODEL_LIST = several(MODEL)


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

