"""A class served by several app processes (`python -m app.serve_class`, #25): nginx in front of two app processes
and one trainer sharing the run store. Two students, each kept on another app process, share one training queue:
the place in line, the sidebar's trainings and a Stop mean the same across processes, and the runs train in the
trainer's workers, not in the app processes."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from playwright.sync_api import expect

from app.serve_class import ROUTE_COOKIE
from mnist_core.runs.store import RunStore

from browser_support import (
    AppServer,
    fill_field,
    in_ci,
    main,
    require_chromium,
    select_option,
    sidebar,
    start_app_server,
    wait_for_heading,
    wait_until,
)

pytestmark = pytest.mark.browser

RUN_TIMEOUT_S = 300
PROCESS_HEADER = "x-app-process"  # nginx names the app process that answered


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    require_chromium()
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        message = "nginx is missing: apt-get install nginx-light (.ci/run does)"
        pytest.fail(message) if in_ci() else pytest.skip(message)
    # One slot for the class: the second student's run must wait behind the first one's, whichever process asks.
    server = start_app_server(tmp_path_factory.mktemp("serve_class"), {"MNIST_PLAYGROUND_MAX_JOBS": "1"},
                              launcher=("-m", "app.serve_class", "--processes", "2"))
    yield server
    server.process.send_signal(signal.SIGTERM)  # the launcher stops nginx, the app processes and the trainer
    try:
        server.process.wait(120)
    except subprocess.TimeoutExpired:
        server.process.kill()


def open_as_new_browser(page, path: str, heading: str) -> str:
    """Open `path` in a browser that has no route cookie yet; the app process nginx put it on."""
    response = page.goto(path)
    wait_for_heading(page, heading)
    return response.headers[PROCESS_HEADER]


def route_cookie(page) -> dict:
    return next(c for c in page.context.cookies() if c["name"] == ROUTE_COOKIE)


def start(page, preset: str, epochs: str, name: str) -> None:
    select_option(page, "Preset", preset)
    fill_field(page, "Epochs", epochs)
    fill_field(page, "Run name (optional)", name)
    page.get_by_role("button", name="Start training").click()


def app_processes(server: AppServer) -> tuple[list[psutil.Process], psutil.Process]:
    children = psutil.Process(server.process.pid).children()
    apps = [c for c in children if "app.serve" in c.cmdline()]
    trainer = next(c for c in children if "serve-jobs" in c.cmdline())
    return apps, trainer


def test_two_app_processes_share_one_queue(new_page, app_server: AppServer) -> None:
    store = RunStore(app_server.runs_dir)
    a, b = new_page(), new_page()
    process_a = open_as_new_browser(a, "/train", "Train a network")
    # New browsers go to the app processes in turn: the next one to the other process.
    process_b = open_as_new_browser(b, "/train", "Train a network")
    assert process_a != process_b
    # Each stays where it was put: its route cookie (no secret, not for scripts) names its process.
    assert route_cookie(a)["value"] != route_cookie(b)["value"] and route_cookie(a)["httpOnly"]
    assert a.reload().headers[PROCESS_HEADER] == process_a
    wait_for_heading(a, "Train a network")

    start(a, "mlp-3", "30", "long run of A")
    first = wait_until(lambda: next((r for r in store.list_runs() if r.status == "running"), None), RUN_TIMEOUT_S,
                       "A's run never started")
    start(b, "softmax-sgd", "1", "quick run of B")
    second = wait_until(lambda: next((r for r in store.list_runs() if r.name == "quick run of B"), None), 60,
                        "B's run was never stored")
    # Queued by the other process, yet first in the one line; and A's training shows in B's sidebar.
    expect(main(b).get_by_text("number 1 in the queue", exact=False)).to_be_visible()
    expect(sidebar(b).get_by_text("long run of A", exact=False)).to_be_visible()
    assert store.get(second.id).status == "queued"

    # The runs train in the trainer's worker processes: the app processes start none.
    apps, trainer = app_processes(app_server)
    assert len(apps) == 2 and all(not p.children() for p in apps)
    assert trainer.children(), "the trainer has no worker process"

    # A stops A's run through A's app process; the trainer, another process, stops it, and B's run follows.
    main(a).get_by_role("button", name="Stop").click()
    wait_until(lambda: store.get(first.id).status == "stopped", RUN_TIMEOUT_S, "A's run did not stop")
    wait_until(lambda: store.get(second.id).status == "completed", RUN_TIMEOUT_S, "B's run did not train")
    expect(main(b).locator('[data-testid="stMetric"]').filter(has_text="Test accuracy")).to_be_visible()
