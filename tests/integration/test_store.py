"""RunStore against a real SQLite file: round trips, deletion, several writers at once, crash recovery, weights."""

from __future__ import annotations

import gc
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
from mnist_core.runs.failures import PROCESS_ENDED, Failure
from mnist_core.runs.schema import StoreError
from mnist_core.runs.store import RunNotFound, RunStore
from mnist_core.training import EpochMetrics, LossPoints, Progress, TrainResult, train
from mnist_core.weights import WeightsError

from conftest import TINY

PROJECT_DIR = Path(__file__).resolve().parents[2]


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
    assert store.epochs(run_id) == [EpochMetrics(1, 2.0, 0.5, 1.9, 0.55, 1.5),
                                    EpochMetrics(2, 1.0, 0.8, 1.1, 0.75, 3.0)]
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
from mnist_core.runs.store import RunStore
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
from mnist_core.runs.store import RunStore
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


def test_a_deleted_runs_id_is_never_given_again(tmp_path: Path) -> None:
    from mnist_core.runs.permissions import COMMAND_LINE

    store = RunStore(tmp_path / "runs")
    first, second = store.create_run(TrainConfig()), store.create_run(TrainConfig())
    store.delete(second, actor=COMMAND_LINE)
    store.delete(first, actor=COMMAND_LINE)
    third = RunStore(tmp_path / "runs").create_run(TrainConfig())  # a reopened store too
    assert third == second + 1 and store.get(third).name.startswith(f"#{third} ")


# -- whether a run's owner process lives (psutil) ------------------------------------------------------------------
_OWNER = """
from mnist_core.runs.processes import this_process
print(*this_process(), flush=True)
import time; time.sleep(30)
"""


def start_owner() -> tuple[subprocess.Popen[str], str]:
    """A real child process that records itself as a run's owner would, and waits; (process, its recorded start)."""
    child = subprocess.Popen([sys.executable, "-c", _OWNER], cwd=PROJECT_DIR, stdout=subprocess.PIPE, text=True)
    pid, start = child.stdout.readline().split()
    assert int(pid) == child.pid
    return child, start


def test_this_process_records_its_pid_and_psutil_start_time() -> None:
    import os

    import psutil

    from mnist_core.runs.processes import START_TOLERANCE_S, process_alive, this_process

    pid, start = this_process()
    assert pid == os.getpid() and float(start) == pytest.approx(psutil.Process().create_time(), abs=START_TOLERANCE_S)
    assert process_alive(pid, start)


def test_an_owner_is_alive_only_with_its_own_start_and_until_it_ends() -> None:
    from mnist_core.runs.processes import process_alive

    child, start = start_owner()
    try:
        assert process_alive(child.pid, start)
        assert not process_alive(child.pid, repr(float(start) - 3600))  # the pid, reused by a later process
        assert not process_alive(child.pid, repr(float(start) + 3600))
        for unknown in (None, "", "not a time"):  # proves nothing: the process exists and is no zombie
            assert process_alive(child.pid, unknown)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert not process_alive(child.pid, start)  # killed and reaped


def test_a_killed_owner_not_yet_reaped_is_not_alive() -> None:
    import os

    import psutil

    from mnist_core.runs.processes import process_alive

    child, start = start_owner()
    try:
        child.kill()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # until it has exited, leaving it unreaped
        assert psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE
        assert not process_alive(child.pid, start)
    finally:
        child.wait()
        child.stdout.close()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="the start form before psutil came from Linux's /proc")
def test_a_start_recorded_before_psutil_still_identifies_its_owner() -> None:
    import os

    from mnist_core.runs.processes import process_alive

    child, _ = start_owner()
    try:
        # What an older version recorded: field 22 of /proc/<pid>/stat, clock ticks after boot.
        ticks = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        assert process_alive(child.pid, ticks)
        later = int(ticks) + os.sysconf("SC_CLK_TCK") * 3600
        assert not process_alive(child.pid, str(later))  # an hour later: another process
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def test_lists_filter_and_page_in_sql_past_any_fixed_number_of_runs(tmp_path: Path) -> None:
    from mnist_core.runs.permissions import Actor

    store = RunStore(tmp_path / "runs")
    ann, ben = Actor("s-ann", "Ann"), Actor("s-ben", "Ben")
    anns_first = store.create_run(TINY, owner=ann)
    store.create_runs([TINY] * 260, [None] * 260, owner=ben)  # the class's newest 260 runs are all Ben's
    assert [r.id for r in store.list_runs(owner_id=ann.owner_id)] == [anns_first]  # not lost past the newest 200
    assert store.count_runs() == 261 and store.count_runs(owner_id=ben.owner_id) == 260
    pages = [store.list_runs(limit=100, offset=start) for start in (0, 100, 200)]
    ids = [r.id for page in pages for r in page]
    assert len(ids) == 261 == len(set(ids)) and ids[-1] == anns_first  # every run on exactly one page, newest first


def test_the_class_board_query_keeps_each_students_best_run_per_dataset(tmp_path: Path) -> None:
    from mnist_core.runs.permissions import Actor

    store = RunStore(tmp_path / "runs")
    ann, ben = Actor("s-ann", "Ann"), Actor("s-ben", "Ben")
    runs = {}
    for name, owner, dataset, accuracy, status in [("a1", ann, "mnist", 0.91, "completed"),
                                                   ("a2", ann, "mnist", 0.97, "completed"),
                                                   ("a3", ann, "mnist", 0.99, "failed"),
                                                   ("a4", ann, "fashion", 0.85, "completed"),
                                                   ("b1", ben, "mnist", 0.95, "completed"),
                                                   ("b2", ben, "mnist", 0.95, "completed")]:
        run_id = store.create_run(TINY.replace(dataset=dataset), name=name, owner=owner)
        with store.write_transaction() as conn:  # a finished run's outcome, as store.finish writes it
            conn.execute("UPDATE runs SET status = ?, test_accuracy = ? WHERE id = ?", (status, accuracy, run_id))
        runs[name] = run_id
    assert sorted(r.name for r in store.best_runs()) == ["a2", "a4", "b1"]  # b1: the earlier of a tie


def test_a_connection_passes_from_an_ended_thread_to_the_next(store: RunStore) -> None:
    """Streamlit runs reruns in new threads: the next thread takes an ended one's connection instead of opening
    another, and a connection is never used by two live threads at once."""
    def connection_of_a_thread() -> sqlite3.Connection:
        seen = []
        worker = threading.Thread(target=lambda: seen.append((store.count_runs(), store.connection())))
        worker.start()
        worker.join()
        del worker
        gc.collect()  # the ended Thread object is collected: its connection is handed back
        return seen[0][1]

    first = connection_of_a_thread()
    assert connection_of_a_thread() is first
    live, done, held = threading.Event(), threading.Event(), []
    holder = threading.Thread(target=lambda: (held.append(store.connection()), live.set(), done.wait(10)))
    holder.start()
    live.wait(10)
    assert store.connection() is not held[0]  # the holder still lives: this thread has a connection of its own
    assert connection_of_a_thread() is not held[0]
    done.set()
    holder.join()
