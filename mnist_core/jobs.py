"""Training in the background: `execute_run` runs one stored run; `JobManager` queues runs and hands each to a
backend that trains it outside this process: the local pool of worker processes (`worker_pool`), or a Ray cluster
(`ray_backend`) when MNIST_PLAYGROUND_RAY_ADDRESS is set."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from mnist_core import settings
from mnist_core.actors import COMMAND_LINE, Actor, check_may_change, check_may_submit
from mnist_core.calibration import calibrate_finished_run
from mnist_core.config import TrainConfig
from mnist_core.continuation import continued_config, resume_point
from mnist_core.data import DatasetUnavailable, load_dataset
from mnist_core.events import EpochMetrics, LossPoints, Progress, TrainEvent
from mnist_core.failures import SHUTDOWN, Failure, failure_of
from mnist_core.run_names import race_run_name
from mnist_core.store import RunNotFound, RunStore
from mnist_core.training import TrainResult, flush_denormals, pick_device, train
from mnist_core.worker_pool import LocalPool, WorkerLost

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
    except DatasetUnavailable as exc:
        _fail(store, run_id, failure_of(exc))
    except Exception as exc:  # any failure must end up in the run's row, not kill the worker thread
        log.exception("run %s failed", run_id)
        _fail(store, run_id, failure_of(exc))
    return None


def _fail_if_active(store: RunStore, run_id: int, failure: Failure) -> None:
    """Mark a run failed unless it already ended (a worker may die just after storing its result)."""
    try:
        record = store.get(run_id)
        if record.is_active or record.status == "interrupted":  # interrupted: the store's own crash recovery
            store.fail(run_id, failure)  # came first; this failure says more
    except RunNotFound:
        pass


def _fail(store: RunStore, run_id: int, failure: Failure) -> None:
    try:
        store.fail(run_id, failure)
    except RunNotFound:
        pass  # deleted meanwhile: nothing left to mark


class Backend(Protocol):
    """Where runs train: `run` blocks until the run is done (its events and result are in the store) and raises
    WorkerLost when the process or machine training it is lost; `slot` is the JobManager thread asking."""

    def run(self, slot: int, run_id: int, config: TrainConfig, stop: threading.Event) -> None: ...

    def close(self, timeout: float) -> None: ...


def make_backend(store: RunStore, slots: int, data_root: Path | None, device: str | None) -> Backend:
    """Ray when MNIST_PLAYGROUND_RAY_ADDRESS is set, else the local pool of worker processes."""
    address = settings.ray_address()
    if address:
        from mnist_core.ray_backend import RayBackend  # imports ray (seconds): only for a lab that uses it

        return RayBackend(store, address, slots=slots, data_root=data_root, device=device)
    return LocalPool(slots, store.root, data_root=data_root, device=device)


class JobManager:
    """Runs queued training runs first in first out, at most `max_concurrent` at once, each on a backend (worker
    processes, or Ray) driven by one daemon thread per slot.

    One per process (the app keeps it in st.cache_resource); the UI reads live state from the RunStore."""

    def __init__(
        self,
        store: RunStore,
        *,
        max_concurrent: int | None = None,
        data_root: Path | None = None,
        device: str | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.store = store
        self.max_concurrent = settings.max_jobs() if max_concurrent is None else int(max_concurrent)
        if self.max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        self.data_root, self.device = data_root, device
        self._cond = threading.Condition()  # guards everything below; RLock-based, so methods can nest
        self._queue: deque[tuple[int, TrainConfig]] = deque()
        self._running: dict[int, threading.Event] = {}  # run id -> its stop event, in start order
        self._done: dict[int, threading.Event] = {}  # set when a submitted run is no longer queued or running
        self._closed = False
        self.backend = backend or make_backend(store, self.max_concurrent, data_root, device)
        self._workers = [
            threading.Thread(target=self._work, args=(i,), name=f"mnist-job-worker-{i}", daemon=True)
            for i in range(self.max_concurrent)
        ]
        for worker in self._workers:
            worker.start()

    # -- submitting -------------------------------------------------------------------------------
    def submit(
        self, config: TrainConfig, name: str | None = None, group_id: str | None = None, actor: Actor = COMMAND_LINE,
        parent_id: int | None = None,
    ) -> int:
        """Store the run as queued, owned by `actor`, and queue it; ConfigError or LimitReached (a teacher's cap):
        nothing stored."""
        config = config.validated()
        check_may_submit(self.store, actor, [config])
        with self._cond:
            if self._closed:
                raise RuntimeError("the job manager has been shut down; no new runs can start")
            run_id = self.store.create_run(config, name=name, group_id=group_id, status="queued", owner=actor,
                                           parent_id=parent_id)
            self._queue.append((run_id, config))
            self._done[run_id] = threading.Event()
            self._cond.notify()
        return run_id

    def continue_run(self, parent_id: int, more_epochs: int, name: str | None = None,
                     actor: Actor = COMMAND_LINE) -> int:
        """Queue a new run that trains a completed or stopped run `more_epochs` further, from its weights and
        optimizer state; RunNotFound, CannotContinue or ConfigError (nothing stored)."""
        config = continued_config(self.store, self.store.get(parent_id), more_epochs)
        return self.submit(config, name=name, actor=actor, parent_id=parent_id)

    def submit_race(self, config: TrainConfig, optimizers: Sequence[str], actor: Actor = COMMAND_LINE,
                    learning_rates: Mapping[str, float] | None = None) -> list[int]:
        """One run per optimizer, same seed and initial weights, sharing a group_id; named "race · adam" etc.
        `learning_rates`: each optimizer's own learning rate (others keep `config.lr`)."""
        names = list(optimizers)
        if not names:
            raise ValueError("a race needs at least one optimizer")
        duplicates = sorted({o for o in names if names.count(o) > 1})
        if duplicates:
            raise ValueError(f"each optimizer can race only once (repeated: {', '.join(duplicates)})")
        rates = learning_rates or {}
        # All checked before any is stored.
        configs = [config.replace(optimizer=o, lr=rates.get(o, config.lr)).validated() for o in names]
        group_id = f"race-{uuid.uuid4().hex[:12]}"
        check_may_submit(self.store, actor, configs)  # the whole race or none of it
        with self._cond:  # queued back to back, so no other run lands between the racers
            return [self.submit(c, name=race_run_name(c.optimizer), group_id=group_id, actor=actor) for c in configs]

    # -- controlling ------------------------------------------------------------------------------
    def stop(self, run_id: int, actor: Actor = COMMAND_LINE) -> bool:
        """Queued: removed from the queue and marked stopped. Running: asked to stop after its current
        iteration (it then finishes as "stopped", weights kept). False if this manager does not have it.
        NotPermitted (nothing stopped) unless `actor` owns the run or may change any."""
        try:
            check_may_change(self.store, run_id, actor, "stop")
        except RunNotFound:
            return False
        with self._cond:
            event = self._running.get(run_id)
            if event is not None:
                event.set()
                return True
            entry = next((e for e in self._queue if e[0] == run_id), None)
            if entry is None:
                return False
            self._queue.remove(entry)
            try:
                self.store.set_status(run_id, "stopped")
            except RunNotFound:
                pass
            self._done.pop(run_id).set()
            self._cond.notify_all()
        return True

    def queue_position(self, run_id: int) -> int | None:
        """1 for the next run to start, 2 for the one after; None if the run is not waiting here."""
        with self._cond:
            ids = [rid for rid, _ in self._queue]
        return ids.index(run_id) + 1 if run_id in ids else None

    def active(self) -> list[int]:
        """Ids of the runs training right now, oldest first."""
        with self._cond:
            return list(self._running)

    def queued(self) -> list[int]:
        """Ids of the runs waiting for a worker, next first."""
        with self._cond:
            return [rid for rid, _ in self._queue]

    def wait(self, run_id: int, timeout: float | None = None) -> bool:
        """Block until the run is no longer queued or running here; False if `timeout` passed first."""
        with self._cond:
            done = self._done.get(run_id)
        return True if done is None else done.wait(timeout)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop accepting runs, mark queued ones interrupted, ask running ones to stop (they keep their
        weights as "stopped"), and with `wait` join the workers."""
        with self._cond:
            self._closed = True
            cancelled = [rid for rid, _ in self._queue]
            self._queue.clear()
            for event in self._running.values():
                event.set()
            for rid in cancelled:
                try:
                    self.store.set_status(rid, "interrupted", SHUTDOWN)
                except RunNotFound:
                    pass
                self._done.pop(rid).set()
            self._cond.notify_all()
        if wait:
            deadline = None if timeout is None else time.monotonic() + timeout
            for worker in self._workers:
                worker.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            self.backend.close(timeout=30.0 if deadline is None else max(1.0, deadline - time.monotonic()))

    # -- workers ----------------------------------------------------------------------------------
    def _work(self, slot: int) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                run_id, config = self._queue.popleft()
                stop = self._running[run_id] = threading.Event()
            try:
                self.backend.run(slot, run_id, config, stop)
            except WorkerLost as exc:
                log.error("run %s: %s", run_id, exc)
                _fail_if_active(self.store, run_id, failure_of(exc))
            except Exception as exc:  # execute_run records failures itself; this is the thread's last resort
                log.exception("worker crashed while running run %s", run_id)
                try:
                    _fail(self.store, run_id, failure_of(exc))
                except Exception:
                    log.exception("could not mark run %s failed", run_id)
            finally:
                with self._cond:
                    self._running.pop(run_id, None)
                    done = self._done.pop(run_id, None)
                    if done is not None:
                        done.set()
                    self._cond.notify_all()
