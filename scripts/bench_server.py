"""The app under a benchmark: a server on a free port with its own runs directory, and the CPU and memory of its
web processes (their worker processes and the trainer excluded): `streamlit run` (or another launcher), or a class
behind nginx (`app.serve_class`, whose app processes are counted together), optionally held to some cores."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from http.cookies import SimpleCookie
from pathlib import Path

import psutil

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from app.serve_class import ROUTE_COOKIE  # noqa: E402
from mnist_core import settings  # noqa: E402

STREAMLIT_RUN = ("-m", "streamlit", "run", "streamlit_app.py")
APP_SERVE = ("-m", "app.serve")  # what `make run` starts: streamlit run, warmed up beside the server
WARMED_UP = ("Warmed up in", "warming up the app failed")  # what app.serve logs once its warm-up ended


def route_of(port: int, cookie: str) -> str | None:
    """What a browser's first request is told: behind nginx, the route cookie ("name=value") naming the app process
    it stays on (app.serve_class); None from a single server."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=60) as response:
        jar = SimpleCookie(response.headers.get("Set-Cookie", ""))
    return f"{ROUTE_COOKIE}={jar[ROUTE_COOKIE].value}" if ROUTE_COOKIE in jar else None


def cpu_seconds(process: psutil.Process) -> float:
    """A process's own CPU time (user + system); 0 once it has ended."""
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def serve_class(processes: int) -> tuple[str, ...]:
    """The launcher of a class served by `processes` app processes behind nginx."""
    return ("-m", "app.serve_class", "--processes", str(processes))


class App:
    """`launcher` on a free port with its own runs directory; `cpus` ("0", "0,1"): taskset's list of the cores
    the server and everything it starts may use."""

    def __init__(self, runs: Path, launcher: tuple[str, ...] = STREAMLIT_RUN, cpus: str | None = None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "MNIST_PLAYGROUND_RUNS": str(runs), "MNIST_PLAYGROUND_DATA": str(settings.data_dir())}
        pinned = ["taskset", "-c", cpus] if cpus else []
        with open(runs / "streamlit.log", "wb") as log:  # the server keeps its own copy of the file handle
            self.process = subprocess.Popen(
                [*pinned, sys.executable, *launcher, "--server.headless", "true",
                 "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
                 "--server.address", "127.0.0.1", "--server.port", str(self.port)],
                cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.ps = psutil.Process(self.process.pid)
        deadline = time.monotonic() + 180
        while not self._healthy():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the app did not start; see {runs / 'streamlit.log'}")
            time.sleep(0.25)
        # Behind nginx the web processes are the launcher's app.serve children; else the server itself.
        children = [c for c in self.ps.children() if "app.serve" in " ".join(c.cmdline())]
        self.web = children if "app.serve_class" in launcher else [self.ps]
        self.log = runs / "streamlit.log"

    def wait_until_warm(self, timeout_s: float = 180) -> None:
        """Until every app.serve process has ended its warm-up (imports, datasets: seconds of both cores), so that
        a measurement does not share the machine with it."""
        deadline = time.monotonic() + timeout_s
        while sum(self.log.read_text(errors="replace").count(line) for line in WARMED_UP) < len(self.web):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app processes did not warm up in {timeout_s:.0f} s; see {self.log}")
            time.sleep(0.25)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                return response.read().strip() == b"ok"
        except OSError:
            return False

    def cpu_seconds(self) -> float:
        """The web processes' own CPU time, together; their worker processes are children, not counted."""
        return sum(self.cpu_seconds_each())

    def cpu_seconds_each(self) -> list[float]:
        """Each web process's own CPU time."""
        return [cpu_seconds(p) for p in self.web]

    def rss(self) -> int:
        """The web processes' resident memory, together."""
        return sum(self.rss_each())

    def rss_each(self) -> list[int]:
        """Each web process's resident memory (0 once it has ended)."""
        sizes = []
        for process in self.web:
            try:
                sizes.append(process.memory_info().rss)
            except psutil.Error:
                sizes.append(0)
        return sizes

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ServerWatch:
    """The web processes' CPU (their own, not their workers') over marked windows, together and each; their peak
    RSS together and the largest one's, sampled every second."""

    def __init__(self, app: App) -> None:
        self.app, self.peak_rss, self.peak_rss_busiest, self.marks = app, 0, 0, {}
        self.task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            sizes = self.app.rss_each()
            self.peak_rss = max(self.peak_rss, sum(sizes))
            self.peak_rss_busiest = max(self.peak_rss_busiest, *sizes)
            await asyncio.sleep(1)

    def mark(self, name: str) -> None:
        self.marks[name] = (time.monotonic(), self.app.cpu_seconds_each())

    def cores(self, start: str, end: str) -> float:
        """The web processes' CPU between two marks, in cores, together."""
        return sum(self.cores_each(start, end))

    def cores_each(self, start: str, end: str) -> list[float]:
        """Each web process's CPU between two marks, in cores."""
        (t0, c0), (t1, c1) = self.marks[start], self.marks[end]
        return [(after - before) / max(t1 - t0, 1e-9) for before, after in zip(c0, c1, strict=True)]
