"""A run as the UI and the CLI see it: what `RunStore` hands out when asked for one run or a list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mnist_core.config import TrainConfig
from mnist_core.failures import Failure

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
    owner_id: str | None = None  # who started it (mnist_core.actors); None: before runs had owners
    owner_name: str | None = None
    parent_id: int | None = None  # the run this one continues training (mnist_core.continuation)
    error_facts: str | None = None  # the failure's kind and facts as JSON (mnist_core.failures); `error` is its English

    @property
    def failure(self) -> Failure | None:
        """Why it failed or was interrupted, as data the app words; None when nothing went wrong."""
        return Failure.from_row(self.error, self.error_facts)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES
