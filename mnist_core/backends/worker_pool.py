"""The local pool: the JobManager's trainings run in worker processes (`mnist_core.backends.worker`), one per slot.

Each slot of the JobManager owns one worker process, started on the slot's first run (the first slot's at once)
and reused after (the dataset is loaded once per worker, not once per run). A worker that dies is replaced on its
slot's next run; the run it was training is reported as lost (`WorkerLost`), so the JobManager can mark it failed
and go on. A worker idle for `idle_s` after a run (MNIST_PLAYGROUND_WORKER_IDLE_S) is retired: it holds its
dataset and its allocator's memory, about 1 GB, for nothing. The pool retires it itself, under the lock that hands
runs out, so a retiring worker is never given a run; when none is left it starts a fresh one (imports only), so the
next run need not wait for torch to load. Workers end with this process (see `mnist_core.backends.worker`).

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
import time
from pathlib import Path

from mnist_core import settings
from mnist_core.config import TrainConfig

POLL_S = 0.1  # how often a waiting slot checks its stop event
CLOSE_TIMEOUT_S = 10.0
RETIRE_CHECK_S = 1.0  # how often the pool looks for idle workers (at most; sooner for a short idle time)
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


class _Spawner:
    """Starts every worker from one thread that lives as long as this process. Linux's parent-death signal (the
    worker's PR_SET_PDEATHSIG) is sent when the *thread* that started a child ends, not its process; the threads that
    ask for workers (a Streamlit script run, which ends with each rerun; a JobManager slot) may end long before."""

    def __init__(self) -> None:
        self._requests: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def popen(self, command: list[str], **options) -> subprocess.Popen:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():  # not alive: in a forked child of this process
                self._thread = threading.Thread(target=self._serve, name="worker-spawner", daemon=True)
                self._thread.start()
        reply: queue.Queue = queue.Queue(maxsize=1)
        self._requests.put((command, options, reply))
        result = reply.get()
        if isinstance(result, BaseException):
            raise result
        return result

    def _serve(self) -> None:
        while True:
            command, options, reply = self._requests.get()
            try:
                reply.put(subprocess.Popen(command, **options))
            except BaseException as exc:  # e.g. no such interpreter: raised in the thread that asked
                reply.put(exc)


_SPAWNER = _Spawner()


class WorkerProcess:
    """One `python -m mnist_core.backends.worker` child and the pipes to it."""

    def __init__(self, runs_root: Path, data_root: Path | None = None, device: str | None = None) -> None:
        command = [sys.executable, "-m", "mnist_core.backends.worker", "--runs", str(runs_root),
                   "--parent", str(os.getpid())]
        if data_root is not None:
            command += ["--data", str(data_root)]
        if device is not None:
            command += ["--device", device]
        project = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [project, os.environ.get("PYTHONPATH")]))}
        self.process = _SPAWNER.popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                      bufsize=1, env=env, cwd=project)
        self.pid = self.process.pid
        self.last_run_ended: float | None = None  # time.monotonic() at its last run's end; None: never trained
        self._lines: queue.Queue = queue.Queue()
        self._ready = threading.Event()
        self._send_lock = threading.Lock()
        threading.Thread(target=self._read, name=f"worker-{self.pid}-reader", daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue  # the worker writes only JSON here; anything else is not ours to act on
            if "ready" in message:
                self._ready.set()
            else:
                self._lines.put(message)
        self._lines.put(_EOF)
        self._ready.set()  # nothing more will come: a waiter learns it from alive()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the worker has started (torch imported, its protocol up); False if it ended or `timeout`
        passed first. Runs need not wait for it: a run sent earlier waits in its stdin."""
        return self._ready.wait(timeout) and self.alive()

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

    def run(self, run_id: int, config: TrainConfig, stop: threading.Event, task: dict | None = None) -> dict:
        """Train one run there and return the worker's report when it is done; the worker stops it when `stop`
        is set. `task`: the run's job kind (plain JSON, backends.tasks). WorkerLost when the process ends first."""
        self.send({"run": run_id, "config": config.to_json(), **({"task": task} if task is not None else {})})
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
    """`slots` worker processes (started when first needed, retired after `idle_s` idle) and the thread count each
    run gets. `idle_s`: MNIST_PLAYGROUND_WORKER_IDLE_S unless given; 0 keeps workers for good."""

    def __init__(self, slots: int, runs_root: Path, data_root: Path | None = None, device: str | None = None,
                 cores: int | None = None, idle_s: float | None = None) -> None:
        self.runs_root, self.data_root, self.device = Path(runs_root), data_root, device
        self.cores = cores or available_cores()
        self.idle_s = settings.worker_idle_s() if idle_s is None else float(idle_s)
        self._workers: list[WorkerProcess | None] = [None] * slots
        self._busy: set[int] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        # One worker starts now (importing torch takes seconds), so the first run does not wait for it; the
        # other slots start theirs when they first get a run.
        self._workers[0] = self._start()
        if self.idle_s > 0:
            threading.Thread(target=self._retire_periodically, name="worker-pool-retire", daemon=True).start()

    def _start(self) -> WorkerProcess:
        return WorkerProcess(self.runs_root, self.data_root, self.device)

    def _live_worker(self, slot: int) -> WorkerProcess:
        """The slot's live worker, starting a new one if it has none (never had one, or it was retired) or its last
        one died. The caller holds the lock."""
        current = self._workers[slot]
        if current is None or not current.alive():
            current = self._workers[slot] = self._start()
        return current

    def worker(self, slot: int) -> WorkerProcess:
        """The slot's live worker, starting a new one if it has none or its last one died."""
        with self._lock:
            return self._live_worker(slot)

    def run(self, slot: int, run_id: int, config: TrainConfig, stop: threading.Event,
            task: dict | None = None) -> dict:
        """Train a run on the slot's worker (blocking) and return the worker's report (threads, dataset loads);
        WorkerLost when the worker died meanwhile."""
        with self._lock:  # one step: a worker the retiring thread sees busy is never retired under its run
            worker = self._live_worker(slot)
            self._busy.add(slot)
            self._keep_a_spare()
        self._rebalance()
        try:
            return worker.run(run_id, config, stop, task)
        finally:
            with self._lock:
                self._busy.discard(slot)
                worker.last_run_ended = time.monotonic()
            self._rebalance()

    def _keep_a_spare(self) -> None:
        """Start a worker in a free slot when no idle live worker is left, so the next run (another student's
        Start a moment later) finds torch already imported instead of waiting seconds for it. The caller holds the
        lock; the worker's imports run in its own process."""
        idle = [s for s, w in enumerate(self._workers) if s not in self._busy and w is not None and w.alive()]
        empty = [s for s, w in enumerate(self._workers) if s not in self._busy and (w is None or not w.alive())]
        if not idle and empty:
            self._workers[empty[0]] = self._start()

    def _rebalance(self) -> None:
        with self._lock:
            threads = threads_per_run(self.cores, len(self._busy))
            busy = [self._workers[slot] for slot in self._busy]
        for worker in busy:
            if worker is not None:
                worker.send({"threads": threads})

    def _retire_periodically(self) -> None:
        while not self._closed.wait(min(RETIRE_CHECK_S, self.idle_s / 4)):
            self.retire_idle()

    def retire_idle(self) -> list[int]:
        """End the workers that trained a run and have been idle for `idle_s` since; return their pids. When that
        leaves no live worker, start a fresh one (a worker that never trained holds only its imports, and is kept)."""
        now = time.monotonic()
        with self._lock:
            if self._closed.is_set():
                return []
            retired = []
            for slot, worker in enumerate(self._workers):
                ended = worker.last_run_ended if worker is not None else None
                if slot not in self._busy and ended is not None and now - ended >= self.idle_s:
                    retired.append(worker)
                    self._workers[slot] = None  # out of the slot first: no run can be handed to it any more
            if retired and not any(w is not None and w.alive() for w in self._workers):
                spare = next(slot for slot, w in enumerate(self._workers) if w is None or not w.alive())
                self._workers[spare] = self._start()
        for worker in retired:
            worker.close()  # idle: it reads the end of its stdin and exits at once
        return [worker.pid for worker in retired]

    def pids(self) -> list[int]:
        """Process ids of the live workers (the benchmark and the crash-recovery test look at them)."""
        with self._lock:
            return [w.pid for w in self._workers if w is not None and w.alive()]

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        with self._lock:
            self._closed.set()
            workers, self._workers = [w for w in self._workers if w is not None], [None] * len(self._workers)
        for worker in workers:
            worker.close(timeout)
