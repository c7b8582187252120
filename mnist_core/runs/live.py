"""What a live view holds of a training run: its curves as read so far, extended by reading only what is new.

A live chart refreshes every few seconds while a run trains. Re-reading up to 20,000 loss points from SQLite and
re-smoothing them each time cost the server more than the training; `LiveCurves.refresh` asks the store only for
the points after the last one it has, extends the smoothed curve by those points alone (`ExponentialAverage`
keeps its state), and says whether anything changed, so an unchanged chart is not rebuilt. Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from mnist_core.events import EpochMetrics

if TYPE_CHECKING:
    from mnist_core.runs.store import RunStore


def smoothing_window(points: int) -> int:
    """A window that shows the trend of a few dozen iterations or of thousands alike: about 1/25 of the curve."""
    return max(1, min(200, points // 25))


class ExponentialAverage:
    """Trailing exponential moving average over `window` points (debiased, as TensorBoard does), fed a piece at a
    time. NaN/inf values are skipped, so one diverged iteration does not blank the rest of the curve; they come
    out as NaN (a gap)."""

    def __init__(self, window: int) -> None:
        self.window = max(1, int(window))
        self.alpha = 2.0 / (self.window + 1.0)
        self.average, self.weight = 0.0, 0.0

    def extend(self, values: Iterable[float]) -> list[float]:
        if self.window == 1:
            return [float(v) for v in values]
        out, alpha = [], self.alpha
        average, weight = self.average, self.weight
        for value in values:
            if not math.isfinite(value):
                out.append(float("nan"))
                continue
            average = (1 - alpha) * average + alpha * value
            weight = (1 - alpha) * weight + alpha
            out.append(average / weight)
        self.average, self.weight = average, weight
        return out


class LiveCurves:
    """One run's loss points (raw and smoothed) and epoch metrics, as read so far."""

    def __init__(self, run_id: int, expected_points: int) -> None:
        # The window comes from the points the whole run will have, so it stays fixed while the run trains and the
        # live curve is the one the finished run shows.
        self.run_id = run_id
        self.window = smoothing_window(expected_points)
        self._average = ExponentialAverage(self.window)
        self.iterations: list[int] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.epochs: list[EpochMetrics] = []
        self.loss_version = 0  # bumped when new loss points arrived
        self.epoch_version = 0  # bumped when a new epoch ended

    @property
    def last_iteration(self) -> int:
        return self.iterations[-1] if self.iterations else 0

    def refresh(self, store: RunStore) -> bool:
        """Read the loss points and epochs that arrived since the last refresh; whether there were any.
        RunNotFound when the run was deleted."""
        points = store.losses(self.run_id, after=self.last_iteration)
        epochs = store.epochs(self.run_id, after=self.epochs[-1].epoch if self.epochs else 0)
        if points.iterations:
            self.iterations += points.iterations
            self.losses += points.losses
            self.smoothed += self._average.extend(points.losses)
            self.loss_version += 1
        if epochs:
            self.epochs += epochs
            self.epoch_version += 1
        return bool(points.iterations or epochs)
