"""Lesson 9: the course's results table (its six experiments, 000_*.txt) and the presets that reproduce them."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from mnist_core.config import PRESETS, TrainConfig


@dataclass(frozen=True)
class CourseExperiment:
    preset: str
    column: str  # the course table's column heading
    course_accuracy: float  # the course's own test accuracy


COURSE_TABLE = (
    CourseExperiment("softmax-sgd", "SGD", 0.42),
    CourseExperiment("softmax-adam", "Adam", 0.77),
    CourseExperiment("mlp-3", "NN", 0.94),
    CourseExperiment("mlp-3-xavier", "Xavier", 0.9791),
    CourseExperiment("dnn-5-xavier", "DNN", 0.9824),
    CourseExperiment("dnn-5-dropout", "Dropout", 0.9776),
)


def course_configs(epochs: int) -> dict[str, TrainConfig]:
    """Each experiment's preset (the course's settings) with the chosen number of epochs."""
    return {e.preset: PRESETS[e.preset].replace(epochs=epochs).validated() for e in COURSE_TABLE}


# -- the whole table as the course trained it: all 60,000 images, several seeds ---------------------------------

TABLE_RUN_PREFIX = "course table"


def table_config(experiment: CourseExperiment, seed: int, epochs: int | None = None,
                 train_limit: int = 0) -> TrainConfig:
    """The experiment as the course trained it: every training image (no validation split), the preset's epochs,
    batch, learning rate and initialisation, with this seed. `epochs`/`train_limit` shorten it (tests only)."""
    preset = PRESETS[experiment.preset]
    return preset.replace(val_size=0, seed=seed, train_limit=train_limit,
                          epochs=epochs or preset.epochs).validated()


def table_run_name(experiment: CourseExperiment, seed: int) -> str:
    return f"{TABLE_RUN_PREFIX} · {experiment.column} · seed {seed}"


@dataclass(frozen=True)
class PlannedRun:
    experiment: CourseExperiment
    seed: int
    config: TrainConfig

    @property
    def name(self) -> str:
        return table_run_name(self.experiment, self.seed)


def table_plan(seeds: int, epochs: int | None = None, train_limit: int = 0) -> list[PlannedRun]:
    """Every row with seeds 0 .. seeds-1, seed by seed: a table cut short still has every row's first seeds."""
    if seeds < 1:
        raise ValueError(f"the table needs at least one seed, got {seeds}")
    return [PlannedRun(e, seed, table_config(e, seed, epochs, train_limit)) for seed in range(seeds)
            for e in COURSE_TABLE]


@dataclass(frozen=True)
class RowSummary:
    """One row of the table over its seeds: the course's accuracy, ours per seed, their mean and spread (the
    sample standard deviation), and the verdict: "beats" when the mean minus the spread is above the course's
    number, "short" when the mean plus the spread is below it, else "within" (noise cannot tell them apart)."""

    experiment: CourseExperiment
    accuracies: tuple[float, ...]
    mean: float | None
    spread: float | None  # None with fewer than two seeds: one seed says nothing about noise
    verdict: str  # "beats", "short", "within", or "" before any seed finished

    @property
    def difference(self) -> float | None:
        return None if self.mean is None else self.mean - self.experiment.course_accuracy


def summarise_row(experiment: CourseExperiment, accuracies: list[float]) -> RowSummary:
    if not accuracies:
        return RowSummary(experiment, (), None, None, "")
    mean = statistics.fmean(accuracies)
    spread = statistics.stdev(accuracies) if len(accuracies) > 1 else None
    margin = spread or 0.0
    course = experiment.course_accuracy
    verdict = "beats" if mean - margin > course else "short" if mean + margin < course else "within"
    if spread is None:
        verdict = "within" if mean == course else ("beats" if mean > course else "short")
    return RowSummary(experiment, tuple(accuracies), mean, spread, verdict)


def summarise_table(accuracies: dict[str, list[float]]) -> list[RowSummary]:
    """Every row, in the course's order, from each preset's finished test accuracies."""
    return [summarise_row(e, accuracies.get(e.preset, [])) for e in COURSE_TABLE]


# Seconds one run of each row took on this 2-core server with two runs at once (the 3-seed table of December 2026:
# the mean of its seeds, 15 epochs on 60,000 images; it took 19 minutes in all): the estimate before a start.
TYPICAL_SECONDS = {"softmax-sgd": 14, "softmax-adam": 16, "mlp-3": 64, "mlp-3-xavier": 69, "dnn-5-xavier": 189,
                   "dnn-5-dropout": 297}
TYPICAL_WORKERS = 2


def typical_seconds(plan: list[PlannedRun]) -> float:
    """About how long `plan` takes on the worker pool, scaled from TYPICAL_SECONDS by epochs and images."""
    one_after_another = sum(TYPICAL_SECONDS[p.experiment.preset] * p.config.total_iterations / 9_000 for p in plan)
    return one_after_another / TYPICAL_WORKERS
