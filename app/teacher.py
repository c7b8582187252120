"""Teacher mode: with MNIST_PLAYGROUND_TEACHER_KEY set on the server, the key typed in the sidebar unlocks this
browser's teacher powers (stop, rename, delete any run; caps per student; the class's reference model).

The key is compared in constant time (hmac.compare_digest) and at most MAX_TRIES tries per minute are allowed from
one address, so it cannot be guessed by trying. Without the variable there is no teacher mode and nothing shows.
Teacher mode lasts until "Leave teacher mode": a reload or a new tab of the same browser keeps it through a cookie
holding a pass, an HMAC of the browser's identity under the key. The key itself is never stored; a pass is worth
nothing in another browser (another identity) or once the server's key changes.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import deque

import streamlit as st

from app import resources
from app.i18n import _
from app.run_views import run_label
from mnist_core import settings
from mnist_core.actors import Actor, ClassRules, NotPermitted, load_rules, save_rules

MAX_TRIES = 5
WINDOW_S = 60.0
_STATE_KEY = "teacher_unlocked"
COOKIE = "mnist_playground_teacher"
COOKIE_MAX_AGE_S = 12 * 3600  # a school day: a teacher's computer left on does not stay unlocked for weeks


class TryLimiter:
    """At most `limit` tries per `window_s` seconds per client, across every session of this process."""

    def __init__(self, limit: int = MAX_TRIES, window_s: float = WINDOW_S) -> None:
        self.limit, self.window_s = limit, window_s
        self._tries: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str, now: float | None = None) -> float:
        """0 when a try is allowed now (and counted), else the seconds until the next one is."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tries = self._tries.setdefault(client, deque())
            while tries and now - tries[0] >= self.window_s:
                tries.popleft()
            if len(tries) >= self.limit:
                return self.window_s - (now - tries[0])
            tries.append(now)
            return 0.0


_LIMITER = TryLimiter()  # module level: shared by every browser session this server process serves


def enabled() -> bool:
    return settings.teacher_key() is not None


def unlocked(owner_id: str) -> bool:
    """Whether this browser entered the right key (and the server still has teacher mode): in this session, or
    earlier with the pass for this identity still in its cookie."""
    if not enabled():
        return False
    if _STATE_KEY not in st.session_state:  # the session's first look: a reload or a new tab
        cookie = st.context.cookies.get(COOKIE)
        st.session_state[_STATE_KEY] = isinstance(cookie, str) and hmac.compare_digest(cookie, pass_for(owner_id))
    return bool(st.session_state[_STATE_KEY])


def pass_for(owner_id: str) -> str:
    """What the cookie holds for this identity: HMAC-SHA256 of it under the teacher key (hex, safe in a cookie)."""
    key = settings.teacher_key() or ""
    return hmac.new(key.encode(), f"teacher:{owner_id}".encode(), hashlib.sha256).hexdigest()


def key_matches(typed: str) -> bool:
    expected = settings.teacher_key()
    return expected is not None and hmac.compare_digest(typed.encode(), expected.encode())


def _client() -> str:
    return st.context.ip_address or "unknown"  # None in a test without a browser: one shared allowance


def _try_key() -> None:
    typed = st.session_state.get("teacher_key_box", "")
    st.session_state["teacher_key_box"] = ""  # never kept on screen or in the session
    wait = _LIMITER.allow(_client())
    if wait:
        st.session_state["teacher_message"] = _("Too many tries. Wait {seconds} seconds and try again.",
                                                seconds=int(wait) + 1)
    elif key_matches(typed):
        st.session_state[_STATE_KEY] = True
        st.session_state["teacher_cookie"] = "write"
        st.session_state.pop("teacher_message", None)
    else:
        st.session_state["teacher_message"] = _("That is not the teacher key.")


def leave() -> None:
    """Lock teacher mode in this browser (its cookie too)."""
    st.session_state[_STATE_KEY] = False
    st.session_state["teacher_cookie"] = "clear"


def keep_in_cookie(owner_id: str) -> None:
    """After unlocking or leaving: write or clear the pass (JavaScript: Streamlit cannot set cookies). A hex
    digest and fixed names only, so nothing can break out of the script's string."""
    action = st.session_state.pop("teacher_cookie", None)
    if action == "write":
        st.html(f"<script>document.cookie = '{COOKIE}={pass_for(owner_id)}; path=/; max-age={COOKIE_MAX_AGE_S}; "
                "SameSite=Strict';</script>", unsafe_allow_javascript=True)
    elif action == "clear":
        st.html(f"<script>document.cookie = '{COOKIE}=; path=/; max-age=0; SameSite=Strict';</script>",
                unsafe_allow_javascript=True)


def _save_rules(actor: Actor) -> None:
    state = st.session_state
    reference = state.get("teacher_reference")
    rules = ClassRules(max_epochs=int(state["teacher_max_epochs"]) or None,
                       max_active_runs=int(state["teacher_max_active"]) or None,
                       reference_run_id=None if reference in (None, 0) else int(reference))
    try:
        save_rules(resources.store().root, rules, actor)
    except NotPermitted:
        state["teacher_message"] = _("Only the teacher can change the class rules.")
        return
    state["teacher_message"] = _("Class rules saved.")


def sidebar_panel(actor: Actor) -> None:
    """The sidebar's "Teacher" box: the key form, then (unlocked) the class rules. Nothing without the variable."""
    if not enabled():
        return
    message = st.session_state.pop("teacher_message", None)
    with st.sidebar:
        keep_in_cookie(actor.owner_id)
    with st.sidebar.expander(_("Teacher"), icon=":material/school:", expanded=actor.is_teacher or bool(message)):
        if message:
            st.info(message)
        if not actor.is_teacher:
            st.text_input(_("Teacher key"), type="password", key="teacher_key_box")
            st.button(_("Unlock teacher mode"), on_click=_try_key, key="teacher_unlock")
            return
        st.success(_("Teacher mode: you may stop, rename and delete any run."))
        rules_form(actor)
        st.button(_("Leave teacher mode"), on_click=leave, key="teacher_leave")


def rules_form(actor: Actor) -> None:
    rules = load_rules(resources.store().root)
    st.session_state.setdefault("teacher_max_epochs", rules.max_epochs or 0)
    st.session_state.setdefault("teacher_max_active", rules.max_active_runs or 0)
    finished = {r.id: r for r in resources.store().list_runs(statuses=("completed", "stopped"), limit=200)}
    options = [0, *finished]
    st.session_state.setdefault("teacher_reference", rules.reference_run_id if rules.reference_run_id in finished
                                else 0)
    st.number_input(_("Most epochs per run (0 = no limit)"), min_value=0, step=1, key="teacher_max_epochs")
    st.number_input(_("Runs at once per student (0 = no limit)"), min_value=0, step=1, key="teacher_max_active")
    st.selectbox(_("Class reference model"), options, key="teacher_reference",
                 format_func=lambda i: _("None") if i == 0 else run_label(finished[i]),
                 help=_("Offered first on the Draw page to every student."))
    st.button(_("Save class rules"), on_click=_save_rules, args=(actor,), key="teacher_save", type="primary")


def reference_run_id() -> int | None:
    """The run the teacher pinned as the class's reference model, if any (none without teacher mode)."""
    return load_rules(resources.store().root).reference_run_id if enabled() else None
