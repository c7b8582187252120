"""Who acts on a run, and what they may do: the permission checks RunStore and JobManager make.

A run belongs to the identity that started it (a student's browser, or the command line). Only its owner may stop,
rename or delete it; a teacher (the app's teacher mode) and the command line (whoever runs it can edit the database
file anyway) may change any run. Refusals are `NotPermitted` errors that carry data (action, run, owners); the app
words them in the student's language. The caps a teacher sets for new runs are in `runs.class_rules`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from mnist_core.runs.record import RunRecord

ACTIONS = ("stop", "rename", "delete")


@dataclass(frozen=True)
class Actor:
    """The identity acting: `owner_id` is public (a hash, never the student's secret token)."""

    owner_id: str
    name: str
    is_teacher: bool = False
    is_operator: bool = False  # the command line: the server's own operator

    @property
    def may_change_any(self) -> bool:
        return self.is_teacher or self.is_operator


COMMAND_LINE = Actor("command-line", "command line", is_operator=True)


class NotPermitted(PermissionError):
    """`actor` may not `action` run `run_id` (owned by `owner_name`); nothing was changed."""

    def __init__(self, action: str, run_id: int, actor: Actor, owner_id: str | None, owner_name: str | None) -> None:
        super().__init__(action, run_id)
        self.action, self.run_id, self.actor = action, run_id, actor
        self.owner_id, self.owner_name = owner_id, owner_name or "someone else"

    def __str__(self) -> str:
        return (f"{self.actor.name} may not {self.action} run {self.run_id}: it belongs to {self.owner_name}, "
                "and only its owner or the teacher may change it")


def check_may_change(record: RunRecord, actor: Actor, action: str) -> None:
    """NotPermitted unless `actor` may `action` the run."""
    _check(action, record.id, actor, record.owner_id, record.owner_name)


def check_may_change_in(conn: sqlite3.Connection, run_id: int, actor: Actor, action: str) -> None:
    """The same check inside a store's write transaction, so the owner cannot change between check and write.
    Does nothing for a run that does not exist (the caller's own existence check names it)."""
    row = conn.execute("SELECT owner_id, owner_name FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is not None:
        _check(action, run_id, actor, row[0], row[1])


def _check(action: str, run_id: int, actor: Actor, owner_id: str | None, owner_name: str | None) -> None:
    if actor.may_change_any or (owner_id is not None and owner_id == actor.owner_id):
        return
    raise NotPermitted(action, run_id, actor, owner_id, owner_name)
