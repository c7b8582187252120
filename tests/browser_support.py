"""Fixtures and helpers for the browser tests (test_browser*.py): the real app in a `streamlit run` subprocess on
a free port, Debian's Chromium driven by Playwright, and the few waits a Streamlit page needs.

tests/conftest.py registers this module as a pytest plugin, so its session fixtures (one app server, one
Chromium) are shared by every test_browser*.py module; the modules import only its helpers. A failing browser
test gets the server log's tail in its report and a screenshot of each of its pages in artifacts/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import PROJECT_DIR, raw_test_set, seed_data_dir

SCREENSHOTS = PROJECT_DIR / "artifacts" / "screenshots"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HEALTH_TIMEOUT_S = 90  # a cold start imports torch and streamlit on 2 busy cores
VIEWPORT = {"width": 1400, "height": 1000}
# Generous: a full rerun on this 2-core machine can take seconds while trainings use both cores.
UI_TIMEOUT_MS = 60_000


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def chromium_path() -> str | None:
    """Debian's Chromium: on PATH, or where its package puts it."""
    return shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None)


def require_chromium() -> str:
    """The Chromium to drive. Outside CI a machine without one skips; in CI a missing browser is a failure."""
    path = chromium_path()
    if path:
        return path
    message = "browser tests need Debian's Chromium (apt-get install chromium chromium-driver)"
    if in_ci():
        pytest.fail(f"{message}; CI must run them, not skip them")
    pytest.skip(message)


# ---------------------------------------------------------------------------------------------------------
# The app server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AppServer:
    """A `streamlit run streamlit_app.py` subprocess (or another launcher's), with its own data and runs
    directories."""

    process: subprocess.Popen
    port: int
    log_path: Path
    data_dir: Path
    runs_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, last_chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-last_chars:]
        except OSError as exc:
            return f"(no server log: {exc})"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                return response.status == 200 and response.read().strip() == b"ok"
        except OSError:
            return False

    def wait_healthy(self, timeout_s: float = HEALTH_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the app exited with code {self.process.returncode} before it was healthy; "
                            f"server log:\n{self.log()}")
            if self.healthy():
                return
            time.sleep(0.25)
        pytest.fail(f"the app was not healthy at {self.url}/_stcore/health after {timeout_s:.0f} s; "
                    f"server log:\n{self.log()}")

    def stop(self) -> None:
        """Terminate by PID, then kill if it does not go within 10 s."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


STREAMLIT_RUN = ("-m", "streamlit", "run", "streamlit_app.py")


def start_app_server(work_dir: Path, env: dict[str, str] | None = None,
                     launcher: tuple[str, ...] = STREAMLIT_RUN) -> AppServer:
    data = seed_data_dir(work_dir / "data")
    runs = work_dir / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = work_dir / "streamlit.log"
    # Workers stay warm for the whole suite (unless a test asks otherwise): tests that check two runs overlap must
    # not depend on whether the idle timeout retired a worker between tests (test_worker_lifecycle covers it).
    env = {"MNIST_PLAYGROUND_WORKER_IDLE_S": "0", **os.environ, **(env or {}), "MNIST_PLAYGROUND_DATA": str(data),
           "MNIST_PLAYGROUND_RUNS": str(runs), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, *launcher, "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
               "--server.address", "127.0.0.1", "--server.port", str(port)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    server = AppServer(process, port, log_path, data, runs)
    try:
        server.wait_healthy()
    except BaseException:
        server.stop()
        raise
    return server


def own_app_server(tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]) -> Iterator[AppServer]:
    """A test module's own server with extra environment (a teacher key, one worker), for a module-scoped
    `app_server` fixture that overrides the session-wide one: `yield from own_app_server(...)`."""
    require_chromium()
    server = start_app_server(tmp_path_factory.mktemp(name), env)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The real app, once for all browser tests; its log is attached to failures via `server.log()`."""
    require_chromium()
    server = start_app_server(tmp_path_factory.mktemp("browser_app"))
    yield server
    server.stop()


@pytest.fixture
def run_store(app_server: AppServer):
    """The app's run store, read directly: what the pages show is checked against what was stored."""
    from mnist_core.runs.store import RunStore

    return RunStore(app_server.runs_dir)


@pytest.fixture(scope="session")
def chromium():
    """One Chromium for the session; each test opens its own context(s), so sessions never share state."""
    path = require_chromium()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    # Keep each phase's report on the item, so fixtures can tell in their teardown whether the test failed.
    report = yield
    setattr(item, f"report_{report.when}", report)
    server = item.funcargs.get("app_server") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(server, AppServer):
        report.sections.append(("streamlit server log (tail)", server.log()))
    return report


@pytest.fixture
def new_page(request: pytest.FixtureRequest, chromium, app_server: AppServer):
    """A factory of pages, each in a fresh browser context (a separate student); all closed after the test,
    after a screenshot of each when the test failed."""
    contexts, pages = [], []

    def make(locale: str = "en-US"):
        # The browser's language picks the app's on a first visit: English unless a test asks for another
        # (test_browser_korean.py opens its pages as a Korean browser, locale="ko-KR").
        context = chromium.new_context(viewport=VIEWPORT, base_url=app_server.url, locale=locale)
        context.set_default_timeout(UI_TIMEOUT_MS)
        contexts.append(context)
        pages.append(context.new_page())
        return pages[-1]

    yield make
    call = getattr(request.node, "report_call", None)
    if call is not None and call.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        from playwright.sync_api import Error as PlaywrightError

        for number, failed_page in enumerate(pages, 1):
            try:
                failed_page.screenshot(path=str(SCREENSHOTS / f"FAILED-{request.node.name}-{number}.png"))
            except PlaywrightError:  # a page that crashed cannot be photographed; the report says why it failed
                continue
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


# ---------------------------------------------------------------------------------------------------------
# Page helpers


def open_page(page, path: str, heading: str) -> None:
    """Go to an app URL path and wait until the page's title is drawn and the script run has ended."""
    page.goto(path)
    wait_for_heading(page, heading)
    wait_for_idle(page)
    assert_no_traceback(page, path)


def wait_for_idle(page, timeout_s: float = UI_TIMEOUT_MS / 1000) -> None:
    """Wait until the script run has ended: Streamlit's status widget (the running figure and its "Stop" in
    the header) is gone on two reads in a row. The pages' self-refreshing fragments do not show it."""
    status = page.locator('[data-testid="stStatusWidget"]')
    quiet: list[bool] = []

    def idle() -> bool:
        quiet.append(status.count() == 0 or not status.is_visible())
        return quiet[-2:] == [True, True]

    wait_until(idle, timeout_s, f"the page was still running after {timeout_s:.0f} s", interval_s=0.3)


def wait_for_heading(page, heading: str) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible(timeout=UI_TIMEOUT_MS)


def nav_to(page, link: str, heading: str) -> None:
    """Change page with the sidebar navigation (no reload: the same websocket, the same session)."""
    page.locator('[data-testid="stSidebar"]').get_by_role("link", name=link, exact=True).click()
    wait_for_heading(page, heading)
    wait_for_idle(page)
    assert_no_traceback(page, link)


def assert_no_traceback(page, where: str = "") -> None:
    """No Streamlit exception element and no Python traceback anywhere on the page."""
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, f"{where}: Streamlit shows an exception: {exceptions.first.inner_text()[:2000]}"
    body = page.locator("body").inner_text()
    assert "Traceback" not in body, f"{where}: the page shows a traceback:\n{body[:3000]}"


def screenshot(page, test: str, step: str, show=None) -> Path:
    """Save artifacts/screenshots/<test>-<step>.png of the viewport (Streamlit scrolls inside its own container,
    so a "full page" shot would be the viewport anyway), after scrolling `show` (a locator) to the top. Every
    screenshot is also a check that the page shows no traceback."""
    assert_no_traceback(page, f"{test}-{step}")
    if show is not None:
        show.evaluate("element => element.scrollIntoView({block: 'start'})")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{test}-{step}.png"
    page.screenshot(path=str(path))
    return path


def main(page):
    """The page's own content, without the sidebar (whose live trainings list has progress bars too)."""
    return page.locator('[data-testid="stMain"]')


def heading(page, name: str):
    return main(page).get_by_role("heading", name=name, exact=True).first


def sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def wait_until(condition, timeout_s: float, message, interval_s: float = 0.5):
    """Poll `condition()` until it returns something truthy; fail with `message()` (a callable, so it can say
    what the page showed at the end) after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(message() if callable(message) else message)
        time.sleep(interval_s)


def select_option(page, label: str, option: str) -> None:
    """Pick `option` in the st.selectbox labelled `label` (a combobox whose options render in a popover)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.get_by_label(label, exact=True)
    for attempt in range(3):  # a rerun of the page (a live fragment, a URL update) closes an open popover
        box.click()
        box.fill(option)
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=10_000 if attempt < 2 else UI_TIMEOUT_MS)
            return
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def fill_field(page, label: str, value: str) -> None:
    """Type into a text_input / number_input labelled `label` (in a form: sent with the form's submit)."""
    field = page.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Tab")


# ---------------------------------------------------------------------------------------------------------
# Genuine MNIST test digits as mouse strokes


def mnist_test_digit(label: int, nth: int = 0) -> np.ndarray:
    """The nth MNIST test image with that label, uint8 [28, 28], straight from the raw t10k files."""
    images, labels = raw_test_set()
    return images[np.flatnonzero(labels == label)[nth]]


def digit_strokes(image: np.ndarray, scale: int = 10, threshold: int = 128) -> list[list[tuple[float, float]]]:
    """Mouse strokes that redraw the digit's ink: one horizontal drag through each row's run of inked pixels.

    Each run of consecutive pixels brighter than `threshold` becomes a stroke from its first to its last pixel
    centre, scaled onto the 280x280 canvas; with a pen about as thick as a scaled pixel the runs merge into the
    digit's shape, which is what a person's strokes produce too.
    """
    strokes = []
    for row in range(image.shape[0]):
        inked = image[row] >= threshold
        col = 0
        while col < image.shape[1]:
            if not inked[col]:
                col += 1
                continue
            start = col
            while col < image.shape[1] and inked[col]:
                col += 1
            y = (row + 0.5) * scale
            strokes.append([((start + 0.5) * scale, y), ((col - 0.5) * scale, y)])
    return strokes


def draw_strokes(page, canvas, strokes: list[list[tuple[float, float]]], steps: int = 4) -> None:
    """Drag the mouse along each stroke (canvas coordinates) with the button held, as a person draws."""
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box, "the drawing canvas is not on screen"
    for stroke in strokes:
        x0, y0 = stroke[0]
        page.mouse.move(box["x"] + x0, box["y"] + y0)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=steps)
        page.mouse.up()
