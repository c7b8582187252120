"""Helpers shared by the AppTest files (test_app*.py): start the app on a data/runs dir, read plotly figures
out of the element tree, feed the drawing canvas, and train small real runs straight into a store."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from mnist_core.config import TrainConfig
from mnist_core.runs.permissions import COMMAND_LINE, Actor
from mnist_core.runs.store import RunStore

from conftest import TINY, on_canvas, raw_test_set

PROJECT_DIR = Path(__file__).resolve().parent.parent
APP = PROJECT_DIR / "streamlit_app.py"
TIMEOUT_S = 60  # the first run of a session unpacks the dataset; later runs take well under a second
# Small enough to train in well under a second on 2 CPU cores, big enough to learn clearly (~80% test accuracy).
QUICK = TINY


def start_app(page: str | None = None, query: dict[str, str] | None = None) -> AppTest:
    """The app as one browser would open it; `query`: the URL's parameters (e.g. `student()`'s).
    In English unless `query` says otherwise (?lang=ko): these tests check the English wording;
    test_app_korean.py renders the pages in Korean."""
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    app.query_params.update({"lang": "en", **(query or {})})
    app.run()
    if page:
        app.switch_page(f"app/pages/{page}.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def student(token: str, name: str = "") -> tuple[dict[str, str], Actor]:
    """URL parameters that open the app as the student with this secret token (the page in English, the language
    its assertions are written in), and the Actor their runs belong to. The app keeps identities in a cookie, which
    AppTest cannot send; a fresh AppTest session has none, so it honours `?me=` and `?who=` the way a browser with
    no identity yet honours an old bookmark (and then removes them from the URL: a "reload" passes them again)."""
    from app.identity import owner_id_of

    query = {"me": token, "lang": "en", **({"who": name} if name else {})}
    return query, Actor(owner_id_of(token), name or "student")


def figures(app: AppTest) -> list[dict[str, Any]]:
    """Every plotly chart on the page as its figure JSON ({"data": [...], "layout": {...}})."""
    return [json.loads(element.proto.spec) for element in app.get("plotly_chart")]


def figure_titled(app: AppTest, title: str) -> dict[str, Any]:
    found = [f for f in figures(app) if f["layout"].get("title", {}).get("text") == title]
    assert found, f"no chart titled {title!r}; charts: {[f['layout'].get('title') for f in figures(app)]}"
    return found[0]


def texts(app: AppTest, kind: str) -> list[str]:
    """The values of all elements of one kind ("error", "info", "caption", "markdown", ...)."""
    return [element.value for element in getattr(app, kind)]


def metric(app: AppTest, label: str) -> str:
    values = [m.value for m in app.metric if m.label == label]
    assert values, f"no metric {label!r}; metrics: {[(m.label, m.value) for m in app.metric]}"
    return values[0]


def button(app: AppTest, label: str):
    matches = [b for b in app.button if b.label == label]
    assert matches, f"no button {label!r}; buttons: {[b.label for b in app.button]}"
    return matches[0]


def mnist_test_digits(count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` genuine MNIST test images (uint8 28x28) and labels, read straight from the .gz files."""
    images, labels = raw_test_set()
    return images[:count], labels[:count]


def canvas_rgba(digit: np.ndarray, scale: int = 8, top: int = 28, left: int = 28) -> np.ndarray:
    """A 280x280 opaque black RGBA canvas with the digit drawn white, scaled up smoothly as a stroke would be."""
    return on_canvas(digit, 28 * scale, top, left)


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def canvas_value(pixels: np.ndarray | None) -> dict[str, Any]:
    """What st_canvas keeps in st.session_state[<its key>] after a stroke: the fabric.js JSON under
    drawing.raw and, with return_image_data=True, the canvas as a PNG data URL under drawing.data."""
    data = None if pixels is None else "data:image/png;base64," + base64.b64encode(png_bytes(pixels)).decode()
    objects = [] if pixels is None else [{"type": "path", "stroke": "#FFFFFF"}]
    return {"drawing": {"raw": {"objects": objects, "background": "#000000"}, "data": data}}


def train_run(store: RunStore, data_root: Path, config: TrainConfig = QUICK, name: str | None = None,
              owner: Actor = COMMAND_LINE) -> int:
    """A real, finished run in the store (trained in this thread, as a JobManager worker would). Running from the
    start, as the command line's: a queued run would be a server's to train (runs.queue), a second time."""
    from mnist_core.backends.execution import execute_run

    run_id = store.create_run(config, name=name, owner=owner, status="running")
    assert execute_run(store, run_id, config, data_root=data_root) is not None, store.get(run_id).error
    return run_id


def hold_in_line(store: RunStore, run_id: int) -> None:
    """Keep a queued run queued: this test's process claims it as a dispatcher that has not started it yet, so no
    server sharing the store trains it (runs.queue). Stop it at the end of the test."""
    from mnist_core.runs.queue import RunQueue, dispatcher_name

    assert RunQueue(store).claim(run_id, dispatcher_name()), f"run {run_id} is not waiting"


def wait_until_finished(store: RunStore, run_ids: list[int], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(not store.get(i).is_active for i in run_ids):
            return
        time.sleep(0.1)
    raise AssertionError(f"runs {run_ids} still active after {timeout_s} s: {[store.get(i).status for i in run_ids]}")
