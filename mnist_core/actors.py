"""Who acts on a run, and what they may do: the permission checks RunStore and JobManager make.

A run belongs to the identity that started it (a student's browser, or the command line). Only its owner may stop,
rename or delete it; a teacher (the app's teacher mode) and the command line (whoever runs it can edit the database
file anyway) may change any run. Refusals are `NotPermitted` errors that carry data (action, run, owners); the app
words them in the student's language. Class rules (caps a teacher sets, the pinned reference model) live in a small
JSON file next to the runs database.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mnist_core import settings
from mnist_core.config import TrainConfig

if TYPE_CHECKING:
    from mnist_core.store import RunStore

ACTIONS = ("stop", "rename", "delete")
OWNER_COLUMNS = {"owner_id": "TEXT", "owner_name": "TEXT"}
RULES_FILE = "class_rules.json"


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


class LimitReached(PermissionError):
    """A teacher's cap refuses a new run: `what` ("epochs" or "active_runs") would be `value` over `limit`."""

    def __init__(self, what: str, value: int, limit: int) -> None:
        super().__init__(what, value, limit)
        self.what, self.value, self.limit = what, value, limit

    def __str__(self) -> str:
        if self.what == "epochs":
            return f"the teacher allows at most {self.limit} epochs per run (this run asks for {self.value})"
        return (f"the teacher allows at most {self.limit} runs training or queued at once per student "
                f"(this would make {self.value})")


@dataclass(frozen=True)
class ClassRules:
    """What a teacher set for the class: None means no cap / nothing pinned."""

    max_epochs: int | None = None
    max_active_runs: int | None = None
    reference_run_id: int | None = None


# -- class rules ------------------------------------------------------------------------------------------------


def load_rules(root: Path) -> ClassRules:
    """The class rules stored under a runs directory; defaults when none were set (or the file is unreadable)."""
    try:
        raw = json.loads((Path(root) / RULES_FILE).read_text())
    except (OSError, ValueError):
        return ClassRules()
    fields = {f.name for f in dataclasses.fields(ClassRules)}
    values = {k: (int(v) if v is not None else None) for k, v in raw.items() if k in fields and _whole(v)}
    return ClassRules(**values)


def save_rules(root: Path, rules: ClassRules, actor: Actor) -> None:
    """Write the class rules (atomically: readers never see half a file); only a teacher may."""
    if not actor.may_change_any:
        raise NotPermitted("set the class rules of", 0, actor, None, "the teacher")
    for name, value in dataclasses.asdict(rules).items():
        if value is not None and int(value) < 1:
            raise ValueError(f"{name} must be at least 1 or None, got {value}")
    root = Path(root)
    handle, temporary = tempfile.mkstemp(dir=root, prefix=".rules-", suffix=".json")
    with os.fdopen(handle, "w") as file:
        json.dump(dataclasses.asdict(rules), file)
    os.replace(temporary, root / RULES_FILE)


def _whole(value: object) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


# -- checks -----------------------------------------------------------------------------------------------------


def check_may_change(store: RunStore, run_id: int, actor: Actor, action: str) -> None:
    """NotPermitted unless `actor` may `action` the run; RunNotFound for an unknown run."""
    record = store.get(run_id)
    _check(action, run_id, actor, record.owner_id, record.owner_name)


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


def check_may_submit(store: RunStore, actor: Actor, configs: Iterable[TrainConfig]) -> None:
    """LimitReached when the teacher's caps refuse these new runs for this student (teacher and CLI: no caps).
    Without MNIST_PLAYGROUND_TEACHER_KEY there is no teacher, so rules left from an earlier class do not apply."""
    if actor.may_change_any or settings.teacher_key() is None:
        return
    configs = list(configs)
    rules = load_rules(store.root)
    if rules.max_epochs is not None:
        most = max((c.epochs for c in configs), default=0)
        if most > rules.max_epochs:
            raise LimitReached("epochs", most, rules.max_epochs)
    if rules.max_active_runs is not None:
        active = len(store.list_runs(statuses=("queued", "running"), owner_id=actor.owner_id))
        if active + len(configs) > rules.max_active_runs:
            raise LimitReached("active_runs", active + len(configs), rules.max_active_runs)


# -- schema -----------------------------------------------------------------------------------------------------


def add_owner_columns(conn: sqlite3.Connection) -> None:
    """Give a database written before runs had owners its owner columns (its old runs stay ownerless: only a
    teacher or the command line may change them)."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    for name, kind in OWNER_COLUMNS.items():
        if name not in present:
            conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {kind}")
