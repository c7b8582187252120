"""Whose runs a page lists ("My runs" or "Everyone's"), who may change a run, and refusals worded for the student.

The permission check itself lives in mnist_core (RunStore and JobManager refuse); the app only hides the buttons
a student cannot use and words a refusal if one comes back anyway.
"""

from __future__ import annotations

import streamlit as st

from app.i18n import N_, _
from app.identity import shown_owner_name
from app.user_text import markdown_text
from mnist_core.runs.class_rules import LimitReached
from mnist_core.runs.permissions import Actor, NotPermitted
from mnist_core.runs.record import RunRecord
from mnist_core.runs.store import RunStore

MINE, EVERYONE = "mine", "everyone"
PAGE_SIZE = 100  # runs a page lists at once: a selectbox of more is no help to anyone
SCOPE_LABELS = {MINE: N_("My runs"), EVERYONE: N_("Everyone's")}
ACTION_WORDS = {"stop": N_("stop"), "rename": N_("rename"), "delete": N_("delete")}
# Why a Start was refused (mnist_core.runs.class_rules.LIMITS), and what the student can do about it.
LIMIT_WORDS = {
    "epochs": N_("Your teacher allows at most {limit} epochs per run; this one asks for {value}. Lower **Epochs**."),
    "active_runs": N_("At most {limit} of your runs can be training or waiting at once; this would make {value}. "
                      "Wait for one to finish, or stop one, then press **Start training** again."),
    "queue": N_("The class's queue is full ({limit} runs are waiting). Try again in a few minutes, when some have "
                "finished."),
    "stored_runs": N_("You have {limit} runs stored, the most one student may keep. Delete some old runs on the "
                      "Compare page, then press **Start training** again."),
    "disk": N_("Your runs' weights files take {value} MB, the most one student may use is {limit} MB. Delete some "
               "old runs on the Compare page, then press **Start training** again."),
}


def scope_key(page: str) -> str:
    return f"{page}_scope"


def current_scope(page: str, has_runs: bool) -> str:
    """The page's scope: as the student chose it (kept in the URL, so a reload keeps it), else "My runs" once they
    have a run, else "Everyone's" (a new student sees what the class did instead of an empty list)."""
    key, chosen = scope_key(page), scope_key(page) + "_chosen"
    if chosen not in st.session_state:  # the session's first run of this page: a reloaded URL may hold a choice
        from_url = st.query_params.get(key)
        st.session_state[chosen] = from_url in SCOPE_LABELS
        if from_url in SCOPE_LABELS:
            st.session_state[key] = from_url
    if not st.session_state[chosen]:
        st.session_state[key] = MINE if has_runs else EVERYONE
    return st.session_state[key]


def _chosen(page: str) -> None:
    st.session_state[scope_key(page) + "_chosen"] = True


def scope_picker(page: str, has_runs: bool) -> str:
    """The "My runs / Everyone's" switch of a page (its own choice per page, kept in the session and the URL)."""
    current_scope(page, has_runs)
    scope = st.segmented_control(_("Show"), list(SCOPE_LABELS), key=scope_key(page), persist_state="session",
                                 format_func=lambda s: _(SCOPE_LABELS[s]), label_visibility="collapsed",
                                 required=True, on_change=_chosen, args=(page,))
    if st.session_state[scope_key(page) + "_chosen"] and st.query_params.get(scope_key(page)) != scope:
        st.query_params[scope_key(page)] = scope
    return scope


def scoped_runs(page: str, store: RunStore, actor: Actor) -> tuple[str, dict[int, RunRecord]]:
    """A page's "My runs / Everyone's" switch, drawn, and one page of the runs it lets through by id, newest first:
    filtered and paged in SQL, so no run is out of reach however many the class has."""
    mine = store.count_runs(owner_id=actor.owner_id)
    scope = scope_picker(page, mine > 0)
    owner = actor.owner_id if scope == MINE else None
    total = mine if scope == MINE else store.count_runs()
    pages = max(1, -(-total // PAGE_SIZE))
    shown = 1
    if pages > 1:
        shown = st.number_input(_("Page (newest first), of {pages}", pages=pages), 1, pages, 1,
                                key=f"{page}_{scope}_page")
    records = store.list_runs(owner_id=owner, limit=PAGE_SIZE, offset=(int(shown) - 1) * PAGE_SIZE)
    return scope, {r.id: r for r in records}


def may_change(record: RunRecord, actor: Actor) -> bool:
    """Whether to offer Stop / Rename / Delete for a run (mnist_core checks again when it is pressed)."""
    return actor.may_change_any or (record.owner_id is not None and record.owner_id == actor.owner_id)


def owner_label(record: RunRecord, actor: Actor) -> str:
    """Whose run it is, as Markdown: "you", "the command line", or the owner's name as they typed it."""
    if record.owner_id == actor.owner_id:
        return _("you")
    if record.owner_id == "command-line":
        return _("the command line")
    name = shown_owner_name(record.owner_id, record.owner_name)
    return markdown_text(name) if name else _("someone before names existed")


def refusal(exc: NotPermitted | LimitReached) -> str:
    """A refusal from mnist_core in the student's words."""
    if isinstance(exc, LimitReached):
        return _(LIMIT_WORDS.get(exc.what, LIMIT_WORDS["active_runs"]), limit=exc.limit, value=exc.value)
    if exc.action == "delete the pinned reference":
        return _("Run #{run} is the class's reference model, pinned by the teacher: only the teacher can delete it.",
                 run=exc.run_id)
    return _("You may not {action} run #{run} of {owner}: only its owner or the teacher can.",
             action=_(ACTION_WORDS.get(exc.action, exc.action)), run=exc.run_id,
             owner=markdown_text(exc.owner_name))


def sidebar_sections(active: list[RunRecord], actor: Actor) -> list[tuple[str, list[list[RunRecord]]]]:
    """The sidebar's trainings: mine first, then everyone else's; each entry one run, or a whole race (its runs
    share a group id) as one group. Oldest first within each: the order they run in."""
    mine: dict[object, list[RunRecord]] = {}
    others: dict[object, list[RunRecord]] = {}
    for record in sorted(active, key=lambda r: (r.created, r.id)):
        bucket = mine if record.owner_id == actor.owner_id else others
        bucket.setdefault(record.group_id or record.id, []).append(record)
    sections = [(_("Your trainings"), list(mine.values())), (_("Everyone else's"), list(others.values()))]
    return [(title, entries) for title, entries in sections if entries]


def group_title(records: list[RunRecord]) -> str:
    """E.g. "Optimizer race of Ann: 4 runs", as Markdown."""
    return _(":material/flag: Optimizer race of {owner}: {n} runs",
             owner=markdown_text(shown_owner_name(records[0].owner_id, records[0].owner_name) or "?"), n=len(records))


def default_comparison(records: list[RunRecord], count: int) -> list[int]:
    """What Compare shows before the student picks: the newest race whole (however many racers), else the newest
    `count` runs. `records` newest first."""
    if records and records[0].group_id:
        return [r.id for r in records if r.group_id == records[0].group_id]
    return [r.id for r in records[:count]]
