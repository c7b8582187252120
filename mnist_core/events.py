"""What a training run reports while it trains: loss points, per-epoch metrics and progress.

Torch-free, so the store, the job manager and the UI can read events without importing the trainer."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LossPoints:
    """Training loss per iteration (or the mean of a block of iterations; `iterations` holds each block's last)."""

    iterations: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    def extend(self, other: LossPoints) -> None:
        self.iterations += other.iterations
        self.losses += other.losses


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int
    train_loss: float  # mean over the epoch's batches, as they were trained (dropout on)
    train_accuracy: float
    val_loss: float | None  # None when val_size is 0
    val_accuracy: float | None
    seconds: float  # wall time since the run started, at the end of this epoch


@dataclass(frozen=True)
class Progress:
    iteration: int
    total_iterations: int
    epoch: int  # 1-based, the epoch being trained
    samples_seen: int
    samples_per_s: float
    eta_s: float
    elapsed_s: float


TrainEvent = LossPoints | EpochMetrics | Progress
