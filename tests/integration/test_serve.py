"""`make run` (python -m app.serve): the server answers at once, warms up beside it, says when it is warm, and then
serves its first student a working Home (how much sooner: scripts/bench_page_cost.py --first-visit, #22)."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench_tools(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(PROJECT / "scripts"))
    import bench_class_load

    return bench_class_load


def test_the_warmed_server_serves_a_first_home_without_waiting_for_imports(bench_tools, data_root: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_PLAYGROUND_DATA", str(data_root))
    with tempfile.TemporaryDirectory() as temp:
        app = bench_tools.App(Path(temp), ("-m", "app.serve"))
        try:
            log = Path(temp) / "streamlit.log"
            deadline = time.monotonic() + 120
            while "Warmed up in" not in log.read_text(errors="replace"):
                assert time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
                assert app.process.poll() is None, log.read_text(errors="replace")[-2000:]
                time.sleep(0.2)
            student = bench_tools.Student(app.port, "ko", bench_tools.Figures())

            async def first_visit():
                await student.connect()
                try:
                    return await student.visit("home")
                finally:
                    await student.close()

            # In a thread of its own: after the browser tests, this thread may hold Playwright's running event loop.
            visits: list = []
            visitor = threading.Thread(target=lambda: visits.append(asyncio.run(first_visit())))
            visitor.start()
            visitor.join(120)
            shown = visits[0]
        finally:
            app.stop()
    assert shown.finished and not shown.exceptions, shown
    assert "home_shuffle" in shown.widgets  # Home's samples were drawn: the dataset was there
