"""Training in the background: `JobManager` queues runs and hands each to a backend that trains it outside this
process: the local pool of worker processes (`worker_pool`), or a Ray cluster (`ray_cluster`) when
MNIST_PLAYGROUND_RAY_ADDRESS is set. Each backend runs a run with `execution.execute_run`."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mnist_core import settings
from mnist_core.backends.execution import fail_if_active, fail_run
from mnist_core.backends.tasks import checked_task
from mnist_core.backends.worker_pool import LocalPool, WorkerLost
from mnist_core.config import TrainConfig
from mnist_core.cost import check_fits
from mnist_core.runs.class_rules import OwnerUsage, check_may_submit, rules_in_force
from mnist_core.runs.continuation import continued_config
from mnist_core.runs.failures import SHUTDOWN, failure_of
from mnist_core.runs.names import race_run_name
from mnist_core.runs.permissions import COMMAND_LINE, Actor, check_may_change
from mnist_core.runs.store import RunNotFound, RunStore

log = logging.getLogger(__name__)

RECOVERY_INTERVAL_S = 10.0  # how often to look for runs whose process died


@dataclass(frozen=True)
class _Queued:
    run_id: int
    config: TrainConfig
    owner: str  # "" for runs that take no turns (the teacher's, the command line's)
    team: str  # the race it belongs to, else the run itself
    task: dict | None = None  # a job kind's plain JSON (backends.tasks), e.g. a class-set fine-tune's


class Backend(Protocol):
    """Where runs train: `run` blocks until the run is done (its events and result are in the store) and raises
    WorkerLost when the process or machine training it is lost; `slot` is the JobManager thread asking; `task`: the
    run's job kind, plain JSON (backends.tasks), or None for a plain run."""

    def run(self, slot: int, run_id: int, config: TrainConfig, stop: threading.Event,
            task: dict | None = None) -> None: ...

    def close(self, timeout: float) -> None: ...


def make_backend(store: RunStore, slots: int, data_root: Path | None, device: str | None) -> Backend:
    """Ray when MNIST_PLAYGROUND_RAY_ADDRESS is set, else the local pool of worker processes."""
    address = settings.ray_address()
    if address:
        from mnist_core.backends.ray_cluster import RayBackend  # imports ray (seconds): only for a lab that uses it

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
        self._queue: deque[_Queued] = deque()
        self._teams: dict[int, tuple[str, str]] = {}  # running run id -> (owner, its race or itself): fair turns
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
        self._closing = threading.Event()
        threading.Thread(target=self._recover_periodically, name="mnist-job-recovery", daemon=True).start()

    # -- submitting -------------------------------------------------------------------------------
    def submit(
        self, config: TrainConfig, name: str | None = None, group_id: str | None = None, actor: Actor = COMMAND_LINE,
        parent_id: int | None = None, task: Mapping[str, object] | None = None,
    ) -> int:
        """Store the run as queued, owned by `actor`, and queue it; ConfigError or LimitReached (a teacher's cap):
        nothing stored. `task`: what it trains on besides its dataset, as plain JSON of a known kind
        (backends.tasks; a ValueError otherwise), e.g. a class-set fine-tune's."""
        return self._enqueue([config.validated()], [name], group_id, actor, parent_id, checked_task(task))[0]

    def _enqueue(self, configs: list[TrainConfig], names: list[str | None], group_id: str | None, actor: Actor,
                 parent_id: int | None = None, task: dict | None = None) -> list[int]:
        """Store validated runs and queue them back to back. The class rules' caps are checked inside the store's
        write transaction that inserts them, so simultaneous submits cannot all pass one check."""
        for config in configs:
            check_fits(config)  # RunTooLarge (a ValueError): a run the server's memory or disk cannot hold
        rules = rules_in_force(self.store.root)

        def admit(usage: OwnerUsage) -> None:
            check_may_submit(rules, actor, configs, usage)

        with self._cond:
            if self._closed:
                raise RuntimeError("the job manager has been shut down; no new runs can start")
            run_ids = self.store.create_runs(configs, names, group_id=group_id, owner=actor, parent_id=parent_id,
                                             admit=admit)
            owner = "" if actor.may_change_any else actor.owner_id  # the teacher's and the CLI's runs: no turns
            for run_id, config in zip(run_ids, configs, strict=True):
                self._queue.append(_Queued(run_id, config, owner, group_id or f"run-{run_id}", task))
                self._done[run_id] = threading.Event()
            self._cond.notify_all()
        return run_ids

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
        # The whole race or none of it, queued back to back: no other run lands between the racers.
        return self._enqueue(configs, [race_run_name(c.optimizer) for c in configs], group_id, actor)

    # -- controlling ------------------------------------------------------------------------------
    def stop(self, run_id: int, actor: Actor = COMMAND_LINE) -> bool:
        """Queued: removed from the queue and marked stopped. Running: asked to stop after its current
        iteration (it then finishes as "stopped", weights kept). False if this manager does not have it.
        NotPermitted (nothing stopped) unless `actor` owns the run or may change any."""
        try:
            check_may_change(self.store.get(run_id), actor, "stop")
        except RunNotFound:
            return False
        with self._cond:
            event = self._running.get(run_id)
            if event is not None:
                event.set()
                return True
            entry = next((e for e in self._queue if e.run_id == run_id), None)
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
            ids = [e.run_id for e in self._queue]
        return ids.index(run_id) + 1 if run_id in ids else None

    def active(self) -> list[int]:
        """Ids of the runs training right now, oldest first."""
        with self._cond:
            return list(self._running)

    def queued(self) -> list[int]:
        """Ids of the runs waiting for a worker, next first."""
        with self._cond:
            return [e.run_id for e in self._queue]

    def wait(self, run_id: int, timeout: float | None = None) -> bool:
        """Block until the run is no longer queued or running here; False if `timeout` passed first."""
        with self._cond:
            done = self._done.get(run_id)
        return True if done is None else done.wait(timeout)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop accepting runs, mark queued ones interrupted, ask running ones to stop (they keep their
        weights as "stopped"), and with `wait` join the workers."""
        self._closing.set()
        with self._cond:
            self._closed = True
            cancelled = [e.run_id for e in self._queue]
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
    def _next_turn(self) -> _Queued | None:
        """The run a free slot trains next: first a racer whose race already trains (a race is compared live), else
        the oldest queued run whose owner trains fewer than the rules' runs at once (a race counts once), so a
        student's long queue never holds the class's slots. Called with the lock held."""
        training = {team for _owner, team in self._teams.values()}
        joining = next((entry for entry in self._queue if entry.team in training), None)
        if joining is not None or not self._queue:
            return joining
        cap = rules_in_force(self.store.root).max_running_per_student
        for entry in self._queue:
            teams = {team for owner, team in self._teams.values() if owner == entry.owner}
            if not entry.owner or cap is None or len(teams) < cap:
                return entry
        return None

    def _recover_periodically(self) -> None:
        """Mark runs whose process died (a killed CLI training, a worker of a server that was killed) interrupted,
        every RECOVERY_INTERVAL_S: a small indexed query, one per process however many students watch."""
        while not self._closing.wait(RECOVERY_INTERVAL_S):
            try:
                self.store.recover_interrupted()
            except Exception:  # a busy or damaged database: the next look tries again
                log.exception("crash recovery failed")

    def _work(self, slot: int) -> None:
        while True:
            with self._cond:
                while not self._closed and (entry := self._next_turn()) is None:
                    self._cond.wait()
                if self._closed:
                    return
                self._queue.remove(entry)
                run_id, config, task = entry.run_id, entry.config, entry.task
                self._teams[run_id] = (entry.owner, entry.team)
                stop = self._running[run_id] = threading.Event()
            try:
                self.backend.run(slot, run_id, config, stop, task)
            except WorkerLost as exc:
                log.error("run %s: %s", run_id, exc)
                fail_if_active(self.store, run_id, failure_of(exc))
            except Exception as exc:  # execute_run records failures itself; this is the thread's last resort
                log.exception("worker crashed while running run %s", run_id)
                try:
                    fail_run(self.store, run_id, failure_of(exc))
                except Exception:
                    log.exception("could not mark run %s failed", run_id)
            finally:
                with self._cond:
                    self._running.pop(run_id, None)
                    self._teams.pop(run_id, None)
                    done = self._done.pop(run_id, None)
                    if done is not None:
                        done.set()
                    self._cond.notify_all()
