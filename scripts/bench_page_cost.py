"""The server's CPU per rerun of each page (#25), one student alone on a quiet server; or a first visit's time (#22):

    .venv/bin/python scripts/bench_page_cost.py [--reps 30]
    .venv/bin/python scripts/bench_page_cost.py --first-visit 10

The student (its own identity, a Korean browser) trains one 2-epoch run from Train, so that Train shows a finished
run's charts and gallery as most of a class sees one; then visits each page `--reps` times in a row (Draw: a visit
and a real MNIST digit drawn on the canvas, each a rerun). Printed: the server process's CPU time per rerun, in ms
(its worker processes excluded). What bench_class_load.py measures under a whole class, this splits by page: how
much each page costs the one core a Streamlit process can use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_class_load import PAGES, Figures, Student, digit_drawings, draw, start_training, wait_for_runs  # noqa: E402
from bench_server import App  # noqa: E402

from mnist_core.config import preset_config  # noqa: E402
from mnist_core.runs.store import RunStore  # noqa: E402


async def cost_per_page(app: App, store: RunStore, reps: int) -> dict[str, float]:
    student, figures = Student(app.port, "ko", Figures()), Figures()
    await student.connect()
    await start_training(student, figures, preset_config("mlp-3", epochs=2))
    await wait_for_runs(store, [r.id for r in store.list_runs()])
    drawings, costs = digit_drawings(reps), {}
    for page in PAGES:
        await student.visit(page)  # warm: a page's first visit imports and caches what it needs
        start = app.cpu_seconds()
        for rep in range(reps):
            await (draw(student, figures, drawings[rep]) if page == "draw" else student.visit(page))
        reruns = 2 * reps if page == "draw" else reps
        costs[page] = round((app.cpu_seconds() - start) / reruns * 1000, 1)
    await student.close()
    return costs


LAUNCHERS = {"streamlit run": ("-m", "streamlit", "run", "streamlit_app.py"),
             "app.serve (make run)": ("-m", "app.serve")}


async def first_visits(pause_s: float) -> dict[str, tuple[float, float]]:
    """Seconds until Home finished its first rerun for the first student after the server started (`pause_s` after
    it answered, as a teacher starts it before the class), then for a second student; each launcher twice,
    alternately, the best of two kept (a noisy machine only ever adds time)."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in LAUNCHERS}
    for _ in range(2):
        for name, launcher in LAUNCHERS.items():
            with tempfile.TemporaryDirectory(prefix="bench-first-visit-") as temp:
                app = App(Path(temp), launcher)
                try:
                    await asyncio.sleep(pause_s)
                    visits = []
                    for _student in range(2):
                        student = Student(app.port, "ko", Figures())
                        await student.connect()
                        visits.append((await student.visit("home")).seconds)
                        await student.close()
                    times[name].append(tuple(visits))
                finally:
                    app.stop()
    return {name: min(runs) for name, runs in times.items()}


async def measure(reps: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-page-cost-") as temp:
        app = App(Path(temp))
        try:
            return await cost_per_page(app, RunStore(Path(temp)), reps)
        finally:
            app.stop()
            shutil.copyfile(Path(temp) / "streamlit.log", Path(tempfile.gettempdir()) / "bench-page-cost-server.log")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30, help="reruns of each page")
    parser.add_argument("--first-visit", type=float, metavar="PAUSE_S",
                        help="instead: time Home's first visit PAUSE_S seconds after the server answered, started "
                             "by `streamlit run` and by app.serve (`make run`, which warms up beside the server)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.first_visit is not None:
        visits = asyncio.run(first_visits(args.first_visit))
        print(json.dumps(visits) if args.json else "\n".join(
            f"{name}: first student's Home {first:.2f} s, the next student's {second:.2f} s"
            for name, (first, second) in visits.items()))
        return 0
    costs = asyncio.run(measure(args.reps))
    if args.json:
        print(json.dumps(costs))
    else:
        print("server CPU per rerun (ms), one student alone (Draw: a visit and a drawing, each a rerun):")
        print("  " + "; ".join(f"{page} {ms}" for page, ms in costs.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
