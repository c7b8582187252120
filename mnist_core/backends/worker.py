"""A training worker process: `python -m mnist_core.backends.worker --runs DIR [options]`.

Started by `worker_pool.WorkerProcess`, never by hand. It trains one run at a time for the JobManager of the app
(or CLI) that started it and writes the run's events straight into the same RunStore (SQLite in WAL mode is safe
across processes). Keeping trainings out of the web server's process means a student watching a chart never
takes the GIL from a training, and a crashing training cannot take the server down.

Protocol, one JSON object per line. In on stdin: {"run": id, "config": json} trains a run (with "task": json, a job
kind's, e.g. a class-set fine-tune: `mnist_core.backends.tasks`); {"stop": id} asks it
to stop after its current iteration; {"threads": n} sets torch's thread count (applied between iterations).
Out on stdout: {"ready": pid} once, then after each run {"done": id, "threads": torch threads it ended with,
"dataset_loads": datasets this process has loaded so far} (the pool's tests and benchmark read them). Anything
a library prints goes to stderr, so it cannot corrupt the protocol.

A worker ends with its parent. End of stdin (the pool closing it) stops the current run and exits, after at most
CLOSE_GRACE_S. The parent's death, even by SIGKILL, ends it at once, mid-step or mid-dataset-load: on Linux the
kernel sends it SIGTERM (PR_SET_PDEATHSIG), and everywhere a watchdog thread sees its parent pid change. SIGTERM
kills it outright. The run it trained is then left "running" in the database, with no live owner: the next
RunStore opened on that directory (the next server start) marks it interrupted.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO

import torch

from mnist_core.backends.execution import execute_run
from mnist_core.backends.tasks import trainer_for
from mnist_core.config import TrainConfig
from mnist_core.data import dataset_loads
from mnist_core.events import TrainEvent
from mnist_core.runs.store import RunStore

NICENESS = 10  # below the web server's priority; alone on the machine a training loses nothing by it
PARENT_POLL_S = 0.25  # how often the watchdog looks at the parent pid: the worker outlives its parent by at most this
# After stdin ends, the current run has this long to stop cleanly (its weights kept as "stopped") before the worker
# exits anyway: closing the pool must not wait on a long epoch's end, a slow test-set evaluation, a dataset load.
CLOSE_GRACE_S = 5.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
EXIT_PARENT_GONE = 3
EXIT_CLOSE_TIMEOUT = 4


class _Control:
    """What the stdin reader tells the training thread: which run to stop, how many threads to use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current: tuple[int, threading.Event] | None = None
        self.stop_requested: set[int] = set()  # a stop may arrive before its run has started here
        self.threads = torch.get_num_threads()
        self.closed = False
        self.closed_at: float | None = None  # time.monotonic() when stdin ended

    def stop(self, run_id: int) -> None:
        with self.lock:
            if self.current is not None and self.current[0] == run_id:
                self.current[1].set()
            else:
                self.stop_requested.add(run_id)

    def stop_all(self) -> None:
        with self.lock:
            self.closed, self.closed_at = True, time.monotonic()
            if self.current is not None:
                self.current[1].set()

    def begin(self, run_id: int) -> threading.Event:
        stop = threading.Event()
        with self.lock:
            if run_id in self.stop_requested or self.closed:
                stop.set()
            self.stop_requested.discard(run_id)
            self.current = (run_id, stop)
        return stop

    def end(self) -> None:
        with self.lock:
            self.current = None

    def apply_threads(self, _event: TrainEvent | None = None) -> None:
        """Called in the training thread between iterations (as the trainer's on_event), where a change of
        torch's intra-op thread count is safe: other runs started or ended, so the cores are shared anew."""
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)


def _read_commands(control: _Control, jobs: queue.Queue) -> None:
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except ValueError:
            print(f"mnist_core.backends.worker: ignored a line that is not JSON: {line[:80]!r}", file=sys.stderr)
            continue
        if "stop" in message:
            control.stop(int(message["stop"]))
        elif "threads" in message:
            control.threads = max(1, int(message["threads"]))
        elif "run" in message:
            jobs.put(message)
    # The pool closed our stdin (or the parent died, and the watchdog ends us anyway): finish the current run as
    # stopped, then exit.
    control.stop_all()
    jobs.put(None)


def die_with_parent() -> None:
    """On Linux, have the kernel send this process SIGTERM when its parent ends, however it ends (SIGKILL, a crash):
    nothing in the parent has to run for it. Elsewhere (or where prctl is refused) the watchdog alone does it."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _exit_now(code: int, why: str) -> None:
    # os.write, not print: sys.stderr's lock may be held by the thread this exit abandons.
    os.write(sys.stderr.fileno(), f"mnist_core.backends.worker (pid {os.getpid()}): {why}; exiting\n".encode())
    os._exit(code)  # ends every thread now, whatever the training thread is in the middle of


def _watch(parent: int, control: _Control) -> None:
    """The portable half of ending with the parent: once the parent is gone (this process was re-parented, to
    init or a subreaper) exit at once; once stdin has ended, give the current run CLOSE_GRACE_S to stop."""
    while True:
        if os.getppid() != parent:
            _exit_now(EXIT_PARENT_GONE, f"parent process {parent} is gone")
        closed_at = control.closed_at
        if closed_at is not None and time.monotonic() - closed_at > CLOSE_GRACE_S:
            _exit_now(EXIT_CLOSE_TIMEOUT, f"the current run did not stop within {CLOSE_GRACE_S:.0f} s of stdin's end")
        time.sleep(PARENT_POLL_S)


def serve(store: RunStore, data_root: Path | None, device: str | None, out: IO[str], parent: int) -> None:
    """Train the runs that arrive on stdin, one after another, until stdin ends or the parent is gone."""
    control, jobs = _Control(), queue.Queue()
    threading.Thread(target=_watch, args=(parent, control), name="worker-watchdog", daemon=True).start()
    threading.Thread(target=_read_commands, args=(control, jobs), name="worker-commands", daemon=True).start()
    out.write(json.dumps({"ready": os.getpid()}) + "\n")
    out.flush()
    while (job := jobs.get()) is not None:
        run_id = int(job["run"])
        stop = control.begin(run_id)
        control.apply_threads()
        try:
            execute_run(store, run_id, TrainConfig.from_json(job["config"]), stop=stop, device=device,
                        data_root=data_root, on_event=control.apply_threads,
                        trainer=trainer_for(store, run_id, job.get("task")))
        finally:
            control.end()
        report = {"done": run_id, "threads": torch.get_num_threads(), "dataset_loads": dataset_loads()}
        try:
            out.write(json.dumps(report) + "\n")
            out.flush()
        except BrokenPipeError:  # nobody reads us any more: the parent is gone, the watchdog ends us
            return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnist_core.backends.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="the runs directory (RunStore root)")
    parser.add_argument("--data", help="the data directory")
    parser.add_argument("--device", help="cpu, cuda, mps (default: MNIST_PLAYGROUND_DEVICE, else the best)")
    parser.add_argument("--parent", type=int, help="the pid to end with (default: the parent now)")
    args = parser.parse_args(argv)
    # SIG_DFL, not inherited: a parent started with SIGTERM ignored must not give us a worker that cannot be ended.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent()
    # Given by the pool, the pid is the real parent's even if it died before prctl above took effect: then the
    # watchdog finds it gone on its first look.
    parent = args.parent or os.getppid()
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")  # the protocol's own channel
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints land on stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the app's terminal reaches the app, which stops us
    if hasattr(os, "nice"):
        os.nice(NICENESS)  # the web server comes first: pages stay quick while every core trains
    torch.set_num_interop_threads(1)  # one training at a time here: inter-op parallelism only oversubscribes
    serve(RunStore(Path(args.runs)), Path(args.data) if args.data else None, args.device, out, parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
