"""A training worker process: `python -m mnist_core.worker --runs DIR [--data DIR] [--device D]`.

Started by `worker_pool.WorkerProcess`, never by hand. It trains one run at a time for the JobManager of the app
(or CLI) that started it and writes the run's events straight into the same RunStore (SQLite in WAL mode is safe
across processes). Keeping trainings out of the web server's process means a student watching a chart never
takes the GIL from a training, and a crashing training cannot take the server down.

Protocol, one JSON object per line. In on stdin: {"run": id, "config": json} trains a run; {"stop": id} asks it
to stop after its current iteration; {"threads": n} sets torch's thread count (applied between iterations).
Out on stdout: {"ready": pid} once, then after each run {"done": id, "threads": torch threads it ended with,
"dataset_loads": datasets this process has loaded so far} (the pool's tests and benchmark read them). Anything a library prints goes to stderr,
so it cannot corrupt the protocol. End of stdin (the parent ended or closed it) stops the current run and exits.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import sys
import threading
from pathlib import Path
from typing import IO

import torch

from mnist_core.config import TrainConfig
from mnist_core.data import dataset_loads
from mnist_core.events import TrainEvent
from mnist_core.jobs import execute_run
from mnist_core.store import RunStore

NICENESS = 10  # below the web server's priority; alone on the machine a training loses nothing by it


class _Control:
    """What the stdin reader tells the training thread: which run to stop, how many threads to use."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current: tuple[int, threading.Event] | None = None
        self.stop_requested: set[int] = set()  # a stop may arrive before its run has started here
        self.threads = torch.get_num_threads()
        self.closed = False

    def stop(self, run_id: int) -> None:
        with self.lock:
            if self.current is not None and self.current[0] == run_id:
                self.current[1].set()
            else:
                self.stop_requested.add(run_id)

    def stop_all(self) -> None:
        with self.lock:
            self.closed = True
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
            print(f"mnist_core.worker: ignored a line that is not JSON: {line[:80]!r}", file=sys.stderr)
            continue
        if "stop" in message:
            control.stop(int(message["stop"]))
        elif "threads" in message:
            control.threads = max(1, int(message["threads"]))
        elif "run" in message:
            jobs.put(message)
    control.stop_all()  # the parent is gone or shutting down: finish the current run as stopped, then exit
    jobs.put(None)


def serve(store: RunStore, data_root: Path | None, device: str | None, out: IO[str]) -> None:
    """Train the runs that arrive on stdin, one after another, until stdin ends."""
    control, jobs = _Control(), queue.Queue()
    threading.Thread(target=_read_commands, args=(control, jobs), name="worker-commands", daemon=True).start()
    out.write(json.dumps({"ready": os.getpid()}) + "\n")
    out.flush()
    while (job := jobs.get()) is not None:
        run_id = int(job["run"])
        stop = control.begin(run_id)
        control.apply_threads()
        try:
            execute_run(store, run_id, TrainConfig.from_json(job["config"]), stop=stop, device=device,
                        data_root=data_root, on_event=control.apply_threads)
        finally:
            control.end()
        report = {"done": run_id, "threads": torch.get_num_threads(), "dataset_loads": dataset_loads()}
        out.write(json.dumps(report) + "\n")
        out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnist_core.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", required=True, help="the runs directory (RunStore root)")
    parser.add_argument("--data", help="the data directory")
    parser.add_argument("--device", help="cpu, cuda, mps (default: MNIST_PLAYGROUND_DEVICE, else the best)")
    args = parser.parse_args(argv)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")  # the protocol's own channel
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints land on stderr
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the app's terminal reaches the app, which stops us
    if hasattr(os, "nice"):
        os.nice(NICENESS)  # the web server comes first: pages stay quick while every core trains
    torch.set_num_interop_threads(1)  # one training at a time here: inter-op parallelism only oversubscribes
    serve(RunStore(Path(args.runs)), Path(args.data) if args.data else None, args.device, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
