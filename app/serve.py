"""`python -m app.serve [options of streamlit run]`: the app's server (what `make run` starts), warmed for its first
student.

Streamlit imports what a page needs on the first visit, and the app reads the dataset then: the first student to
open Home after the server started waited 7.1 s (issue #22) while the next ones waited 2.2 s. Here a thread beside
the starting server imports the app's modules (torch, torchvision, plotly, pandas, the canvas) and reads the datasets
this machine has, so the server answers at once and is warm a few seconds later, before a class arrives. A student
who comes sooner waits only for what is left. `streamlit run streamlit_app.py` still works, unwarmed.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "streamlit_app.py"
log = logging.getLogger(__name__)


def warm_up() -> None:
    """Import what the pages import and load the datasets present (each cached for the life of the process)."""
    started = time.monotonic()
    try:
        import app.class_board  # noqa: F401  (each import: its modules cached for the first page that needs them)
        import app.draw.collect  # noqa: F401
        import app.draw.pad  # noqa: F401
        import app.draw.prediction  # noqa: F401
        import app.lessons.charts  # noqa: F401
        import app.run.view  # noqa: F401
        import app.sidebar  # noqa: F401
        from mnist_core.data import dataset_status, load_dataset

        for status in dataset_status():
            if status.present:
                load_dataset(status.name)  # what resources.dataset reads: the same process-wide cache
        print(f"Warmed up in {time.monotonic() - started:.1f} s: the first student need not wait.", file=sys.stderr)
    except Exception:  # a warm-up never stops the server: the page that needs it will say what is wrong
        log.exception("warming up the app failed; its pages load what they need on their first visit")


def main(argv: list[str]) -> int:
    # Streamlit first, then the warm-up beside the starting server: importing both at once from two threads can
    # meet in the middle of one import cycle (plotly asks for pandas while streamlit imports plotly), and Python
    # then hands one thread a half-imported module (seen on a busy machine: "partially initialized module 'pandas'").
    from streamlit.web import cli

    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()

    sys.argv = ["streamlit", "run", str(APP), *argv]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
