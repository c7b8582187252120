"""Why a run ended without its results, kept as data: a kind and its facts, which the app words in the student's
language, beside one English line for the command line and the logs.

An error that can end a run (a missing or damaged dataset, a lost worker, a damaged weights file) carries its
kind as `failure_kind` and its facts as `details`; anything else is an unexpected error, kept as its type and
first line. No sentence here is shown to a student as is: app/errors.py words each kind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# The kinds app/errors.py words. "error" is the catch-all: an exception the app has no words for.
KINDS = ("error", "dataset_unavailable", "dataset_corrupt", "worker_lost", "ray_worker_lost", "model_unavailable",
         "weights_damaged", "shutdown", "process_ended", "diverged")


@dataclass(frozen=True)
class Failure:
    """A run's failure: `kind` (one of KINDS), its `facts` (JSON-safe), and `message`, the English line."""

    kind: str
    message: str
    facts: dict[str, Any] = field(default_factory=dict)

    def facts_json(self) -> str:
        return json.dumps({"kind": self.kind, **self.facts}, default=str)

    @classmethod
    def from_row(cls, message: str | None, facts_json: str | None) -> Failure | None:
        """What the runs table holds; a row from before failures had kinds is an "error" with its message."""
        if message is None and facts_json is None:
            return None
        try:
            facts = json.loads(facts_json) if facts_json else {}
        except json.JSONDecodeError:
            facts = {}
        kind = facts.pop("kind", "error") if isinstance(facts, dict) else "error"
        return cls(kind if kind in KINDS else "error", message or "", facts if isinstance(facts, dict) else {})


def failure_of(exc: BaseException) -> Failure:
    """The failure an exception stands for: its own kind and facts, or an unexpected error's type and first line."""
    kind = getattr(exc, "failure_kind", None)
    if kind in KINDS:
        return Failure(kind, str(exc), dict(getattr(exc, "details", None) or {}))
    return Failure("error", describe_error(exc), {"type": type(exc).__name__, "detail": first_line(exc)})


def describe_error(exc: BaseException) -> str:
    """One line for the logs and the CLI: the exception type and the first line of its message."""
    line = first_line(exc)
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def first_line(exc: BaseException) -> str:
    return next((line.strip() for line in str(exc).splitlines() if line.strip()), "")


SHUTDOWN = Failure("shutdown", "the app shut down before this run started")
PROCESS_ENDED = Failure("process_ended", "the process running it ended unexpectedly")

