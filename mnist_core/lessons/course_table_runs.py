"""The course's table on the worker pool: which planned runs the run store already holds (finished with exactly
the same settings, so a rerun reuses them instead of training them again), how long the rest will take, starting
them, and the table's figures from the finished runs. Used by the CLI's course-table command and Lesson 9."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mnist_core.backends.worker_pool import available_cores, threads_per_run
from mnist_core.config import TrainConfig
from mnist_core.data import Dataset, normalize
from mnist_core.lessons.course_table import PlannedRun, RowSummary, summarise_table
from mnist_core.models import build_model
from mnist_core.runs.permissions import COMMAND_LINE, Actor
from mnist_core.runs.record import RunRecord
from mnist_core.runs.store import RunStore
from mnist_core.training import make_optimizer

PROBE_ITERATIONS = 15  # timed training steps per network when estimating: a few seconds for the whole table
RUN_OVERHEAD_S = 3.0  # a run's start, test evaluation and storing, beside its training steps


def stored_runs(store: RunStore, plan: Sequence[PlannedRun], owners: Iterable[str] = (COMMAND_LINE.owner_id,),
                statuses: Iterable[str] = ("completed",)) -> dict[PlannedRun, RunRecord]:
    """The newest stored run of each planned run (same settings, seed included; owned by one of `owners`)."""
    wanted = {planned.config: planned for planned in plan}
    found: dict[PlannedRun, RunRecord] = {}
    for owner in dict.fromkeys(owners):
        for record in store.list_runs(statuses=tuple(statuses), owner_id=owner):
            planned = wanted.get(record.config)
            if planned is not None and (planned not in found or found[planned].id < record.id):
                found[planned] = record
    return found


def probe_samples_per_s(configs: Iterable[TrainConfig], data: Dataset, workers: int) -> dict[TrainConfig, float]:
    """Training speed of each distinct network (layers, dropout, optimizer) per run when `workers` runs train side
    by side, measured with a few real training steps on this machine now (its load included), each with the torch
    threads a worker would give it: what the estimate before a start rests on."""
    rates: dict[tuple, float] = {}
    images = normalize(data.train_images[:1000], data.mean, data.std)
    labels = data.train_labels[:1000]
    measured = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(threads_per_run(available_cores(), workers))
    try:
        for config in configs:
            key = (config.model, config.hidden, config.conv_channels, config.dropout, config.optimizer,
                   config.batch_size)
            if key not in rates:
                rates[key] = _probe(config, images, labels)
            measured[config] = rates[key]
    finally:
        torch.set_num_threads(threads)
    return measured


def _probe(config: TrainConfig, images: torch.Tensor, labels: torch.Tensor) -> float:
    model = build_model(config)
    optimizer = make_optimizer(config, model.parameters(), torch.device("cpu"))
    batch = min(config.batch_size, len(images))
    started = 0.0
    for i in range(PROBE_ITERATIONS + 3):
        if i == 3:  # the first steps allocate and warm up
            started = time.perf_counter()
        rows = slice((i * batch) % (len(images) - batch + 1), (i * batch) % (len(images) - batch + 1) + batch)
        loss = F.cross_entropy(model(images[rows]), labels[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return PROBE_ITERATIONS * batch / (time.perf_counter() - started)


def estimate_seconds(plan: Iterable[PlannedRun], rates: dict[TrainConfig, float], workers: int) -> float:
    """Wall time to train `plan` with `workers` runs side by side at the measured per-run speeds."""
    alone = sum(p.config.train_samples * p.config.epochs / rates[p.config] + RUN_OVERHEAD_S for p in plan)
    return alone / max(1, min(workers, available_cores()))


def submit_missing(jobs, plan: Sequence[PlannedRun], have: dict[PlannedRun, RunRecord],
                   actor: Actor = COMMAND_LINE) -> dict[PlannedRun, int]:
    """Queue every planned run not in `have` on the JobManager `jobs`, as `actor` (its quotas apply); ids by run.
    A refusal (LimitReached, NotPermitted) after some were queued keeps those queued: the next start reuses them."""
    return {p: jobs.submit(p.config, name=p.name, actor=actor) for p in plan if p not in have}


@dataclass(frozen=True)
class TableFigures:
    """The table from the finished runs: each row's summary, and the runs behind it."""

    rows: list[RowSummary]
    runs: dict[PlannedRun, RunRecord]


def table_figures(runs: dict[PlannedRun, RunRecord]) -> TableFigures:
    accuracies: dict[str, list[float]] = {}
    for planned in sorted(runs, key=lambda p: p.seed):
        record = runs[planned]
        if record.status == "completed" and record.test_accuracy is not None:
            accuracies.setdefault(planned.experiment.preset, []).append(record.test_accuracy)
    return TableFigures(summarise_table(accuracies), runs)
