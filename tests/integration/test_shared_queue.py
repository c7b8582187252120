"""The training queue in the store (runs.queue), shared by processes: an app process that does not train
(MNIST_PLAYGROUND_TRAINER=elsewhere) queues, sees its place in line and stops runs; the process that dispatches
trains them. Real processes, a real SQLite file, real training on real MNIST files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from mnist_core.backends.jobs import JobManager
from mnist_core.runs.queue import RunQueue, dispatcher_name
from mnist_core.runs.store import RunStore

from conftest import TINY, wait_for

PROJECT = Path(__file__).resolve().parents[2]
LONG = TINY.replace(epochs=200, train_limit=20_000)  # minutes if nobody stops it

# An app process that only queues: one JSON command a line on stdin, one JSON answer a line on stdout.
CLIENT = """
import json, sys
from mnist_core.backends.jobs import JobManager
from mnist_core.config import TrainConfig
from mnist_core.runs.store import RunStore
jobs = JobManager(RunStore(sys.argv[1]))
assert not jobs.dispatches
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    command = json.loads(line)
    if command["do"] == "submit":
        answer = jobs.submit(TrainConfig.from_json(command["config"]), name=command["name"])
    elif command["do"] == "stop":
        answer = jobs.stop(command["run"])
    else:
        answer = jobs.queue_position(command["run"])
    print(json.dumps(answer), flush=True)
"""


class Client:
    def __init__(self, root: Path) -> None:
        env = {**os.environ, "MNIST_PLAYGROUND_TRAINER": "elsewhere", "PYTHONPATH": str(PROJECT)}
        self.process = subprocess.Popen([sys.executable, "-c", CLIENT, str(root)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env, cwd=PROJECT)
        assert json.loads(self.process.stdout.readline()) == {"ready": True}

    def ask(self, **command) -> object:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(30)


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


def test_runs_queued_by_a_process_that_does_not_train_are_trained_and_stopped_by_the_dispatcher(
        store: RunStore, data_root: Path, mnist) -> None:
    dispatcher = JobManager(store, max_concurrent=1, data_root=data_root, device="cpu", dispatch=True)
    client = Client(store.root)
    try:
        long_run = client.ask(do="submit", config=LONG.to_json(), name="long")
        wait_for(lambda: store.get(long_run).status == "running", timeout=60)
        quick_run = client.ask(do="submit", config=TINY.to_json(), name="quick")
        # One line for every process: the client sees its run first in it, and so does the dispatcher.
        assert client.ask(do="position", run=quick_run) == 1 == dispatcher.queue_position(quick_run)
        assert dispatcher.active() == [long_run] and dispatcher.queued() == [quick_run]
        assert psutil.Process(client.process.pid).children() == []  # the client trains nothing itself

        assert client.ask(do="stop", run=long_run) is True  # asked in one process, carried out by the other
        assert dispatcher.wait(long_run, timeout=60) and store.get(long_run).status == "stopped"
        assert dispatcher.wait(quick_run, timeout=120) and store.get(quick_run).status == "completed"
        assert client.ask(do="position", run=quick_run) is None
    finally:
        client.close()
        dispatcher.shutdown(timeout=30)


def test_a_waiting_run_stopped_by_another_process_never_trains(store: RunStore, data_root: Path, mnist) -> None:
    dispatcher = JobManager(store, max_concurrent=1, data_root=data_root, device="cpu", dispatch=True)
    client = Client(store.root)
    try:
        blocker = dispatcher.submit(LONG, name="blocker")
        wait_for(lambda: store.get(blocker).status == "running", timeout=60)
        waiting = client.ask(do="submit", config=TINY.to_json(), name="waiting")
        assert client.ask(do="stop", run=waiting) is True
        assert store.get(waiting).status == "stopped" and store.get(waiting).started is None
        assert dispatcher.stop(blocker) and dispatcher.wait(blocker, timeout=60)
        assert store.get(waiting).started is None and RunQueue(store).waiting_ids() == []
    finally:
        client.close()
        dispatcher.shutdown(timeout=30)


def test_a_run_is_claimed_once_and_a_dead_dispatchers_claims_go_back_in_line(store: RunStore) -> None:
    queue = RunQueue(store)
    first, second = store.create_runs([TINY, TINY], ["a", "b"])
    assert queue.claim(first, dispatcher_name()) and not queue.claim(first, "another dispatcher")
    assert queue.waiting_ids() == [second] and queue.position(second) == 1 and queue.position(first) is None
    # A dispatcher that died before its worker started the run: the run waits again, first in line.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    queue.claim(second, f"{dead.stdout.strip()}:1.0@{dispatcher_name().rpartition('@')[2]}")
    assert queue.release_dead_claims() == [second]
    assert queue.waiting_ids() == [second] and queue.release_dead_claims() == []


def test_the_trainer_setting_says_here_or_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    from mnist_core import settings

    for raw, trains in (("", True), ("here", True), (" Elsewhere ", False)):
        monkeypatch.setenv(settings.TRAINER_ENV, raw)
        assert settings.trains_here() is trains
    monkeypatch.setenv(settings.TRAINER_ENV, "nowhere")
    with pytest.raises(ValueError, match="MNIST_PLAYGROUND_TRAINER"):
        settings.trains_here()
