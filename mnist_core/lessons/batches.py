"""Lesson 1: epoch, batch size, iteration (the course's mock exam of 100 questions), and the configs of the
real-MNIST comparison of batch sizes 1, 32 and the full batch for the same number of samples seen."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mnist_core.config import TrainConfig

EXAM_QUESTIONS = 100  # the course's mock exam: 100 questions, answers checked after every `batch` of them


@dataclass(frozen=True)
class BatchPlan:
    """How DataLoader(dataset, batch_size, drop_last) cuts one epoch, and what `epochs` of them add up to."""

    dataset_size: int
    batch_size: int
    drop_last: bool
    epochs: int
    iterations_per_epoch: int
    full_batches: int  # batches of exactly batch_size
    last_batch: int  # size of the short last batch (0 when the size divides evenly or it is dropped)
    dropped: int  # samples left out of every epoch by drop_last

    @property
    def total_iterations(self) -> int:
        return self.iterations_per_epoch * self.epochs

    @property
    def samples_per_epoch(self) -> int:
        return self.dataset_size - self.dropped

    def batch_sizes(self) -> list[int]:
        """Every batch of one epoch, in order (what iterating the DataLoader yields)."""
        return [self.batch_size] * self.full_batches + ([self.last_batch] if self.last_batch else [])


def batch_plan(dataset_size: int, batch_size: int, drop_last: bool, epochs: int) -> BatchPlan:
    """The arithmetic of one setting; ValueError names the number that makes no sense."""
    for name, value in (("dataset_size", dataset_size), ("batch_size", batch_size), ("epochs", epochs)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    full, remainder = divmod(dataset_size, batch_size)
    if drop_last:
        return BatchPlan(dataset_size, batch_size, True, epochs, full, full, 0, remainder)
    return BatchPlan(dataset_size, batch_size, False, epochs, math.ceil(dataset_size / batch_size), full, remainder, 0)


def exam_updates(batch_size: int, questions: int = EXAM_QUESTIONS) -> int:
    """How often the answers are checked (= the weights updated) while solving the exam once."""
    return batch_plan(questions, batch_size, False, 1).iterations_per_epoch


# The real-MNIST comparison: a small network, the same samples seen by each batch size (the same epochs).
COMPARE_SAMPLES = 1_000
COMPARE_BATCHES = (1, 32, COMPARE_SAMPLES)  # one sample, a mini-batch, the full batch (gradient descent)
COMPARE_BASE = TrainConfig(hidden=(32,), optimizer="sgd", lr=0.02, epochs=3, train_limit=COMPARE_SAMPLES,
                           val_size=2_000, seed=0)


def batch_comparison(epochs: int) -> dict[int, TrainConfig]:
    """One config per batch size: same network, seed, data and epochs, so each sees the same samples."""
    return {b: COMPARE_BASE.replace(batch_size=b, epochs=epochs).validated() for b in COMPARE_BATCHES}
