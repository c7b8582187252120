"""Training in the background: `JobManager` queues runs in the store (runs.queue) and, in the process that
dispatches, hands each to a backend that trains it outside that process: the local pool of worker processes
(`worker_pool`), or a Ray cluster (`ray_cluster`) when MNIST_PLAYGROUND_RAY_ADDRESS is set. Each backend runs a run
with `execution.execute_run`."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
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
from mnist_core.runs.failures import failure_of
from mnist_core.runs.names import race_run_name
from mnist_core.runs.permissions import COMMAND_LINE, Actor, check_may_change
from mnist_core.runs.queue import RunQueue, Waiting, dispatcher_name
from mnist_core.runs.store import RunNotFound, RunStore

log = logging.getLogger(__name__)

RECOVERY_INTERVAL_S = 10.0  # how often to look for runs whose process died
# How soon a dispatcher sees a run queued, or a stop asked, by another process: within WATCH_INTERVAL_S of the last
# change, the look spacing out to WATCH_IDLE_S while nothing changes (an idle server wakes twice a second at most).
WATCH_INTERVAL_S, WATCH_IDLE_S = 0.5, 2.0
WAIT_POLL_S = 0.1


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
    """The class's training queue, kept in the store (runs.queue) so that every process sharing the store shares it,
    and, where this process trains (`dispatch`), the slots that train from it: at most `max_concurrent` runs at once,
    first come first (with fair turns), each on a backend (worker processes, or Ray) driven by one daemon thread per
    slot. One process dispatches: the app's own, or `python -m mnist_core serve-jobs` behind several app processes
    (`make serve-class`), whose JobManagers only submit (dispatch False: MNIST_PLAYGROUND_TRAINER=elsewhere).

    One per process (the app keeps it in st.cache_resource); the UI reads live state from the RunStore."""

    def __init__(
        self,
        store: RunStore,
        *,
        max_concurrent: int | None = None,
        data_root: Path | None = None,
        device: str | None = None,
        backend: Backend | None = None,
        dispatch: bool | None = None,
    ) -> None:
        self.store, self.queue = store, RunQueue(store)
        self.max_concurrent = settings.max_jobs() if max_concurrent is None else int(max_concurrent)
        if self.max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        self.dispatches = settings.trains_here() if dispatch is None else dispatch
        self.data_root, self.device = data_root, device
        self._name = dispatcher_name()
        self._cond = threading.Condition()  # guards _running and _closed; wakes the slots
        self._running: dict[int, threading.Event] = {}  # run id -> its stop event: the runs this process's slots hold
        self._closed = False
        self._closing = threading.Event()
        self.backend: Backend | None = None
        self._workers: list[threading.Thread] = []
        if self.dispatches:
            self.backend = backend or make_backend(store, self.max_concurrent, data_root, device)
            self._workers = [threading.Thread(target=self._work, args=(i,), name=f"mnist-job-worker-{i}", daemon=True)
                             for i in range(self.max_concurrent)]
        for worker in self._workers:
            worker.start()
        threading.Thread(target=self._watch, name="mnist-job-watch", daemon=True).start()

    # -- submitting -------------------------------------------------------------------------------
    def submit(
        self, config: TrainConfig, name: str | None = None, group_id: str | None = None, actor: Actor = COMMAND_LINE,
        parent_id: int | None = None, task: Mapping[str, object] | None = None,
    ) -> int:
        """Store the run as queued, owned by `actor`; ConfigError or LimitReached (a teacher's cap): nothing stored.
        `task`: what it trains on besides its dataset, as plain JSON of a known kind (backends.tasks; a ValueError
        otherwise), e.g. a class-set fine-tune's."""
        return self._enqueue([config.validated()], [name], group_id, actor, parent_id, checked_task(task))[0]

    def _enqueue(self, configs: list[TrainConfig], names: list[str | None], group_id: str | None, actor: Actor,
                 parent_id: int | None = None, task: dict | None = None) -> list[int]:
        """Store validated runs as queued, back to back (consecutive ids: nothing lands between a race's runs). The
        class rules' caps are checked inside the store's write transaction that inserts them, so simultaneous
        submits cannot all pass one check."""
        for config in configs:
            check_fits(config)  # RunTooLarge (a ValueError): a run the server's memory or disk cannot hold
        rules = rules_in_force(self.store.root)

        def admit(usage: OwnerUsage) -> None:
            check_may_submit(rules, actor, configs, usage)

        with self._cond:
            if self._closed:
                raise RuntimeError("the job manager has been shut down; no new runs can start")
            run_ids = self.store.create_runs(configs, names, group_id=group_id, owner=actor, parent_id=parent_id,
                                             admit=admit, task=task)
            self._cond.notify_all()  # this process's free slots start at once; another dispatcher's watch sees it
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
        return self._enqueue(configs, [race_run_name(c.optimizer) for c in configs], group_id, actor)

    # -- controlling ------------------------------------------------------------------------------
    def stop(self, run_id: int, actor: Actor = COMMAND_LINE) -> bool:
        """Waiting: taken out of the line and marked stopped. Training (in any process's dispatcher): asked to stop
        after its current iteration (it then finishes as "stopped", weights kept). False when no dispatcher holds
        it (it ended, or a command line trains it). NotPermitted (nothing stopped) unless `actor` owns the run or
        may change any."""
        try:
            check_may_change(self.store.get(run_id), actor, "stop")
        except RunNotFound:
            return False
        if self.queue.cancel_waiting(run_id):
            return True
        if not self.queue.request_stop(run_id):
            return False
        with self._cond:
            event = self._running.get(run_id)
        if event is not None:
            event.set()  # trained here: at once; elsewhere its dispatcher's watch sees the request
        return True

    def queue_position(self, run_id: int) -> int | None:
        """1 for the next run to start, 2 for the one after; None if the run is not waiting."""
        return self.queue.position(run_id)

    def active(self) -> list[int]:
        """Ids of the runs the class's slots hold right now (in every process), oldest first."""
        return [run_id for run_id, _owner, _team in self.queue.training()]

    def queued(self) -> list[int]:
        """Ids of the runs waiting for a slot, next first."""
        return self.queue.waiting_ids()

    def wait(self, run_id: int, timeout: float | None = None) -> bool:
        """Block until the run is no longer queued or running; False if `timeout` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                if not self.store.get(run_id).is_active:
                    return True
            except RunNotFound:
                return True
            left = WAIT_POLL_S if deadline is None else min(WAIT_POLL_S, deadline - time.monotonic())
            if left <= 0:
                return False
            with self._cond:
                self._cond.wait(left)  # a slot of this process ending a run wakes it at once

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop accepting runs, mark the waiting runs this process submitted interrupted, ask the runs its slots
        hold to stop (they keep their weights as "stopped"), and with `wait` join the slots."""
        self._closing.set()
        with self._cond:
            self._closed = True
            for event in self._running.values():
                event.set()
            self._cond.notify_all()
        try:
            self.queue.interrupt_waiting(os.getpid())
        except Exception:  # a damaged database: crash recovery marks them when this process is gone
            log.exception("could not mark the waiting runs interrupted")
        if wait and self.backend is not None:
            deadline = None if timeout is None else time.monotonic() + timeout
            for worker in self._workers:
                worker.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            self.backend.close(timeout=30.0 if deadline is None else max(1.0, deadline - time.monotonic()))

    # -- dispatching ------------------------------------------------------------------------------
    def _claim_next(self) -> Waiting | None:
        """Claim the run a free slot trains next: first a racer whose race already trains (a race is compared
        live), else the oldest waiting run whose owner trains fewer than the rules' runs at once (a race counts
        once), so a student's long queue never holds the class's slots. Called with the lock held."""
        while True:
            waiting = self.queue.waiting()
            if not waiting:
                return None
            training = self.queue.training()
            teams = {team for _run, _owner, team in training}
            entry = next((e for e in waiting if e.team in teams), None)
            if entry is None:
                cap = rules_in_force(self.store.root).max_running_per_student
                entry = next((e for e in waiting if e.turn_owner is None or cap is None
                              or len({t for _r, o, t in training if o == e.turn_owner}) < cap), None)
            if entry is None:
                return None
            if self.queue.claim(entry.run_id, self._name):
                return entry
            # stopped or taken by another dispatcher since it was read: look again

    def _watch(self) -> None:
        """A dispatcher looks for runs other processes queued and stops they asked for (one small indexed query),
        every WATCH_INTERVAL_S to WATCH_IDLE_S; every process marks runs whose process died interrupted every
        RECOVERY_INTERVAL_S."""
        seen, next_recovery = None, time.monotonic() + RECOVERY_INTERVAL_S
        interval = WATCH_INTERVAL_S if self.dispatches else RECOVERY_INTERVAL_S
        while not self._closing.wait(interval):
            try:
                if self.dispatches:
                    interval = min(WATCH_IDLE_S, interval * 1.5)
                if self.dispatches and (signature := self.queue.signature()) != seen:
                    seen, interval = signature, WATCH_INTERVAL_S
                    with self._cond:
                        for run_id in self.queue.stop_requests(self._name):
                            if run_id in self._running:
                                self._running[run_id].set()
                        self._cond.notify_all()
                if time.monotonic() >= next_recovery:
                    next_recovery = time.monotonic() + RECOVERY_INTERVAL_S
                    self.store.recover_interrupted()
                    if self.dispatches and self.queue.release_dead_claims():
                        with self._cond:
                            self._cond.notify_all()
            except Exception:  # a busy or damaged database: the next look tries again
                log.exception("watching the queue failed")

    def _work(self, slot: int) -> None:
        while True:
            with self._cond:
                while not self._closed and (entry := self._claim_next()) is None:
                    self._cond.wait()
                if self._closed:
                    return
                run_id = entry.run_id
                stop = self._running[run_id] = threading.Event()
            try:
                self.backend.run(slot, run_id, entry.config, stop, entry.task)
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
                    self._cond.notify_all()
