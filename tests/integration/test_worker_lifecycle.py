"""Worker processes end with whoever started them, and give their memory back when idle: real processes, signals
and SQLite. A killed parent leaves no worker behind, and its run is marked interrupted by the next RunStore opened
on the directory; a worker idle past MNIST_PLAYGROUND_WORKER_IDLE_S exits and the next run still trains; SIGTERM
ends a worker mid-run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from mnist_core import settings
from mnist_core.backends.jobs import JobManager
from mnist_core.backends.worker import EXIT_PARENT_GONE
from mnist_core.backends.worker_pool import LocalPool
from mnist_core.runs.failures import PROCESS_ENDED
from mnist_core.runs.store import RunStore

from conftest import PROJECT_DIR, TINY, wait_for

LONG = TINY.replace(epochs=200, train_limit=20_000)  # minutes if nobody stops it
GONE_TIMEOUT_S = 15  # generous on 2 busy cores; a worker that lives on would train for minutes

# A JobManager in a process of its own, training LONG; it prints the run's id once the run has trained an
# iteration, then waits to be killed.
DRIVER = """
import json, sys, time
from pathlib import Path
from mnist_core.backends.jobs import JobManager
from mnist_core.config import TrainConfig
from mnist_core.runs.store import RunStore

store = RunStore(Path(sys.argv[1]))
manager = JobManager(store, max_concurrent=2, data_root=Path(sys.argv[2]), device="cpu")
run_id = manager.submit(TrainConfig.from_json(sys.argv[3]))
deadline = time.monotonic() + 300
while (store.get(run_id).progress or {}).get("iteration", 0) == 0:
    assert time.monotonic() < deadline, "the run never trained"
    time.sleep(0.05)
print(json.dumps({"run": run_id, "workers": manager.backend.pids()}), flush=True)
time.sleep(600)
"""


def gone(pid: int) -> bool:
    """Ended: no such process, or a zombie (dead, its memory freed, only waiting for init to reap it)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def owner_pid(store: RunStore, run_id: int) -> int:
    """The process that marked the run running: the worker that trains it."""
    with sqlite3.connect(store.db_path) as conn:
        return conn.execute("SELECT owner_pid FROM runs WHERE id = ?", (run_id,)).fetchone()[0]


def training(store: RunStore, run_id: int) -> bool:
    return (store.get(run_id).progress or {}).get("iteration", 0) > 0


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_killed_parent_leaves_no_worker_and_its_run_is_interrupted(tmp_path: Path, data_root: Path, how) -> None:
    runs = tmp_path / "runs"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(runs), str(data_root), LONG.to_json()],
                              cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(PROJECT_DIR)})
    try:
        started = json.loads(driver.stdout.readline())
        workers = started["workers"]
        store = RunStore(runs)
        run_id = started["run"]
        trainer = owner_pid(store, run_id)
        assert trainer in workers and trainer != driver.pid
        assert store.get(run_id).status == "running"
        driver.send_signal(how)
        driver.wait(GONE_TIMEOUT_S)
        wait_for(lambda: all(gone(pid) for pid in workers), GONE_TIMEOUT_S)
    finally:
        driver.kill()
        driver.wait()
    # The worker died mid-run without a word: its run still says "running" until a RunStore looks at its owner.
    record = RunStore(runs).get(run_id)
    assert record.status == "interrupted" and record.failure == PROCESS_ENDED
    assert not RunStore(runs).has_weights(run_id)


def test_a_worker_whose_parent_is_gone_exits_by_itself(tmp_path: Path, data_root: Path) -> None:
    # The portable watchdog, apart from Linux's parent-death signal: told that its parent is a process it is not
    # the child of, the worker finds that parent "gone" on its first look and exits.
    elsewhere = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        worker = subprocess.run(
            [sys.executable, "-m", "mnist_core.backends.worker", "--runs", str(tmp_path / "runs"),
             "--data", str(data_root), "--parent", str(elsewhere.pid)],
            cwd=PROJECT_DIR, stdin=subprocess.PIPE, capture_output=True, text=True, timeout=120)
    finally:
        elsewhere.kill()
        elsewhere.wait()
    assert worker.returncode == EXIT_PARENT_GONE
    assert f"parent process {elsewhere.pid} is gone" in worker.stderr


def test_a_worker_outlives_the_thread_that_started_it(tmp_path: Path, data_root: Path) -> None:
    # Linux sends the parent-death signal when the *thread* that started a child ends; the app creates its pool in
    # a Streamlit script run's thread, which ends after each rerun. The worker must stay for the next run.
    pools: list[LocalPool] = []

    def start_pool() -> None:
        pools.append(LocalPool(1, tmp_path / "runs", data_root, "cpu"))
        assert pools[0].worker(0).wait_ready(120)  # it has asked for the parent-death signal by now

    starter = threading.Thread(target=start_pool)
    starter.start()
    starter.join()
    pool = pools[0]
    try:
        (pid,) = pool.pids()
        store = RunStore(tmp_path / "runs")
        run_id = store.create_run(TINY)
        pool.run(0, run_id, TINY, threading.Event())
        assert store.get(run_id).status == "completed" and owner_pid(store, run_id) == pid
    finally:
        pool.close()


def test_an_idle_worker_exits_and_the_next_run_still_trains(tmp_path: Path, data_root: Path, mnist,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.WORKER_IDLE_ENV, "1")
    store = RunStore(tmp_path / "runs")
    manager = JobManager(store, max_concurrent=2, data_root=data_root, device="cpu")
    try:
        first = manager.submit(TINY)
        assert manager.wait(first, timeout=120) and store.get(first).status == "completed"
        trained = owner_pid(store, first)
        wait_for(lambda: gone(trained), 30)  # idle for a second after its run: it gave its memory back
        # A fresh worker (imports only, no dataset) stands in, so the next run need not wait for torch to load.
        wait_for(lambda: len(manager.backend.pids()) == 1, 30)
        assert trained not in manager.backend.pids()
        second = manager.submit(TINY.replace(seed=2))
        assert manager.wait(second, timeout=120)
        record = store.get(second)
        assert record.status == "completed" and record.error is None  # not a "worker lost" failure
        assert owner_pid(store, second) not in (trained, os.getpid())
    finally:
        manager.shutdown(timeout=60)


def test_a_fresh_worker_is_kept_however_long_it_waits(tmp_path: Path, data_root: Path) -> None:
    pool = LocalPool(1, tmp_path / "runs", data_root, "cpu", idle_s=0.05)
    try:
        (fresh,) = pool.pids()
        time.sleep(1.0)  # twenty idle times, and many looks by the retiring thread
        assert pool.retire_idle() == [] and pool.pids() == [fresh]  # never trained: it holds only its imports,
        # retiring it would only start the same again
    finally:
        pool.close()


def test_sigterm_ends_a_worker_mid_run(tmp_path: Path, data_root: Path, mnist) -> None:
    store = RunStore(tmp_path / "runs")
    manager = JobManager(store, max_concurrent=1, data_root=data_root, device="cpu")
    try:
        run_id = manager.submit(LONG)
        wait_for(lambda: training(store, run_id), 120)
        worker = owner_pid(store, run_id)
        os.kill(worker, signal.SIGTERM)
        wait_for(lambda: gone(worker), GONE_TIMEOUT_S)
        assert manager.wait(run_id, timeout=30)
        record = store.get(run_id)
        assert record.status == "failed" and "signal 15" in record.error
        assert record.failure.facts == {"pid": worker, "returncode": -signal.SIGTERM}
    finally:
        manager.shutdown(timeout=60)


@pytest.mark.parametrize("raw", ["-1", "soon", "nan", "inf"])
def test_the_idle_time_must_be_a_number_of_seconds(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.WORKER_IDLE_ENV, raw)
    with pytest.raises(ValueError, match=settings.WORKER_IDLE_ENV):
        settings.worker_idle_s()


def test_the_idle_time_defaults_to_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.WORKER_IDLE_ENV, raising=False)
    assert settings.worker_idle_s() == 60.0
    monkeypatch.setenv(settings.WORKER_IDLE_ENV, "0")
    assert settings.worker_idle_s() == 0.0
