"""The translation layer: every text a student sees goes through `_()` (or `ngettext()`), in the session's language.

Catalogs are gettext `.po` files managed with Babel (`app/locale/<lang>/LC_MESSAGES/*.po`, keyed by the English
text), compiled in memory when the process first needs them, so no build step can be forgotten. Every `.po` file
of a language is loaded: one domain per part of the app (`messages` for the pages, `lessons` for /learn), all
looked up as one catalog. Placeholders are named (`_("{epochs} epochs", epochs=3)`), never glued fragments.

The language: `?lang=ko|en` in the URL, else the browser's language on the first visit (`st.context.locale`),
kept in the session and written back to the URL, so a reload or a shared link keeps it; the sidebar's switch
(`language_switch`) changes it for this browser session only. Outside a browser session (unit tests, the CLI) the
text is English unless a test asks for another language with `use_language("ko")`.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext
import io
import time
from collections.abc import Iterator
from pathlib import Path

import streamlit as st
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app import particles

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = {"ko": "한국어", "en": "English"}
SOURCE_LANGUAGE = "en"  # msgids are the English text
DEFAULT_LANGUAGE = "ko"  # the course's students are Korean: a browser that says nothing gets Korean
QUERY_KEY = "lang"
_STATE_KEY = "i18n_language"
_ENGLISH = gettext.NullTranslations()
RECHECK_S = 2.0  # how often the .po files are looked at for changes
_checked: dict[str, tuple[float, gettext.NullTranslations]] = {}  # language -> (when its files were looked at, them)
_SWITCH_KEY = "i18n_switch"
_FORCED: contextvars.ContextVar[str | None] = contextvars.ContextVar("i18n_forced_language", default=None)


def catalog_files(language: str) -> list[Path]:
    """Every domain's `.po` file of `language` (messages.po, lessons.po, ...), in a stable order."""
    return sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po"))


def translations(language: str) -> gettext.NullTranslations:
    """Every domain's catalog of `language` as one gettext translation (NullTranslations for English).
    Reloaded when a `.po` file changes, so a fixed translation shows on the next rerun without a restart."""
    if language == SOURCE_LANGUAGE:
        return _ENGLISH
    checked = _checked.get(language)
    if checked is None or time.monotonic() - checked[0] >= RECHECK_S:  # _() runs hundreds of times a page
        stamps = tuple((path, path.stat().st_mtime_ns) for path in catalog_files(language))
        checked = _checked[language] = (time.monotonic(), _load(language, stamps))
    return checked[1]


@functools.cache
def _load(language: str, files: tuple[tuple[Path, int], ...]) -> gettext.NullTranslations:
    merged: gettext.NullTranslations = gettext.NullTranslations()
    for po_path, _stamp in files:
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=language)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        domain = gettext.GNUTranslations(buffer)
        domain.add_fallback(merged)
        merged = domain
    return merged


def _from_locale(locale: str | None) -> str | None:
    code = (locale or "").split("-")[0].split("_")[0].lower()
    return code if code in LANGUAGES else None


def language() -> str:
    """The session's language: chosen in the sidebar, else `?lang=`, else the browser's, else Korean."""
    forced = _FORCED.get()
    if forced is not None:
        return forced
    if get_script_run_ctx(suppress_warning=True) is None:  # no browser session (a unit test, a bare import)
        return SOURCE_LANGUAGE
    chosen = st.session_state.get(_STATE_KEY)
    if chosen in LANGUAGES:
        return chosen
    from_url = st.query_params.get(QUERY_KEY)
    chosen = from_url if from_url in LANGUAGES else None
    chosen = chosen or _from_locale(st.context.locale) or DEFAULT_LANGUAGE
    st.session_state[_STATE_KEY] = chosen
    return chosen


@contextlib.contextmanager
def use_language(code: str) -> Iterator[None]:
    """Outside a browser session (tests, scripts): `_()` and friends speak `code` inside the `with` block."""
    if code not in LANGUAGES:
        raise ValueError(f"unknown language {code!r}; choose one of {', '.join(LANGUAGES)}")
    token = _FORCED.set(code)
    try:
        yield
    finally:
        _FORCED.reset(token)


def set_language(code: str) -> None:
    """Switch this session's language (app.navigation keeps it in the URL as `?lang=`)."""
    if code not in LANGUAGES:
        raise ValueError(f"unknown language {code!r}; choose one of {', '.join(LANGUAGES)}")
    st.session_state[_STATE_KEY] = code


def _switched() -> None:
    set_language(st.session_state[_SWITCH_KEY])


def language_switch() -> None:
    """The sidebar's 한국어 / English switch. Its label names both languages, so either reader finds it."""
    st.session_state[_SWITCH_KEY] = language()  # follows ?lang= and the browser's language on a first visit
    st.sidebar.segmented_control("언어 · Language", list(LANGUAGES), format_func=LANGUAGES.get, key=_SWITCH_KEY,
                                 on_change=_switched, selection_mode="single", required=True)


def _fill(text: str, fallback: str, values: dict[str, object]) -> str:
    # A translation whose placeholders do not match (tests/test_i18n.py forbids it) shows the English text
    # rather than a KeyError on the student's screen.
    # Particle pairs after a placeholder ("{n}이(가)") are resolved for the value filled in (app.particles).
    try:
        return particles.fill(text, values)
    except (KeyError, IndexError, ValueError, AttributeError):
        return fallback.format(**values)


def _(message: str, **values: object) -> str:
    """`message` in the session's language, its `{named}` placeholders filled from `values`."""
    text = translations(language()).gettext(message)
    return _fill(text, message, values) if values else text


def ngettext(singular: str, plural: str, n: int, **values: object) -> str:
    """The singular or plural form for `n` (Korean has one form), with `{n}` and `values` filled in."""
    text = translations(language()).ngettext(singular, plural, n)
    return _fill(text, singular if n == 1 else plural, {"n": number(n), **values})


def N_(message: str) -> str:
    """Marks a text for extraction where it is defined (e.g. a constant); `_()` translates it where shown."""
    return message


def number(value: float, digits: int | None = None) -> str:
    """A number in the session's language's style (1,234.5); `digits` fixes the decimals."""
    pattern = None if digits is None else "#,##0." + "0" * digits if digits > 0 else "#,##0"
    return format_decimal(value, format=pattern, locale=language())


def percent(fraction: float, digits: int = 1) -> str:
    """0.9791 -> "97.9%" (digits after the point)."""
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "") + "%"
    return format_percent(fraction, format=pattern, locale=language())
