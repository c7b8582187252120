"""A run as the UI and the CLI see it: what `RunStore` hands out when asked for one run or a list."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from mnist_core.config import TrainConfig
from mnist_core.runs.failures import Failure

STATUSES = ("queued", "running", "completed", "stopped", "failed", "interrupted")
ACTIVE_STATUSES = ("queued", "running")


@dataclass(frozen=True)
class RunRecord:
    """One run as the UI shows it; live fields (status, progress) are a snapshot taken when it was read."""

    id: int
    name: str
    created: float
    config: TrainConfig
    status: str
    error: str | None
    device: str | None
    duration_s: float | None
    test_loss: float | None
    test_accuracy: float | None
    train_loss: float | None
    train_accuracy: float | None
    val_loss: float | None
    val_accuracy: float | None
    progress: dict[str, Any] | None
    group_id: str | None
    started: float | None = None
    finished: float | None = None
    owner_id: str | None = None  # who started it (mnist_core.runs.permissions); None: before runs had owners
    owner_name: str | None = None
    parent_id: int | None = None  # the run this one continues training (mnist_core.runs.continuation)
    error_facts: str | None = None  # the failure as JSON (mnist_core.runs.failures); `error` is its English line

    @property
    def failure(self) -> Failure | None:
        """Why it failed or was interrupted, as data the app words; None when nothing went wrong."""
        return Failure.from_row(self.error, self.error_facts)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


# -- reading a run from the database ------------------------------------------------------------------------------

_RECORD_FIELDS = [f.name for f in dataclasses.fields(RunRecord)]
_LAST_EPOCH = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
# Every RunRecord field (not the predictions blob), the "final" train/val numbers from the run's last epoch.
SELECT_RUNS = (
    "SELECT " + ", ".join(("e." if f in _LAST_EPOCH else "r.") + f for f in _RECORD_FIELDS) + " FROM runs r "
    "LEFT JOIN epochs e ON e.run_id = r.id AND e.epoch = (SELECT MAX(epoch) FROM epochs WHERE run_id = r.id)"
)


def record_from_row(row: tuple[Any, ...]) -> RunRecord:
    """A RunRecord from a row of SELECT_RUNS."""
    values = dict(zip(_RECORD_FIELDS, row, strict=True))
    values["config"] = TrainConfig.from_json(values["config"])
    values["progress"] = json.loads(values["progress"]) if values["progress"] else None
    return RunRecord(**values)


def check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}; allowed: {', '.join(STATUSES)}")


def nan_if_none(value: float | None) -> float:
    # SQLite stores NaN as NULL; a diverged run's losses come back as NaN, not as "missing".
    return float("nan") if value is None else value


def confidences_to_bytes(confidences: Any) -> bytes | None:
    """Softmax probabilities (a tensor or array) as 1/255 steps (10 KB per run): finer than the whole percent the
    gallery shows."""
    if confidences is None:
        return None
    scaled = np.rint(np.clip(np.asarray(confidences.cpu(), dtype=np.float32), 0.0, 1.0) * 255.0)
    return scaled.astype(np.uint8).tobytes()


def confidences_from_bytes(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.uint8).astype(np.float32) / 255.0
