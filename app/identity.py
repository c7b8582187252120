"""Who uses this browser, without a login server: a secret token in the URL and a name the student types.

On the first visit the app draws a random token (192 bits from `secrets`) and writes it into the URL as `?me=`; the
name goes in `?who=`. A reload, a bookmark or a server restart keeps both, since they travel with the address, not
the server's memory. The token is also kept in a cookie, so a link without it (the teacher's shared settings, a
typed address) still opens as the same student; the URL wins when both are there, and "I am someone else" on a
shared computer starts a new identity. The token is never shown and never part of a link the app offers to share (share links are
built from their own parameters only). Runs record `owner_id`, a hash of the token: a run list or a CSV export
can show it without letting anyone act as that student. Asking for a name never blocks: until the student types
one they are "Student 4821", the number taken from their owner id so it stays the same across reloads.
"""

from __future__ import annotations

import hashlib
import re
import secrets

import streamlit as st

from app import resources, teacher
from app.i18n import _
from mnist_core.actors import Actor

TOKEN_PARAM = "me"
NAME_PARAM = "who"
TOKEN_BYTES = 24  # 192 bits: not guessable, and 32 URL-safe characters
MAX_NAME_LENGTH = 40
_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32,64}")
_TOKEN_KEY, _NAME_KEY = "identity_token", "identity_name"
COOKIE = "mnist_playground_me"
_MARKDOWN = "[]()<>*_`~#|\\$:!{}"
COOKIE_MAX_AGE_S = 365 * 24 * 3600


def token() -> str:
    """This browser's secret token: kept in the session, else read from the URL, else a new random one."""
    value = st.session_state.get(_TOKEN_KEY)
    if value is None:
        candidates = (st.query_params.get(TOKEN_PARAM), st.context.cookies.get(COOKIE))
        valid = [c for c in candidates if isinstance(c, str) and _TOKEN_PATTERN.fullmatch(c)]
        value = valid[0] if valid else secrets.token_urlsafe(TOKEN_BYTES)
        st.session_state[_TOKEN_KEY] = value
    return value


def keep_in_cookie() -> None:
    """Once per session, store the token in a first-party cookie (JavaScript: Streamlit cannot set cookies)."""
    if st.session_state.get("identity_cookie_written") == token():
        return
    st.session_state["identity_cookie_written"] = token()
    # The token matches _TOKEN_PATTERN (URL-safe characters only), so it cannot break out of the string.
    st.html(f"<script>document.cookie = '{COOKIE}={token()}; path=/; max-age={COOKIE_MAX_AGE_S}; SameSite=Strict';"
            "</script>", unsafe_allow_javascript=True)


def _start_over() -> None:
    """A new identity on this browser (a shared school computer): a fresh token, no name."""
    st.session_state[_TOKEN_KEY] = secrets.token_urlsafe(TOKEN_BYTES)
    st.session_state[_NAME_KEY] = ""
    st.session_state["identity_name_box"] = ""
    if teacher.enabled():
        teacher.leave()  # the next person at this computer is not the teacher


def owner_id_of(secret: str) -> str:
    """The public id runs record: a hash of the token, so knowing it does not let anyone act as the student."""
    return "s-" + hashlib.sha256(secret.encode()).hexdigest()[:24]


def default_name(owner_id: str) -> str:
    """E.g. "Student 4821": the same number on every visit of the same browser."""
    return _("Student {number}", number=1000 + int(owner_id[2:10], 16) % 9000)


def clean_name(text: str) -> str:
    """A typed name as stored: one line, spaces collapsed, at most MAX_NAME_LENGTH characters, without the
    characters Markdown would act on (names are shown in captions: "[x](http://...)" must not become a link)."""
    plain = str(text).translate({ord(c): " " for c in _MARKDOWN})
    return " ".join(plain.split())[:MAX_NAME_LENGTH]


def typed_name() -> str:
    """The name the student typed ("" until they do), from the session or the URL."""
    if _NAME_KEY not in st.session_state:
        st.session_state[_NAME_KEY] = clean_name(st.query_params.get(NAME_PARAM, ""))
    return st.session_state[_NAME_KEY]


def display_name() -> str:
    return typed_name() or default_name(owner_id_of(token()))


def current_actor() -> Actor:
    """Who acts in this browser session: its owner id and name, and whether teacher mode is unlocked here."""
    owner_id = owner_id_of(token())
    return Actor(owner_id, display_name(), is_teacher=teacher.unlocked(owner_id))


def url_params() -> dict[str, str]:
    """The token and the typed name as the URL keeps them (app.navigation writes them): `?me=...&who=...`."""
    name = typed_name()
    return {TOKEN_PARAM: token(), **({NAME_PARAM: name} if name else {})}


def _rename_me() -> None:
    name = clean_name(st.session_state.get("identity_name_box", ""))
    st.session_state[_NAME_KEY] = name
    me = owner_id_of(token())
    resources.store().set_owner_name(me, name or default_name(me))


def name_box() -> None:
    """The sidebar's "Your name": asked for, never required; changeable at any time."""
    name = typed_name()
    st.session_state.setdefault("identity_name_box", name)
    st.sidebar.text_input(_("Your name"), key="identity_name_box", max_chars=MAX_NAME_LENGTH, on_change=_rename_me,
                          placeholder=default_name(owner_id_of(token())),
                          help=_("Shown to your teacher and classmates beside your runs."))
    if not name:
        st.sidebar.caption(_("Type your name so your teacher can find your runs. Until then you are {name}.",
                             name=default_name(owner_id_of(token()))))
    st.sidebar.button(_("I am someone else"), on_click=_start_over, key="identity_start_over", type="tertiary",
                      help=_("On a shared computer: start as a new student, with no runs and no name."))
    with st.sidebar:
        keep_in_cookie()
