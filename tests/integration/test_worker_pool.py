"""The local pool: trainings in worker processes that write into the same RunStore, on real MNIST files.

A killed worker fails its run with a message and the queue goes on; a worker is reused (its dataset loaded once);
concurrent runs share the cores without oversubscribing them; a run deleted while it trains leaves nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
from pathlib import Path

import pytest

from mnist_core.backends.jobs import JobManager
from mnist_core.backends.worker_pool import LocalPool, WorkerLost, threads_per_run
from mnist_core.config import TrainConfig
from mnist_core.runs.store import RunNotFound, RunStore

from conftest import wait_for

TINY = TrainConfig(hidden=(32,), epochs=1, train_limit=2000, val_size=500)
LONG = TINY.replace(epochs=200, train_limit=20_000)  # minutes if nobody stops it


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


def owner_pid(store: RunStore, run_id: int) -> int:
    """The process that marked the run running (the worker), as the store records it for crash recovery."""
    with sqlite3.connect(store.db_path) as conn:
        return conn.execute("SELECT owner_pid FROM runs WHERE id = ?", (run_id,)).fetchone()[0]


def test_threads_per_run_never_oversubscribes() -> None:
    assert [threads_per_run(8, n) for n in (0, 1, 2, 3, 4, 8, 16)] == [8, 8, 4, 2, 2, 1, 1]
    assert [threads_per_run(2, n) for n in (1, 2, 4)] == [2, 1, 1]
    for cores in range(1, 17):
        for running in range(1, cores + 1):
            assert threads_per_run(cores, running) * running <= cores


def test_a_killed_worker_fails_its_run_and_the_queue_goes_on(store: RunStore, data_root: Path, mnist) -> None:
    manager = JobManager(store, max_concurrent=1, data_root=data_root, device="cpu")
    try:
        doomed, after = manager.submit(LONG), manager.submit(TINY)
        wait_for(lambda: (store.get(doomed).progress or {}).get("iteration", 0) > 0, 60)
        victim = owner_pid(store, doomed)
        assert victim != os.getpid()  # it trains in a worker process, not in this one
        os.kill(victim, signal.SIGKILL)
        assert manager.wait(doomed, timeout=60) and manager.wait(after, timeout=120)
        record = store.get(doomed)
        assert record.status == "failed"
        assert "worker process" in record.error and "ended unexpectedly" in record.error and "signal 9" in record.error
        assert (record.failure.kind, record.failure.facts) == ("worker_lost", {"pid": victim, "returncode": -9})
        assert not store.has_weights(doomed)
        nxt = store.get(after)
        assert nxt.status == "completed" and nxt.test_accuracy > 0.5
        assert owner_pid(store, after) not in (victim, os.getpid())  # a fresh worker took the slot
    finally:
        manager.shutdown(timeout=60)


def test_a_worker_is_reused_and_loads_its_dataset_once(store: RunStore, data_root: Path) -> None:
    pool = LocalPool(1, store.root, data_root=data_root, device="cpu")
    try:
        reports = []
        for seed in (1, 2, 3):
            run_id = store.create_run(TINY.replace(seed=seed))
            reports.append(pool.run(0, run_id, TINY.replace(seed=seed), threading.Event()))
            assert store.get(run_id).status == "completed"
        assert [r["dataset_loads"] for r in reports] == [1, 1, 1]
        assert len(pool.pids()) == 1
    finally:
        pool.close()


def test_concurrent_runs_share_the_cores(store: RunStore, data_root: Path) -> None:
    pool = LocalPool(2, store.root, data_root=data_root, device="cpu", cores=2)
    try:
        alone = pool.run(0, store.create_run(TINY), TINY, threading.Event())
        assert alone["threads"] == 2  # one run alone uses both cores
        reports: dict[int, dict] = {}
        config = TINY.replace(train_limit=12_000)  # long enough for the two to overlap

        def train(slot: int) -> None:
            reports[slot] = pool.run(slot, store.create_run(config), config, threading.Event())

        threads = [threading.Thread(target=train, args=(slot,)) for slot in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        # Each ended with one thread while the other still ran, or with two once it was alone again; never more.
        assert {r["threads"] for r in reports.values()} <= {1, 2} and min(r["threads"] for r in reports.values()) == 1
    finally:
        pool.close()


def test_a_run_deleted_while_it_trains_leaves_nothing_behind(store: RunStore, data_root: Path, mnist) -> None:
    manager = JobManager(store, max_concurrent=1, data_root=data_root, device="cpu")
    try:
        run_id, after = manager.submit(LONG), manager.submit(TINY)
        wait_for(lambda: (store.get(run_id).progress or {}).get("iteration", 0) > 0, 60)
        store.delete(run_id)  # the worker's next write finds no row: it drops the run and takes the next one
        assert manager.wait(run_id, timeout=60) and manager.wait(after, timeout=60)
        with pytest.raises(RunNotFound):
            store.get(run_id)
        assert not store.has_weights(run_id)
        assert store.get(after).status == "completed"
    finally:
        manager.shutdown(timeout=60)


def test_a_lost_worker_is_reported_with_its_exit(store: RunStore, data_root: Path) -> None:
    pool = LocalPool(1, store.root, data_root=data_root, device="cpu")
    try:
        worker = pool.worker(0)
        worker.process.terminate()
        worker.process.wait(30)
        replacement = pool.worker(0)  # a dead worker is replaced on the slot's next run
        assert replacement.pid != worker.pid and replacement.alive()
        replacement.process.kill()
        with pytest.raises(WorkerLost, match="killed by signal 9"):
            replacement.run(store.create_run(TINY), TINY, threading.Event())
    finally:
        pool.close()
