"""Stopping the server mid-run leaves no worker behind: a student starts a long run on /train in a real Chromium,
the `streamlit run` server is stopped (Ctrl+C's SIGINT, or SIGKILL, which gives it no chance to clean up), and
every worker process of that server's runs directory ends with it; the run it trained is marked interrupted by
the next RunStore opened on the directory, as at the next server start.

Each test starts a server of its own (the session's shared one must live on)."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil
import pytest

from mnist_core.runs.store import RunStore

from browser_support import (
    UI_TIMEOUT_MS,
    VIEWPORT,
    fill_field,
    open_page,
    select_option,
    start_app_server,
    wait_until,
)

pytestmark = pytest.mark.browser

# Small batches of a small network: thousands of iterations, minutes of training if nobody stops it.
LONG = {"Hidden layers": "32", "Batch size": "10", "Training images (0 = all)": "8000", "Epochs": "30"}
GONE_TIMEOUT_S = 15  # a worker that outlived its server would go on training for minutes


def workers_of(runs_dir: Path) -> list[psutil.Process]:
    """The live worker processes training for this runs directory: `python -m mnist_core.backends.worker --runs
    DIR`, whoever their parent is now (a worker whose server died is re-parented). Zombies are dead already."""
    runs = str(runs_dir.resolve())
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        command = process.info["cmdline"] or []
        if "mnist_core.backends.worker" in command and runs in command and process.info["status"] != "zombie":
            found.append(process)
    return found


def describe(processes: list[psutil.Process]) -> str:
    lines = []
    for process in processes:
        try:
            lines.append(f"pid {process.pid} (parent {process.ppid()}, {process.memory_info().rss >> 20} MB, "
                         f"{process.cpu_percent(0.2):.0f}% CPU)")
        except psutil.Error:
            continue
    return "; ".join(lines) or "none"


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
def test_stopping_the_server_mid_run_leaves_no_worker(chromium, tmp_path: Path, how: signal.Signals) -> None:
    server = start_app_server(tmp_path)
    runs_dir = server.runs_dir
    try:
        context = chromium.new_context(viewport=VIEWPORT, base_url=server.url)
        context.set_default_timeout(UI_TIMEOUT_MS)
        page = context.new_page()
        open_page(page, "/train", "Train a network")
        select_option(page, "Preset", "mlp-3")
        for label, value in LONG.items():
            fill_field(page, label, value)
        page.get_by_role("button", name="Start training").click()
        store = RunStore(runs_dir)
        run = wait_until(lambda: next((r for r in store.list_runs() if (r.progress or {}).get("iteration", 0) > 0),
                                      None), 180,
                         lambda: f"no run trained after Start; runs: {store.list_runs()}\n{server.log()}")
        assert run.status == "running"
        training = workers_of(runs_dir)
        assert training, "no worker process found for the server's runs directory"

        server.process.send_signal(how)
        server.process.wait(60)
        wait_until(lambda: not workers_of(runs_dir), GONE_TIMEOUT_S,
                   lambda: f"the server ended (exit {server.process.returncode}) but its workers live on: "
                           f"{describe(workers_of(runs_dir))}\n{server.log()}")
        context.close()
    finally:
        server.stop()
        for leftover in workers_of(runs_dir):  # a failed test must not leave its trainings running
            leftover.kill()
    # The worker died mid-run: the run's row still says "running" until a RunStore checks its owner's pid.
    record = RunStore(runs_dir).get(run.id)
    assert record.status == "interrupted", (record.status, record.error)
