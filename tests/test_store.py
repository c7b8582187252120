"""RunStore against a real SQLite file: round trips, deletion, several writers at once, crash recovery, weights."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from mnist_core.config import PRESETS, TrainConfig
from mnist_core.failures import PROCESS_ENDED, Failure
from mnist_core.schema import StoreError
from mnist_core.store import RunNotFound, RunStore
from mnist_core.training import EpochMetrics, LossPoints, Progress, TrainResult, train
from mnist_core.weights import WeightsError

from conftest import TINY

PROJECT_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


@pytest.fixture(scope="module")
def tiny_result(mnist) -> TrainResult:
    """One real (tiny) training run, shared by the finish/weights tests."""
    return train(TINY, data=mnist, device="cpu")


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=PROJECT_DIR, capture_output=True, text=True,
                          timeout=60, check=False)


def test_round_trip_of_run_losses_epochs_and_progress(store: RunStore) -> None:
    run_id = store.create_run(PRESETS["mlp-3"])
    assert store.get(run_id).name == f"#{run_id} mlp-3 · adam"
    assert store.get(run_id).status == "queued" and store.get(run_id).progress is None
    assert store.mark_running(run_id, "cpu")

    store.add_losses(run_id, LossPoints([1, 2, 3], [2.3, 2.1, float("nan")]))  # a diverging run stores NaN
    store.add_losses(run_id, LossPoints([4], [1.5]))
    store.add_epoch(run_id, EpochMetrics(1, 2.0, 0.5, 1.9, 0.55, 1.5))
    store.add_epoch(run_id, EpochMetrics(2, 1.0, 0.8, 1.1, 0.75, 3.0))
    store.update_progress(run_id, Progress(4, 10, 2, 400, 1234.5, 2.5, 3.2))

    losses = store.losses(run_id)
    assert losses.iterations == [1, 2, 3, 4]
    assert losses.losses[:2] == [2.3, 2.1] and math.isnan(losses.losses[2]) and losses.losses[3] == 1.5
    assert store.epochs(run_id) == [EpochMetrics(1, 2.0, 0.5, 1.9, 0.55, 1.5), EpochMetrics(2, 1.0, 0.8, 1.1, 0.75, 3.0)]
    record = store.get(run_id)
    assert record.config == PRESETS["mlp-3"]
    assert (record.status, record.device) == ("running", "cpu")
    assert record.progress == {"iteration": 4, "total_iterations": 10, "epoch": 2, "samples_seen": 400,
                               "samples_per_s": 1234.5, "eta_s": 2.5, "elapsed_s": 3.2}
    # "final" train/val numbers come from the last epoch
    assert (record.train_loss, record.train_accuracy, record.val_loss, record.val_accuracy) == (1.0, 0.8, 1.1, 0.75)
    assert store.test_predictions(run_id) is None


def test_default_names_and_explicit_names(store: RunStore) -> None:
    custom = store.create_run(TrainConfig(hidden=(64, 32), optimizer="sgd"))
    softmax = store.create_run(TrainConfig(hidden=(), optimizer="rmsprop"))
    cnn = store.create_run(TrainConfig(model="cnn", hidden=(128,)))
    named = store.create_run(TINY, name="  my   first run ")
    assert store.get(custom).name == f"#{custom} mlp 64-32 · sgd"
    assert store.get(softmax).name == f"#{softmax} softmax · rmsprop"
    assert store.get(cnn).name == f"#{cnn} cnn · adam"
    assert store.get(named).name == "my first run"
    with pytest.raises(ValueError, match="cannot be empty"):
        store.create_run(TINY, name=" ")
    assert len(store.list_runs()) == 4  # the rejected one left nothing behind


def test_list_runs_newest_first_with_filters(store: RunStore) -> None:
    ids = [store.create_run(TINY) for _ in range(4)]
    store.set_status(ids[1], "completed")
    store.fail(ids[2], Failure("error", "boom\nsecond line", {"type": "RuntimeError", "detail": "boom"}))
    assert [r.id for r in store.list_runs()] == ids[::-1]
    assert [r.id for r in store.list_runs(limit=2)] == ids[:1:-1]
    assert [r.id for r in store.list_runs(statuses=["queued"])] == [ids[3], ids[0]]
    assert [r.id for r in store.list_runs(statuses=("completed", "failed"))] == [ids[2], ids[1]]
    assert store.get(ids[2]).error == "boom second line"  # one line for the CLI
    assert store.get(ids[2]).failure.facts == {"type": "RuntimeError", "detail": "boom"}  # the facts, for the app
    assert store.get(ids[1]).finished is not None
    with pytest.raises(ValueError, match="unknown run status 'done'"):
        store.list_runs(statuses=["done"])
    with pytest.raises(ValueError, match="unknown run status"):
        store.set_status(ids[0], "paused")
    assert store.get(ids[0]).status == "queued"


def test_rename_rejects_empty_names_and_missing_runs(store: RunStore) -> None:
    run_id = store.create_run(TINY, name="before")
    store.rename(run_id, "after")
    assert store.get(run_id).name == "after"
    for bad in ("", "   \t"):
        with pytest.raises(ValueError, match="A run name cannot be empty"):
            store.rename(run_id, bad)
    with pytest.raises(ValueError, match="at most 120 characters"):
        store.rename(run_id, "x" * 121)
    assert store.get(run_id).name == "after"
    with pytest.raises(RunNotFound, match="run 999 does not exist"):
        store.rename(999, "ghost")


def test_delete_removes_one_run_and_nothing_else(store: RunStore, tiny_result: TrainResult) -> None:
    keep, doomed = store.create_run(TINY), store.create_run(TINY)
    for run_id in (keep, doomed):
        store.add_losses(run_id, LossPoints([1, 2], [2.0, 1.0]))
        store.add_epoch(run_id, EpochMetrics(1, 1.0, 0.5, None, None, 1.0))
        store.finish(run_id, tiny_result)
    assert store.weights_path(doomed).is_file()

    store.delete(doomed)
    with pytest.raises(RunNotFound):
        store.get(doomed)
    assert not store.weights_path(doomed).exists()
    with sqlite3.connect(store.db_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM losses WHERE run_id = ?", (doomed,)).fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM epochs WHERE run_id = ?", (doomed,)).fetchone()[0] == 0
    assert store.get(keep).status == "completed" and store.weights_path(keep).is_file()
    assert store.losses(keep).iterations == tiny_result.losses.iterations
    for call in (store.delete, store.losses, store.epochs, store.test_predictions, store.load_model):
        with pytest.raises(RunNotFound):
            call(doomed)
    with pytest.raises(RunNotFound):
        store.add_losses(doomed, LossPoints([3], [0.5]))


def test_finish_stores_metrics_predictions_and_loadable_weights(store: RunStore, tiny_result: TrainResult) -> None:
    run_id = store.create_run(TINY, status="running")
    store.finish(run_id, tiny_result)
    record = store.get(run_id)
    assert record.status == "completed" and record.error is None
    assert record.test_accuracy == pytest.approx(tiny_result.test_accuracy)
    assert record.test_loss == pytest.approx(tiny_result.test_loss)
    assert record.duration_s == pytest.approx(tiny_result.seconds) and record.device == "cpu"
    assert record.train_accuracy == pytest.approx(tiny_result.epochs[-1].train_accuracy)
    assert torch.equal(store.test_predictions(run_id), tiny_result.test_predictions)
    assert store.losses(run_id).iterations == tiny_result.losses.iterations
    assert store.epochs(run_id) == tiny_result.epochs

    loaded = store.load_model(run_id)
    assert loaded.config == TINY and loaded.metadata["run_id"] == str(run_id)
    assert (loaded.mean, loaded.std) == (tiny_result.mean, tiny_result.std)
    x = torch.randn(5, 1, 28, 28)
    assert torch.allclose(loaded.model(x), tiny_result.model(x))


def test_tampered_weights_are_refused_and_the_run_survives(store: RunStore, tiny_result: TrainResult) -> None:
    run_id = store.create_run(TINY, status="running")
    store.finish(run_id, tiny_result)
    path = store.weights_path(run_id)
    good = path.read_bytes()
    tensors = {k: v.clone() for k, v in load_file(str(path)).items()}  # not views of the file we rewrite
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()

    def refused(match: str) -> None:
        with pytest.raises(WeightsError, match=match):
            store.load_model(run_id)
        record = store.get(run_id)
        assert record.status == "completed" and record.test_accuracy == pytest.approx(tiny_result.test_accuracy)

    path.write_bytes(good[: len(good) // 2])
    refused("not a readable safetensors")
    path.write_bytes(b"\x80\x04 pickle, not safetensors" * 20)
    refused("not a readable safetensors")
    name = next(iter(tensors))
    save_file({**tensors, name: torch.zeros(3, 3)}, str(path), metadata=metadata)  # a swapped tensor
    refused("does not match")
    save_file(tensors, str(path), metadata={**metadata, "config": TINY.replace(hidden=(64,)).to_json()})
    refused("does not match")
    path.unlink()
    refused("does not exist")
    assert store.losses(run_id).iterations == tiny_result.losses.iterations


_WRITER = """
import sys, time
from pathlib import Path
from mnist_core.config import TrainConfig
from mnist_core.store import RunStore
from mnist_core.training import LossPoints
root, go, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
store = RunStore(root)
run_id = store.create_run(TrainConfig())
print(run_id, flush=True)
while not go.exists():  # start writing together with the parent's threads
    time.sleep(0.001)
for i in range(n):
    store.add_losses(run_id, LossPoints([i], [float(i)]))
"""


def test_many_threads_and_processes_write_at_once(tmp_path: Path) -> None:
    root, go, n = tmp_path / "runs", tmp_path / "go", 200
    store = RunStore(root)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(root), str(go), str(n)], cwd=PROJECT_DIR,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    proc_runs = [int(p.stdout.readline()) for p in procs]  # both are ready and waiting for "go"
    thread_runs = [store.create_run(TINY) for _ in range(4)]
    errors: list[BaseException] = []

    def write(run_id: int) -> None:
        try:
            for i in range(n):
                store.add_losses(run_id, LossPoints([i], [float(i)]))
                if i % 20 == 0:
                    store.update_progress(run_id, Progress(i, n, 1, i, 1.0, 1.0, 1.0))
                    store.list_runs()
        except BaseException as exc:  # noqa: BLE001 - whatever a writer thread hits must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(r,)) for r in thread_runs]
    go.touch()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        _, stderr = p.communicate(timeout=60)
        assert p.returncode == 0, stderr
    assert errors == []
    for run_id in thread_runs + proc_runs:
        assert store.losses(run_id).iterations == list(range(n))
    assert len(store.list_runs()) == 6


_CRASHER = """
import os, sys
from mnist_core.config import TrainConfig
from mnist_core.store import RunStore
store = RunStore(sys.argv[1])
running = store.create_run(TrainConfig(), status="running")
queued = store.create_run(TrainConfig())
print(running, queued, flush=True)
os._exit(0)  # ends without finishing either run, as a killed process would
"""


def test_runs_of_a_dead_process_become_interrupted(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    store = RunStore(root)
    mine = store.create_run(TINY, status="running")
    other_host = store.create_run(TINY, status="running")
    recycled_pid = store.create_run(TINY, status="running")
    done = store.create_run(TINY)
    store.set_status(done, "completed")
    with sqlite3.connect(store.db_path) as conn:
        conn.execute("UPDATE runs SET owner_host = 'another-machine' WHERE id = ?", (other_host,))
        conn.execute("UPDATE runs SET owner_start = '1' WHERE id = ?", (recycled_pid,))  # our pid, not our start

    crashed = run_python(_CRASHER, str(root))
    assert crashed.returncode == 0, crashed.stderr
    running, queued = map(int, crashed.stdout.split())
    assert store.get(running).status == "running"  # nobody noticed yet

    reopened = RunStore(root)
    for run_id in (running, queued, recycled_pid):
        record = reopened.get(run_id)
        assert (record.status, record.error, record.failure) == ("interrupted", PROCESS_ENDED.message, PROCESS_ENDED)
    assert reopened.get(mine).status == "running"  # this process is alive
    assert reopened.get(other_host).status == "running"  # cannot tell for another machine: left alone
    assert reopened.get(done).status == "completed"
    assert reopened.recover_interrupted() == []


def test_mark_running_skips_runs_that_already_ended(store: RunStore) -> None:
    run_id = store.create_run(TINY)
    store.set_status(run_id, "stopped")
    assert store.mark_running(run_id, "cpu") is False
    assert store.get(run_id).status == "stopped"
    with pytest.raises(RunNotFound):
        store.mark_running(12345, "cpu")


def test_reopening_keeps_runs_and_refuses_a_newer_schema(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    run_id = store.create_run(TINY, name="kept")
    assert RunStore(tmp_path).get(run_id).name == "kept"
    with sqlite3.connect(store.db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer version"):
        RunStore(tmp_path)


def test_runs_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mnist_core.settings import runs_dir

    monkeypatch.setenv("MNIST_PLAYGROUND_RUNS", str(tmp_path / "elsewhere"))
    assert runs_dir() == tmp_path / "elsewhere"
    assert RunStore().db_path == tmp_path / "elsewhere" / "runs.sqlite3"
    monkeypatch.delenv("MNIST_PLAYGROUND_RUNS")
    assert runs_dir() == PROJECT_DIR / "runs"
