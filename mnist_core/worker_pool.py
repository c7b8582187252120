"""The local pool: the JobManager's trainings run in worker processes (`mnist_core.worker`), one per slot.

Each slot of the JobManager owns one long-lived worker process, started on the slot's first run (the first slot's
at once) and reused after (the dataset is loaded once per worker, not once per run). A worker that dies is
replaced on its slot's next run; the run it was training is reported as lost (`WorkerLost`), so the JobManager
can mark it failed and go on.

Threads: N runs training at once on C cores get max(1, C // N) torch threads each, re-balanced whenever a run
starts or ends, so concurrent runs never oversubscribe the cores (with more runs than cores, one thread each).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

from mnist_core.config import TrainConfig

POLL_S = 0.1  # how often a waiting slot checks its stop event
CLOSE_TIMEOUT_S = 10.0
_EOF = object()


class WorkerLost(RuntimeError):
    """The worker process ended (killed, out of memory, crashed) while it trained a run."""

    failure_kind = "worker_lost"

    def __init__(self, pid: int, returncode: int | None) -> None:
        super().__init__(pid, returncode)
        self.pid, self.returncode = pid, returncode
        self.details = {"pid": pid, "returncode": returncode}

    def __str__(self) -> str:
        how = f"exit code {self.returncode}" if self.returncode is not None else "no exit code"
        if self.returncode is not None and self.returncode < 0:
            how = f"killed by signal {-self.returncode}"
        return f"the worker process training this run (pid {self.pid}) ended unexpectedly ({how})"


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's limit), else all of them."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_run(cores: int, running: int) -> int:
    """Torch threads for each of `running` concurrent runs on `cores` cores: never more threads than cores."""
    return max(1, cores // max(1, running))


class WorkerProcess:
    """One `python -m mnist_core.worker` child and the pipes to it."""

    def __init__(self, runs_root: Path, data_root: Path | None = None, device: str | None = None) -> None:
        command = [sys.executable, "-m", "mnist_core.worker", "--runs", str(runs_root)]
        if data_root is not None:
            command += ["--data", str(data_root)]
        if device is not None:
            command += ["--device", device]
        project = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [project, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        bufsize=1, env=env, cwd=project)
        self.pid = self.process.pid
        self._lines: queue.Queue = queue.Queue()
        self._send_lock = threading.Lock()
        threading.Thread(target=self._read, name=f"worker-{self.pid}-reader", daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                self._lines.put(json.loads(line))
            except ValueError:
                pass  # the worker writes only JSON here; anything else is not ours to act on
        self._lines.put(_EOF)

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, message: dict) -> bool:
        """Write one command; False when the worker is gone (its stdin is closed)."""
        with self._send_lock:
            try:
                self.process.stdin.write(json.dumps(message) + "\n")
                self.process.stdin.flush()
                return True
            except (BrokenPipeError, OSError, ValueError):
                return False

    def run(self, run_id: int, config: TrainConfig, stop: threading.Event) -> dict:
        """Train one run there and return the worker's report when it is done; the worker stops it when `stop`
        is set. WorkerLost when the process ends first."""
        self.send({"run": run_id, "config": config.to_json()})
        stop_sent = False
        while True:
            if stop.is_set() and not stop_sent:
                stop_sent = self.send({"stop": run_id}) or True
            try:
                message = self._lines.get(timeout=POLL_S)
            except queue.Empty:
                continue
            if message is _EOF:
                raise WorkerLost(self.pid, self.process.wait())
            if message.get("done") == run_id:
                return message

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """End the worker: closing its stdin stops what it trains (as "stopped") and makes it exit."""
        with self._send_lock:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class LocalPool:
    """`slots` worker processes (started when first needed) and the thread count each run gets."""

    def __init__(self, slots: int, runs_root: Path, data_root: Path | None = None, device: str | None = None,
                 cores: int | None = None) -> None:
        self.runs_root, self.data_root, self.device = Path(runs_root), data_root, device
        self.cores = cores or available_cores()
        self._workers: list[WorkerProcess | None] = [None] * slots
        self._busy: set[int] = set()
        self._lock = threading.Lock()
        # One worker starts now (importing torch takes seconds), so the first run does not wait for it; the
        # other slots start theirs when they first get a run.
        self._workers[0] = WorkerProcess(self.runs_root, self.data_root, self.device)

    def worker(self, slot: int) -> WorkerProcess:
        """The slot's live worker, starting a new one if it has none or its last one died."""
        with self._lock:
            current = self._workers[slot]
            if current is None or not current.alive():
                current = self._workers[slot] = WorkerProcess(self.runs_root, self.data_root, self.device)
            return current

    def run(self, slot: int, run_id: int, config: TrainConfig, stop: threading.Event) -> dict:
        """Train a run on the slot's worker (blocking) and return the worker's report (threads, dataset loads);
        WorkerLost when the worker died meanwhile."""
        worker = self.worker(slot)
        with self._lock:
            self._busy.add(slot)
        self._rebalance()
        try:
            return worker.run(run_id, config, stop)
        finally:
            with self._lock:
                self._busy.discard(slot)
            self._rebalance()

    def _rebalance(self) -> None:
        with self._lock:
            threads = threads_per_run(self.cores, len(self._busy))
            busy = [self._workers[slot] for slot in self._busy]
        for worker in busy:
            if worker is not None:
                worker.send({"threads": threads})

    def pids(self) -> list[int]:
        """Process ids of the live workers (the benchmark and the crash-recovery test look at them)."""
        with self._lock:
            return [w.pid for w in self._workers if w is not None and w.alive()]

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        with self._lock:
            workers, self._workers = [w for w in self._workers if w is not None], [None] * len(self._workers)
        for worker in workers:
            worker.close(timeout)
