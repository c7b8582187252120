"""Teacher mode: with MNIST_PLAYGROUND_TEACHER_KEY set on the server, the key typed in the sidebar unlocks this
browser's teacher powers (stop, rename, delete any run; caps per student; the class's reference model).

Tries at the key are slowed per key, not per client (mnist_core.runs.teacher_access): a class behind one address
shares one back-off, and no try is ever refused, so a student's wrong tries can delay the teacher by a few seconds
but never lock the teacher out. The outcome of a try is told only when its slot comes, so waiting is not optional.

Unlocking opens a server-side teacher session; the cookie holds only its random id (the database keeps its hash),
so a reload or a new tab of the same browser stays unlocked until "Leave teacher mode" revokes it, it expires
(12 h) or the key changes. Streamlit gives a script no way to set a response header, so the page's JavaScript
writes the cookie: it is SameSite=Strict with a max-age of the session's remaining time, but it cannot be
HttpOnly, so a script running in the page could read it. Nothing in it is derived from the key. Without the
variable there is no teacher mode and nothing shows.
"""

from __future__ import annotations

import dataclasses
import math
import time

import streamlit as st

from app import resources
from app.i18n import N_, _
from app.run.texts import run_label
from mnist_core import settings
from mnist_core.runs import teacher_access
from mnist_core.runs.class_rules import RULES_FILE, RuleProblem, load_rules, read_rules, save_rules
from mnist_core.runs.permissions import Actor, NotPermitted

COOKIE = "mnist_playground_teacher"
_SESSION_KEY = "teacher_session"  # this browser session's teacher session id; None: a student
_COOKIE_READ_KEY = "teacher_cookie_read"
_PENDING_KEY = "teacher_pending_try"  # (KeyTry, whether the key was right), until the try's slot
_BOX_KEY = "teacher_key_box"
_SHOW_HINT_FROM_S = 1.0  # a shorter wait is not worth a sentence
# The class rules' caps in the panel: field of ClassRules -> (its number box's key, its label); 0 in a box: no cap.
CAP_BOXES = {
    "max_epochs": ("teacher_max_epochs", N_("Most epochs per run (0 = no limit)")),
    "max_active_runs": ("teacher_max_active", N_("Runs training or waiting per student (0 = no limit)")),
    "max_running_per_student": ("teacher_max_running", N_("Runs training at once per student (0 = no limit)")),
    "max_queued": ("teacher_max_queued", N_("Runs in the class's queue (0 = no limit)")),
    "max_runs_per_student": ("teacher_max_stored", N_("Stored runs per student (0 = no limit)")),
    "max_disk_mb_per_student": ("teacher_max_disk_mb", N_("MB of weights files per student (0 = no limit)")),
}


def enabled() -> bool:
    return settings.teacher_key() is not None


def unlocked(owner_id: str) -> bool:
    """Whether this browser holds a live teacher session: opened here, or earlier and kept in its cookie. Checked
    on every run, so leaving in another tab, the 12 h expiry or a changed key locks this tab too. A session is
    not bound to `owner_id` (kept for the callers): like any session cookie, the id alone is the pass."""
    key = settings.teacher_key()
    if key is None:
        return False
    state = st.session_state
    if not state.get(_COOKIE_READ_KEY):  # the session's first look: a reload or a new tab
        state[_COOKIE_READ_KEY] = True
        state.setdefault(_SESSION_KEY, st.context.cookies.get(COOKIE))
    session_id = state.get(_SESSION_KEY)
    if session_id is None:
        return False
    if teacher_access.session_remaining(resources.store(), session_id, key) is None:
        state[_SESSION_KEY] = None
        return False
    return True


def _try_key() -> None:
    """The key form's submit (the button or Enter): reserve this try's slot and check the key, but tell the outcome
    only at the slot (here when it has come, else in `_wait_for_try`), so a guesser cannot skip the wait."""
    typed = st.session_state.get(_BOX_KEY, "")
    st.session_state[_BOX_KEY] = ""  # never kept on screen or in the session
    key = settings.teacher_key()
    if key is None:
        return
    key_try = teacher_access.reserve_try(resources.store())
    st.session_state[_PENDING_KEY] = (key_try, teacher_access.key_matches(typed, key))
    if not key_try.wait_s():
        _finish_try()


def _finish_try() -> bool:
    """The pending try's slot has come: open a teacher session, or say the key was wrong. True when unlocked."""
    key_try, right = st.session_state.pop(_PENDING_KEY)
    key = settings.teacher_key()
    if not right or key is None:
        st.session_state["teacher_message"] = _("That is not the teacher key.")
        return False
    store = resources.store()
    teacher_access.record_right(store, key_try)
    st.session_state[_SESSION_KEY] = teacher_access.open_session(store, key)[0]
    st.session_state["teacher_cookie"] = "write"
    st.session_state.pop("teacher_message", None)
    return True


def _wait_for_try() -> None:
    """A try waiting for its slot: wait here, saying so, then tell its outcome (a rerun draws teacher mode)."""
    pending = st.session_state.get(_PENDING_KEY)
    if pending is None:
        return
    wait = pending[0].wait_s()
    if wait > 0:
        with st.spinner(_("Checking the key in {seconds} s: many wrong keys were typed in the last minute, so "
                          "each try waits its turn.", seconds=math.ceil(wait))):
            time.sleep(wait)
    if _finish_try():
        st.rerun()


def leave() -> None:
    """Lock teacher mode: the session is revoked on the server (every tab using it locks) and the cookie cleared."""
    teacher_access.close_session(resources.store(), st.session_state.get(_SESSION_KEY))
    st.session_state[_SESSION_KEY] = None
    st.session_state[_COOKIE_READ_KEY] = True  # this page load's cookie header still has the old id: never reread
    st.session_state["teacher_cookie"] = "clear"


def keep_in_cookie() -> None:
    """After unlocking or leaving: write or clear the session id (JavaScript: Streamlit cannot set cookies, so the
    cookie cannot be HttpOnly). The id is URL-safe base64 and the names fixed, so nothing can break out of the
    script's string; its max-age is the session's remaining validity."""
    action = st.session_state.pop("teacher_cookie", None)
    session_id = st.session_state.get(_SESSION_KEY)
    if action == "write" and (remaining := teacher_access.session_remaining(resources.store(), session_id,
                                                                           settings.teacher_key())):
        st.html(f"<script>document.cookie = '{COOKIE}={session_id}; path=/; max-age={int(remaining)}; "
                "SameSite=Strict';</script>", unsafe_allow_javascript=True)
    elif action == "clear":
        st.html(f"<script>document.cookie = '{COOKIE}=; path=/; max-age=0; SameSite=Strict';</script>",
                unsafe_allow_javascript=True)


def _save_rules(actor: Actor) -> None:
    state = st.session_state
    reference = state.get("teacher_reference")
    # From the stored rules, so a rule the panel does not show keeps its value; a box's 0 means no cap (None).
    caps = {name: int(state[box]) or None for name, (box, _label) in CAP_BOXES.items()}
    rules = dataclasses.replace(load_rules(resources.store().root), **caps,
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
    with st.sidebar:
        keep_in_cookie()
        _wait_for_try()
    message = st.session_state.pop("teacher_message", None)
    # Open while a try is pending too: the box a teacher just pressed Enter in must not close under them.
    expanded = actor.is_teacher or bool(message) or _PENDING_KEY in st.session_state
    with st.sidebar.expander(_("Teacher"), icon=":material/school:", expanded=expanded):
        if message:
            st.info(message)
        if not actor.is_teacher:
            key_form()
            return
        st.success(_("Teacher mode: you may stop, rename and delete any run."))
        rules_form(actor)
        st.button(_("Leave teacher mode"), on_click=leave, key="teacher_leave")


def key_form() -> None:
    """The key box in a form, so Enter submits it as the button does; and how long a try would wait now."""
    wait = teacher_access.expected_wait(resources.store())
    if wait >= _SHOW_HINT_FROM_S:
        st.caption(_("Many wrong keys were typed in the last minute: a try now is checked after about {seconds} s.",
                     seconds=math.ceil(wait)))
    with st.form("teacher_key_form", border=False):
        st.text_input(_("Teacher key"), type="password", key=_BOX_KEY)
        st.form_submit_button(_("Unlock teacher mode"), on_click=_try_key, key="teacher_unlock")


def problem_text(problem: RuleProblem) -> str:
    """A value of class_rules.json that was not used, in the teacher's words, naming the field."""
    if problem.field is None:
        return _("{file} is not a JSON object ({found}); every class rule keeps its default.",
                 file=RULES_FILE, found=problem.value)
    if problem.expected == "no such rule":
        return _("{file}: {field} is not a class rule; it is ignored.", file=RULES_FILE, field=problem.field)
    return _("{file}: {field} is {value}; it takes a whole number of at least 1, or nothing. Its default is used.",
             file=RULES_FILE, field=problem.field, value=problem.value)


def rules_form(actor: Actor) -> None:
    rules, problems = read_rules(resources.store().root)
    for problem in problems:
        st.warning(problem_text(problem))
    for name, (box, _label) in CAP_BOXES.items():  # the value in force: the stored one, else the default
        st.session_state.setdefault(box, getattr(rules, name) or 0)
    finished = {r.id: r for r in resources.store().list_runs(statuses=("completed", "stopped"), limit=200)}
    options = [0, *finished]
    st.session_state.setdefault("teacher_reference", rules.reference_run_id if rules.reference_run_id in finished
                                else 0)
    for box, label in CAP_BOXES.values():
        st.number_input(_(label), min_value=0, step=1, key=box)
    st.selectbox(_("Class reference model"), options, key="teacher_reference",
                 format_func=lambda i: _("None") if i == 0 else run_label(finished[i]),
                 help=_("Offered first on the Draw page to every student."))
    st.button(_("Save class rules"), on_click=_save_rules, args=(actor,), key="teacher_save", type="primary")


def reference_run_id() -> int | None:
    """The run the teacher pinned as the class's reference model, if any (none without teacher mode)."""
    return load_rules(resources.store().root).reference_run_id if enabled() else None
