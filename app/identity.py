"""Who uses this browser, without a login server: a secret token in a cookie, the identities table, a typed name.

The token (192 bits from `secrets`) lives in a cookie the browser keeps; the database (mnist_core.runs.identities)
keeps only its hash and says whose it is. The token is never part of a URL, a link or the page's text: a URL lands in
browser history, on the projector, in "copy link" and in the class chat, and whoever opened a URL holding a token
became that student. The cookie is written by a script in the page, because Streamlit's Tornado server gives an app
no way to set a response header; so it cannot be HttpOnly. It is first-party and SameSite=Strict (no other site's
page or link makes the browser send it), Path=/ (every page of the app reads the same one), and not Secure (a
classroom server is often plain http on the school's network, where a Secure cookie would never be stored). The
script removes itself once run, so the token does not stay in the page.

On a session's first look: a live token in the cookie is this browser's identity; an unknown well-formed one comes
from before the identities table and is registered under the owner its runs already have. Only a browser that is
nobody yet honours an old bookmark's `?me=` (and its `?who=`); app.navigation then removes both from the address
bar, and in a browser that is already someone they change nothing, so a link holding another student's token can
no longer turn anyone into them. A token withdrawn meanwhile ("give me a new one", on any computer) stops the page
with a message to reload. "I am someone else" starts a new identity on a shared computer; "Move to another
computer" shows the recovery code that gives another browser this identity (see `transfer_box`).

Runs record `owner_id`, a public hash: a run list or a CSV export can show it without letting anyone act as that
student. Asking for a name never blocks: until the student types one they are "Student 4821", the number taken from
their owner id so it stays the same across reloads.
"""

from __future__ import annotations

import time

import streamlit as st

from app import resources, teacher
from app.i18n import LANGUAGES, _, use_language
from mnist_core.runs.identities import Identities, legacy_owner_id, parse_code, well_formed
from mnist_core.runs.permissions import Actor

TOKEN_PARAM, NAME_PARAM = "me", "who"  # old bookmarks' parameters: read once, removed, never written again
LEGACY_PARAMS = (TOKEN_PARAM, NAME_PARAM)
COOKIE = "mnist_playground_me"
CODE_COOKIE = "mnist_playground_code"  # the recovery code, so every session of this browser can show it again
COOKIE_MAX_AGE_S = 365 * 24 * 3600
MAX_NAME_LENGTH = 40
MASKED_CODE = "••••-••••-••••"
_TOKEN_KEY, _OWNER_KEY, _NAME_KEY = "identity_token", "identity_owner", "identity_name"
# The recovery code this session knows: missing = not looked at yet (the cookie's, if any), "" = none.
_CODE_KEY = "identity_code"
_WRITTEN_KEY, _MESSAGE_KEY = "identity_cookies_written", "identity_message"
_CHECKED_KEY = "identity_token_checked"  # time.monotonic() of the token's last check in this session
# A rerun asks for the owner several times (sidebar, page, permission checks); one database read answers them all.
# A token withdrawn on another computer stops acting here within this many seconds.
TOKEN_RECHECK_S = 1.0
_MARKDOWN = "[]()<>*_`~#|\\$:!{}"


def owner_id_of(secret: str) -> str:
    """The owner_id of a token's own identity (its first token): "s-" + part of its SHA-256."""
    return legacy_owner_id(secret)


def _identities() -> Identities:
    return Identities(resources.store())


def _first_look() -> None:
    """Settle this session's identity: the cookie's, else an old bookmark's (only for a browser that is nobody yet),
    else a new one; and its name: the stored one, else an old bookmark's `?who=`."""
    ids, state = _identities(), st.session_state
    token = st.context.cookies.get(COOKIE)
    owner = ids.accept(token) if well_formed(token) else None
    bookmark = st.query_params.get(TOKEN_PARAM)
    if owner is None and well_formed(bookmark):
        token, owner = bookmark, ids.accept(bookmark)
    if owner is None:
        token, owner = ids.create()
    state[_TOKEN_KEY], state[_OWNER_KEY] = token, owner
    state[_NAME_KEY] = ids.name(owner) or _old_name(ids, owner, bookmark)


def _old_name(ids: Identities, owner: str, bookmark: str | None) -> str:
    """An old bookmark's `?who=`, kept as the name of a student who has none yet; ignored when the bookmark's
    `?me=` was someone else's (a link of another student's must not rename this one)."""
    name = clean_name(st.query_params.get(NAME_PARAM, ""))
    if not name or (bookmark is not None and ids.resolve(bookmark) != owner):
        return ""
    ids.set_name(owner, name)
    return name


def owner_id() -> str:
    """This browser's owner_id. Its token is checked again (one read) once TOKEN_RECHECK_S passed since the last
    check: a token withdrawn by "give me a new one" on another computer must not keep acting in a session opened
    before."""
    state = st.session_state
    if _OWNER_KEY not in state:
        _first_look()
    if time.monotonic() - state.get(_CHECKED_KEY, -TOKEN_RECHECK_S) < TOKEN_RECHECK_S:
        return state[_OWNER_KEY]
    if _identities().resolve(state[_TOKEN_KEY]) is None:
        state.pop(_CHECKED_KEY, None)
        st.warning(_("This browser's identity was replaced with “give me a new one”, here or on another computer. "
                     "Reload the page. If that happened on another computer, enter your new recovery code under "
                     "“Move to another computer”."))
        st.stop()
    state[_CHECKED_KEY] = time.monotonic()
    return state[_OWNER_KEY]


def default_name(owner: str) -> str:
    """E.g. "Student 4821": the same number on every visit of the same browser."""
    return _("Student {number}", number=1000 + int(owner[2:10], 16) % 9000)


def shown_owner_name(owner: str | None, stored: str | None) -> str | None:
    """The name a run's owner is shown by: the one they typed, as stored; a default name ("Student 4821") in the
    reader's language, whatever language the owner's page spoke when the run stored it ("학생 4821")."""
    if not owner or not stored:
        return stored
    try:
        defaults = set()
        for code in LANGUAGES:
            with use_language(code):
                defaults.add(default_name(owner))
    except ValueError:  # an owner id that is not hexadecimal (the command line's): it has no default name
        return stored
    return default_name(owner) if stored in defaults else stored


def clean_name(text: str) -> str:
    """A typed name as stored: one line, spaces collapsed, at most MAX_NAME_LENGTH characters, without the
    characters Markdown would act on (names are shown in captions: "[x](http://...)" must not become a link)."""
    plain = str(text).translate({ord(c): " " for c in _MARKDOWN})
    return " ".join(plain.split())[:MAX_NAME_LENGTH]


def typed_name() -> str:
    """The name the student typed ("" until they do)."""
    if _NAME_KEY not in st.session_state:
        _first_look()
    return st.session_state[_NAME_KEY]


def current_actor() -> Actor:
    """Who acts in this browser session: its owner id and name, and whether teacher mode is unlocked here."""
    owner = owner_id()  # the token's one check for this call
    return Actor(owner, typed_name() or default_name(owner), is_teacher=teacher.unlocked(owner))


def _cookie_script(name: str, value: str) -> str:
    # Values are tokens (URL-safe characters) or codes (A-Z, 2-9 and "-"): nothing can break out of the string.
    life = COOKIE_MAX_AGE_S if value else 0
    return f"document.cookie = '{name}={value}; path=/; max-age={life}; SameSite=Strict';"


def keep_in_cookie() -> None:
    """Write the token and the recovery code this session knows into the browser's cookies when they differ from
    what the browser sent (a first visit, a new identity, a rotation, a recovered one), once each."""
    state = st.session_state
    sent = (st.context.cookies.get(COOKIE), st.context.cookies.get(CODE_COOKIE))
    wanted = (state[_TOKEN_KEY], state.get(_CODE_KEY, sent[1]))
    if state.get(_WRITTEN_KEY, sent) == wanted:
        return
    state[_WRITTEN_KEY] = wanted
    script = _cookie_script(COOKIE, wanted[0]) + _cookie_script(CODE_COOKIE, wanted[1] or "")
    # The script takes itself out of the page once run: the token must not stay in the page's HTML.
    st.html(f"<script>{script} document.currentScript.remove();</script>", unsafe_allow_javascript=True)


def _switch_to(token: str, owner: str, code: str, name: str = "") -> None:
    """This browser becomes `owner` with `token` (written into the cookie on the next run)."""
    state = st.session_state
    state[_TOKEN_KEY], state[_OWNER_KEY], state[_CODE_KEY] = token, owner, code
    state[_NAME_KEY] = state["identity_name_box"] = name
    state["identity_show_code"] = False


def _start_over() -> None:
    """A new identity on this browser (a shared school computer): a fresh token, no name, no code."""
    _switch_to(*_identities().create(), code="")
    if teacher.enabled():
        teacher.leave()  # the next person at this computer is not the teacher


def _rename_me() -> None:
    name = clean_name(st.session_state.get("identity_name_box", ""))
    st.session_state[_NAME_KEY] = name
    me = owner_id()
    _identities().set_name(me, name, shown=name or default_name(me))


def name_box() -> None:
    """The sidebar's "Your name": asked for, never required; changeable at any time. Then "I am someone else",
    "Move to another computer", and the script that keeps the identity in the browser's cookies."""
    name = typed_name()
    me = owner_id()
    st.session_state.setdefault("identity_name_box", name)
    st.sidebar.text_input(_("Your name"), key="identity_name_box", max_chars=MAX_NAME_LENGTH, on_change=_rename_me,
                          placeholder=default_name(me),
                          help=_("Shown to your teacher and classmates beside your runs."))
    if not name:
        st.sidebar.caption(_("Type your name so your teacher can find your runs. Until then you are {name}.",
                             name=default_name(me)))
    st.sidebar.button(_("I am someone else"), on_click=_start_over, key="identity_start_over", type="tertiary",
                      help=_("On a shared computer: start as a new student, with no runs and no name."))
    transfer_box()
    with st.sidebar:
        keep_in_cookie()


# -- moving to another computer ----------------------------------------------------------------------------------


def _code_to_show() -> tuple[str, str | None]:
    """This identity's recovery code as this browser knows it, else a new one; and a note when a new one replaced
    a code this browser did not know (made on another computer)."""
    state, ids, me = st.session_state, _identities(), owner_id()
    if _CODE_KEY not in state or state.get("identity_code_checked") != state[_CODE_KEY]:
        known = state.get(_CODE_KEY, st.context.cookies.get(CODE_COOKIE)) or ""
        state[_CODE_KEY] = known if known and ids.code_matches(me, known) else ""  # slow hash: once a session
        state["identity_code_checked"] = state[_CODE_KEY]
    if state[_CODE_KEY]:
        return state[_CODE_KEY], None
    replaced = ids.has_code(me)
    state[_CODE_KEY] = state["identity_code_checked"] = ids.make_code(me)
    return state[_CODE_KEY], (_("This computer did not know your code, so this is a new one: the old code no "
                                "longer works.") if replaced else None)


def _recover() -> None:
    state = st.session_state
    typed = state.get("identity_code_box", "")
    result = _identities().recover(typed)
    if result.malformed:
        state[_MESSAGE_KEY] = ("error", _("A recovery code has 12 letters and digits, like ABCD-EFGH-JKLM. "
                                          "Check it and try again."))
    elif result.wait_s:
        state[_MESSAGE_KEY] = ("error", _("Too many wrong codes were tried. Wait {seconds} seconds and try again.",
                                          seconds=int(result.wait_s) + 1))
    elif result.token is None:
        state[_MESSAGE_KEY] = ("error", _("That code is not right. Check it on your other computer and try again."))
    else:
        if teacher.enabled() and result.owner_id != state.get(_OWNER_KEY):
            teacher.leave()  # teacher mode belonged to the identity this browser had
        name = _identities().name(result.owner_id)
        _switch_to(result.token, result.owner_id, code=parse_code(typed) or "", name=name)
        state[_MESSAGE_KEY] = ("success", _("Welcome back, {name}: this browser now has your runs and your name.",
                                            name=name or default_name(result.owner_id)))


def _rotate() -> None:
    token, code = _identities().rotate(owner_id())
    state = st.session_state
    state[_TOKEN_KEY], state[_CODE_KEY] = token, code
    state["identity_show_code"] = False
    state[_MESSAGE_KEY] = ("success", _("Done: this browser has a new identity and your runs are still yours. Every "
                                        "other computer that was you is signed out, and your recovery code is new."))


def transfer_box() -> None:
    """The sidebar's "Move to another computer": this identity's recovery code (masked until asked for, then
    copyable), a box for a code from another computer (Enter sends it), and a new identity after a leak."""
    message = st.session_state.pop(_MESSAGE_KEY, None)
    with st.sidebar.expander(_("Move to another computer"), icon=":material/devices:", expanded=message is not None):
        if message:
            getattr(st, message[0])(message[1])
        st.caption(_("Your recovery code brings your runs and your name to another computer or browser. Keep it "
                     "to yourself, like a password."))
        if st.toggle(_("Show my recovery code"), key="identity_show_code"):
            code, note = _code_to_show()
            st.code(code, language=None)
            if note:
                st.caption(note)
        else:
            st.markdown(f"`{MASKED_CODE}`")
        with st.form("identity_recover_form", clear_on_submit=True, border=False):
            st.text_input(_("Code from your other computer"), key="identity_code_box", placeholder="••••-••••-••••",
                          max_chars=24, autocomplete="off")
            st.form_submit_button(_("Use this code"), on_click=_recover)
        st.button(_("My identity may have leaked: give me a new one"), on_click=_rotate, key="identity_rotate",
                  help=_("Your runs and your name stay yours. Every other computer that is you is signed out, and "
                         "you get a new recovery code."))
