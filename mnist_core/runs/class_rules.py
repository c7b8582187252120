"""The class's rules: quotas that keep one student from taking the server from the class (runs at once, the
queue, stored runs and disk per student), caps a teacher may add, and the pinned reference model; kept in a small
JSON file next to the runs database, and the check a new run passes against them (`LimitReached` when refused).

The quotas have defaults that hold on every server, with a teacher or without: a typo (batch 1, 2,000 Start
clicks) must not fill the queue for 30 students. A teacher (MNIST_PLAYGROUND_TEACHER_KEY) may change them."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mnist_core import settings
from mnist_core.config import TrainConfig
from mnist_core.runs.permissions import Actor, NotPermitted

RULES_FILE = "class_rules.json"


class LimitReached(PermissionError):
    """A quota or a teacher's cap refuses new runs: `what` (one of LIMITS) would be `value` over `limit`."""

    def __init__(self, what: str, value: int, limit: int) -> None:
        super().__init__(what, value, limit)
        self.what, self.value, self.limit = what, value, limit

    def __str__(self) -> str:
        return LIMITS[self.what].format(limit=self.limit, value=self.value)


# English lines for the CLI and logs (the app words each `what` itself, in the student's language).
LIMITS = {
    "epochs": "the teacher allows at most {limit} epochs per run (this run asks for {value})",
    "active_runs": "at most {limit} runs training or queued at once per student (this would make {value})",
    "queue": "the class's queue holds at most {limit} runs (this would make {value}); try again when some finished",
    "stored_runs": "at most {limit} stored runs per student (this would make {value}); delete some old runs",
    "disk": "at most {limit} MB of weights files per student ({value} MB are used); delete some old runs",
}


@dataclass(frozen=True)
class ClassRules:
    """What holds for the class. None: no cap, nothing pinned. The defaults are the quotas a server keeps without a
    teacher: 8 runs at once per student fits an optimizer race of every optimizer and the course lesson's six rows;
    one of them (or one race) trains at a time, so a student's queue never holds the other students' slots."""

    max_epochs: int | None = None
    max_active_runs: int | None = 8  # training or queued, per student
    max_running_per_student: int | None = 1  # trained at once; an optimizer race counts once
    max_queued: int | None = 60  # the whole class's queue
    max_runs_per_student: int | None = 300  # stored, finished or not
    max_disk_mb_per_student: int | None = 1000  # weights files (each holds the optimizer's state too)
    reference_run_id: int | None = None


@dataclass(frozen=True)
class OwnerUsage:
    """What an owner and the class use, counted inside the write transaction that would add the new runs."""

    active: int  # the owner's queued and running runs
    stored: int  # the owner's runs of any status
    weights_bytes: int  # the owner's weights files
    queued: int  # every queued run of the class


@dataclass(frozen=True)
class RuleProblem:
    """A value in class_rules.json that was not used (its default was): `field` (None: the file as a whole), the
    `value` found and what was `expected`. The teacher's panel words it."""

    field: str | None
    value: str
    expected: str


def read_rules(root: Path) -> tuple[ClassRules, list[RuleProblem]]:
    """The class rules stored under a runs directory, and what in the file could not be used. A value that is not
    what its field takes (a hand-edited file) keeps that field's default; nothing here raises for a bad file, so
    a typo cannot stop Start or Draw for the class."""
    path = Path(root) / RULES_FILE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return ClassRules(), []
    except (OSError, ValueError) as exc:
        return ClassRules(), [RuleProblem(None, type(exc).__name__, "a JSON object")]
    if not isinstance(raw, dict):
        return ClassRules(), [RuleProblem(None, type(raw).__name__, "a JSON object")]
    fields = {f.name for f in dataclasses.fields(ClassRules)}
    values, problems = {}, []
    for name, value in raw.items():
        if name not in fields:
            problems.append(RuleProblem(name, repr(value)[:40], "no such rule"))
        elif value is None or (_whole(value) and value >= 1):
            values[name] = value
        else:
            problems.append(RuleProblem(name, repr(value)[:40], "a whole number of at least 1, or null"))
    return ClassRules(**values), problems


def load_rules(root: Path) -> ClassRules:
    """The class rules stored under a runs directory; each field's default where none was set or it was bad."""
    return read_rules(root)[0]


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


def rules_in_force(root: Path) -> ClassRules:
    """The rules a new run is checked against: the stored ones with a teacher, the default quotas without one
    (rules left from an earlier class with a teacher do not apply then)."""
    return load_rules(root) if settings.teacher_key() is not None else ClassRules()


def check_may_submit(rules: ClassRules, actor: Actor, configs: Iterable[TrainConfig], usage: OwnerUsage) -> None:
    """LimitReached when the quotas or the teacher's caps refuse these new runs for this student (the teacher and
    the command line: no caps)."""
    if actor.may_change_any:
        return
    configs = list(configs)
    new = len(configs)
    checks = [("epochs", max((c.epochs for c in configs), default=0), rules.max_epochs),
              ("active_runs", usage.active + new, rules.max_active_runs),
              ("queue", usage.queued + new, rules.max_queued),
              ("stored_runs", usage.stored + new, rules.max_runs_per_student)]
    for what, value, limit in checks:
        if limit is not None and value > limit:
            raise LimitReached(what, value, limit)
    used_mb = usage.weights_bytes / 1e6
    if rules.max_disk_mb_per_student is not None and used_mb >= rules.max_disk_mb_per_student:
        raise LimitReached("disk", round(used_mb), rules.max_disk_mb_per_student)
