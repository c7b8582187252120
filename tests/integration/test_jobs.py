"""JobManager with real training on real MNIST files: queue order, concurrency limit, stop, failure, races."""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from mnist_core.backends import jobs
from mnist_core.backends.execution import execute_run
from mnist_core.backends.jobs import JobManager
from mnist_core.config import ConfigError
from mnist_core.runs.failures import PROCESS_ENDED
from mnist_core.runs.store import RunStore
from mnist_core.settings import max_jobs

from conftest import TINY, wait_for

LONG = TINY.replace(epochs=200, train_limit=20_000)  # minutes if nobody stops it


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


@pytest.fixture
def make_manager(store: RunStore, data_root: Path, mnist):  # `mnist`: the dataset is loaded and cached once
    managers: list[JobManager] = []

    def make(**kwargs) -> JobManager:
        kwargs.setdefault("data_root", data_root)
        manager = JobManager(store, device="cpu", **kwargs)
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        manager.shutdown(timeout=30)


def test_a_submitted_run_trains_and_lands_in_the_store(store: RunStore, make_manager) -> None:
    manager = make_manager(max_concurrent=1)
    run_id = manager.submit(TINY, name="tiny")
    assert manager.wait(run_id, timeout=30)
    record = store.get(run_id)
    assert (record.name, record.status, record.device, record.error) == ("tiny", "completed", "cpu", None)
    assert record.test_accuracy > 0.5 and record.val_accuracy is not None
    assert record.progress["iteration"] == TINY.total_iterations
    assert store.losses(run_id).iterations[-1] == TINY.total_iterations
    assert [e.epoch for e in store.epochs(run_id)] == [1]
    assert store.load_model(run_id).config == TINY
    assert manager.active() == [] and manager.queue_position(run_id) is None


def test_never_more_than_max_concurrent_runs_at_once(store: RunStore, make_manager) -> None:
    # Runs that would train for minutes: two hold the two slots and the others wait, however fast or slow the
    # machine, so each state below is waited for, never caught in passing.
    manager = make_manager(max_concurrent=2)
    ids = [manager.submit(LONG.replace(seed=i)) for i in range(4)]
    wait_for(lambda: [store.get(i).status for i in ids] == ["running", "running", "queued", "queued"], timeout=60)
    assert manager.active() == ids[:2] and manager.queued() == ids[2:] and manager.queue_position(ids[3]) == 2
    assert manager.stop(ids[0]) and manager.wait(ids[0], timeout=30)
    wait_for(lambda: store.get(ids[2]).status == "running", timeout=60)  # the freed slot takes the next one
    assert manager.active() == ids[1:3] and manager.queued() == [ids[3]]
    assert manager.queue_position(ids[3]) == 1 and store.get(ids[3]).status == "queued"  # it moved up, still waits
    for run_id in (ids[3], ids[1], ids[2]):
        assert manager.stop(run_id) and manager.wait(run_id, timeout=30)
    records = [store.get(run_id) for run_id in ids]
    assert [r.status for r in records] == ["stopped"] * 4 and records[3].started is None
    trained = records[:3]
    for run in trained:  # from the store's clock: when a run started, at most one other was still running
        others = [o for o in trained if o is not run and o.started <= run.started < o.finished]
        assert len(others) <= 1
    first, second = trained[:2]
    assert first.started < second.finished and second.started < first.finished  # two ran at once


def test_runs_start_in_the_order_they_were_submitted(store: RunStore, make_manager) -> None:
    manager = make_manager(max_concurrent=1)
    ids = [manager.submit(TINY.replace(seed=i)) for i in range(3)]
    for run_id in ids:
        assert manager.wait(run_id, timeout=30)
    records = [store.get(run_id) for run_id in ids]
    for before, after in itertools.pairwise(records):
        assert before.finished <= after.started


def test_stop_a_queued_run_and_a_running_one(store: RunStore, make_manager) -> None:
    manager = make_manager(max_concurrent=1)
    running, queued = manager.submit(LONG), manager.submit(TINY)
    wait_for(lambda: (store.get(running).progress or {}).get("iteration", 0) > 0)
    assert manager.active() == [running] and manager.queue_position(queued) == 1

    assert manager.stop(queued)
    record = store.get(queued)
    assert record.status == "stopped" and record.started is None  # never ran
    assert manager.queue_position(queued) is None and manager.wait(queued, timeout=0)

    assert manager.stop(running)
    assert manager.wait(running, timeout=30)
    record = store.get(running)
    assert record.status == "stopped"
    assert record.progress["iteration"] < LONG.total_iterations
    assert record.test_accuracy is not None and store.has_weights(running)  # a stopped run keeps what it learned
    assert store.losses(queued).iterations == []
    assert manager.stop(running) is False and manager.stop(424242) is False


def test_failure_is_recorded_with_a_one_line_message(store: RunStore, make_manager, tmp_path: Path) -> None:
    broken = tmp_path / "broken-data"
    raw = broken / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (raw / name).write_bytes(b"not a gzip file")
    manager = make_manager(max_concurrent=1, data_root=broken)
    run_id = manager.submit(TINY)
    assert manager.wait(run_id, timeout=30)
    record = store.get(run_id)
    assert record.status == "failed"
    assert "is corrupt or truncated" in record.error and "\n" not in record.error
    # Kept as data too, so the app words it in the student's language.
    assert record.failure.kind == "dataset_corrupt"
    path = str(raw / "train-images-idx3-ubyte.gz")
    assert record.failure.facts == {"dataset": "mnist", "problem": "md5", "path": path}
    assert not store.has_weights(run_id)


def test_bad_configs_are_refused_before_anything_is_stored(store: RunStore, make_manager) -> None:
    manager = make_manager(max_concurrent=1)
    with pytest.raises(ConfigError, match="lr=-1"):
        manager.submit(TINY.replace(lr=-1))
    with pytest.raises(ConfigError, match="optimizer='lbfgs'"):
        manager.submit_race(TINY, ["adam", "lbfgs"])
    with pytest.raises(ValueError, match="at least one optimizer"):
        manager.submit_race(TINY, [])
    with pytest.raises(ValueError, match="repeated: adam"):
        manager.submit_race(TINY, ["adam", "sgd", "adam"])
    assert store.list_runs() == []


def test_a_race_runs_one_run_per_optimizer_from_the_same_start(store: RunStore, make_manager) -> None:
    manager = make_manager(max_concurrent=2)
    ids = manager.submit_race(TINY.replace(seed=7), ["sgd", "momentum", "adam"])
    for run_id in ids:
        assert manager.wait(run_id, timeout=30)
    records = [store.get(run_id) for run_id in ids]
    assert [r.name for r in records] == ["race · sgd", "race · momentum", "race · adam"]
    assert [r.config.optimizer for r in records] == ["sgd", "momentum", "adam"]
    assert {r.config.replace(optimizer="x") for r in records} == {TINY.replace(seed=7, optimizer="x")}
    assert len({r.group_id for r in records}) == 1 and records[0].group_id
    assert all(r.status == "completed" for r in records)
    other = manager.submit_race(TINY, ["adam", "sgd"])
    assert store.get(other[0]).group_id not in (None, records[0].group_id)


def test_shutdown_interrupts_the_queue_and_refuses_new_runs(store: RunStore, make_manager) -> None:
    manager = make_manager(max_concurrent=1)
    running, queued = manager.submit(LONG), manager.submit(TINY)
    wait_for(lambda: store.get(running).status == "running")
    manager.shutdown(timeout=30)
    assert store.get(running).status == "stopped"
    assert store.get(queued).status == "interrupted" and "shut down" in store.get(queued).error
    assert store.get(queued).failure.kind == "shutdown"
    with pytest.raises(RuntimeError, match="shut down"):
        manager.submit(TINY)


def test_execute_run_skips_a_run_that_already_ended(store: RunStore, data_root: Path) -> None:
    run_id = store.create_run(TINY)
    store.set_status(run_id, "stopped")
    assert execute_run(store, run_id, TINY, device="cpu", data_root=data_root) is None
    assert store.get(run_id).status == "stopped" and store.losses(run_id).iterations == []


def test_max_concurrent_defaults_from_the_environment(monkeypatch: pytest.MonkeyPatch, store: RunStore) -> None:
    monkeypatch.delenv("MNIST_PLAYGROUND_MAX_JOBS", raising=False)
    assert max_jobs() == 4  # a four-optimizer race runs side by side
    monkeypatch.setenv("MNIST_PLAYGROUND_MAX_JOBS", "3")
    assert max_jobs() == 3
    for bad in ("0", "two"):
        monkeypatch.setenv("MNIST_PLAYGROUND_MAX_JOBS", bad)
        with pytest.raises(ValueError, match="MNIST_PLAYGROUND_MAX_JOBS must be a whole number"):
            JobManager(store)
    with pytest.raises(ValueError, match="at least 1"):
        JobManager(store, max_concurrent=0)


def _denormal_survives() -> bool:
    """Whether this thread computes a denormal float (1e-40, below float32's normal range) rather than zero."""
    return bool(torch.tensor([1e-30]) * torch.tensor([1e-10]) != 0)


def test_training_threads_flush_denormals(store: RunStore, data_root: Path, mnist) -> None:
    # The setting is per thread, and a new thread copies its creator's: start this one from torch's default.
    seen: dict[str, bool] = {}

    def in_a_training_thread() -> None:
        torch.set_flush_denormal(False)
        seen["before"] = _denormal_survives()
        run_id = store.create_run(TINY)
        execute_run(store, run_id, TINY, device="cpu", data_root=data_root)
        seen["after"] = _denormal_survives()

    worker = threading.Thread(target=in_a_training_thread)
    worker.start()
    worker.join(60)
    assert seen == {"before": True, "after": False}


_RECORD_ITSELF = "from mnist_core.runs.processes import this_process; print(*this_process())"


def test_the_manager_finds_runs_whose_process_died(store: RunStore, make_manager,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "RECOVERY_INTERVAL_S", 0.05)
    manager = make_manager(max_concurrent=1)
    # Opening a store recovers too, and the worker process opens one: once it has trained a run, only the
    # manager's own periodic look can find a run orphaned after that.
    trained = manager.submit(TINY)
    assert manager.wait(trained, timeout=60) and store.get(trained).status == "completed"
    orphan = store.create_run(TINY, status="running")
    ended = subprocess.run([sys.executable, "-c", _RECORD_ITSELF], cwd=Path(__file__).resolve().parents[2],
                           capture_output=True, text=True, check=True)
    pid, start = ended.stdout.split()  # a process that recorded itself as an owner, then ended
    with sqlite3.connect(store.db_path) as conn:
        conn.execute("UPDATE runs SET owner_pid = ?, owner_start = ? WHERE id = ?", (int(pid), start, orphan))
    wait_for(lambda: store.get(orphan).status == "interrupted")
    assert store.get(orphan).failure == PROCESS_ENDED
    assert store.get(trained).status == "completed"
