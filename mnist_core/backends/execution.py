"""Executing one stored run in this thread: mark it running, train, stream its events into the store, then store
its result or its failure. The local pool's worker processes, the Ray backend and the CLI all run runs this way."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from mnist_core.calibration import calibrate_finished_run
from mnist_core.config import TrainConfig
from mnist_core.data import DatasetUnavailable, load_dataset
from mnist_core.events import EpochMetrics, LossPoints, Progress, TrainEvent
from mnist_core.runs.continuation import resume_point
from mnist_core.runs.failures import Failure, failure_of
from mnist_core.runs.store import RunNotFound, RunStore
from mnist_core.training import TrainingDiverged, TrainResult, flush_denormals, pick_device, train

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.25  # the UI polls a few times a second; more progress writes only add lock traffic


class _StoreWriter:
    """The `on_event` of a run: writes each event into the store (progress at most every 0.25 s) and
    passes it on to an optional extra listener (the CLI's progress bar)."""

    def __init__(self, store: RunStore, run_id: int, forward: Callable[[TrainEvent], None] | None) -> None:
        self.store, self.run_id, self.forward = store, run_id, forward
        self._pending: Progress | None = None
        self._last_progress = 0.0

    def __call__(self, event: TrainEvent) -> None:
        if isinstance(event, LossPoints):
            self.store.add_losses(self.run_id, event)
        elif isinstance(event, EpochMetrics):
            self.store.add_epoch(self.run_id, event)
        elif isinstance(event, Progress):
            self._pending = event
            if time.monotonic() - self._last_progress >= PROGRESS_INTERVAL_S:
                self.flush()
        if self.forward is not None:
            self.forward(event)

    def flush(self) -> None:
        if self._pending is not None:
            self.store.update_progress(self.run_id, self._pending)
            self._pending, self._last_progress = None, time.monotonic()


def execute_run(
    store: RunStore,
    run_id: int,
    config: TrainConfig,
    *,
    stop: threading.Event | None = None,
    device: str | None = None,
    on_event: Callable[[TrainEvent], None] | None = None,
    data_root: Path | None = None,
    trainer: Callable[..., TrainResult] = train,
) -> TrainResult | None:
    """Run one stored run in this thread: mark it running, train, stream events into the store, then
    `store.finish` (completed/stopped) or `store.fail` with the failure's kind, facts and English line. `trainer`
    is `training.train` or a stand-in with its signature that trains elsewhere (the Ray backend's, which relays
    the remote events).

    Returns the result, or None when the run failed, was deleted meanwhile, or had already ended
    (e.g. stopped while it was queued). Never raises for a failed run: its row says what went wrong."""
    flush_denormals()
    try:
        chosen = pick_device(device)
        if not store.mark_running(run_id, str(chosen)):
            return None
        writer = _StoreWriter(store, run_id, on_event)
        data = load_dataset(config.dataset, data_root)
        resume = resume_point(store, run_id)  # None unless the run continues another
        result = trainer(config, data=data, device=chosen, on_event=writer, stop=stop, resume=resume)
        writer.flush()
        store.finish(run_id, result)
        calibrate_finished_run(store.weights_path(run_id), data)  # probabilities that mean what they say
        return result
    except RunNotFound:
        log.info("run %s was deleted while it ran; its result is discarded", run_id)
    except (DatasetUnavailable, TrainingDiverged) as exc:  # outcomes the student reads about, not bugs to trace
        fail_run(store, run_id, failure_of(exc))
    except Exception as exc:  # any failure must end up in the run's row, not kill the worker thread
        log.exception("run %s failed", run_id)
        fail_run(store, run_id, failure_of(exc))
    return None


def fail_if_active(store: RunStore, run_id: int, failure: Failure) -> None:
    """Mark a run failed unless it already ended (a worker may die just after storing its result)."""
    try:
        record = store.get(run_id)
        if record.is_active or record.status == "interrupted":  # interrupted: the store's own crash recovery
            store.fail(run_id, failure)  # came first; this failure says more
    except RunNotFound:
        pass


def fail_run(store: RunStore, run_id: int, failure: Failure) -> None:
    try:
        store.fail(run_id, failure)
    except RunNotFound:
        pass  # deleted meanwhile: nothing left to mark
