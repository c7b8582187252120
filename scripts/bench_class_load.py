"""Class load benchmark (#25): a whole class on one server, speaking Streamlit's own websocket protocol.

    .venv/bin/python scripts/bench_class_load.py [--students 30] [--runs 4] [--duration 180] [--json]
                                                 [--processes N] [--cpus 0,1]

The server is what `make run` starts (app.serve); `--processes N`: the class behind nginx, N app processes and one
trainer (`make serve-class`), whose CPU and RSS are printed together and for the busiest process. `--cpus`: the
cores (taskset) the server and all it starts may use. The measuring starts once the server has warmed up.

1. Alone: `--runs` students each open Train with a 2-epoch mlp-3 in its link and press Start; nobody else is
   connected. Their samples/s together is the reference.
2. The class: `--students` simulated students connect at once (80% Korean, 20% English browsers, each with its own
   identity cookie), and the same `--runs` trainings start from Train again. Every student cycles Home, Train, Draw
   (a real MNIST test digit put on the canvas, the prediction checked against its label), Compare and Learn, one
   page every 2-5 s, for `--duration` s. Each session's timers (Streamlit's fragments with run_every) fire as a
   browser's would: the server says when (auto_rerun), the client asks.
3. Idle: everyone disconnects; the server's CPU over 10 s says whether any timer still runs.

Printed: per page the rerun time (request sent until Streamlit's script_finished) p50/p95/max, the drawings'
predictions (time, read right), the timers' reruns, exceptions shown on a page, dropped sessions, the server's CPU
(worker processes excluded) while runs train and once they ended, its peak RSS, the students on each app process, and
the runs' samples/s with and without the class: the server's side (a browser adds its own). Targets are not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT / "scripts"))

from bench_server import APP_SERVE, App, ServerWatch, route_of, serve_class  # noqa: E402

from app.share_link import query_of  # noqa: E402
from mnist_core.config import preset_config  # noqa: E402
from mnist_core.runs.identities import new_token  # noqa: E402
from mnist_core.runs.store import RunStore  # noqa: E402

PAGES = {"home": "", "train": "train", "draw": "draw", "compare": "compare", "learn": "learn"}
FINISHED, FRAGMENT_FINISHED = 0, 3  # ForwardMsg.ScriptFinishedStatus
RERUN_TIMEOUT_S = 60
TARGETS = {"page p95": "<= 1.5 s", "page max": "<= 3 s", "prediction p95": "<= 0.5 s",
           "server CPU, no run live": "<= 40% of a core", "server RSS": "<= 1.5 GB", "runs with the class": ">= 0.8x"}


@dataclass
class Outcome:
    """What one rerun showed: its time, whether it finished, exceptions, and the widgets and metrics it drew."""

    seconds: float = 0.0
    finished: bool = False
    exceptions: list[str] = field(default_factory=list)
    widgets: dict[str, str] = field(default_factory=dict)  # widget key (the end of its id) -> id
    metrics: list[tuple[str, str]] = field(default_factory=list)  # (label, value)


class Student:
    """One browser session: a websocket, an identity cookie, the session's timers."""

    def __init__(self, port: int, lang: str, figures: Figures) -> None:
        self.port, self.lang, self.figures = port, lang, figures
        self.cookie = f"mnist_playground_me={new_token()}"  # its identity
        self.route: str | None = None  # behind nginx (--processes): the cookie naming the app process it stays on
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.waiting: asyncio.Future | None = None
        self.outcome = Outcome()
        self.timers: dict[str, asyncio.Task] = {}
        self.busy = asyncio.Lock()  # one rerun at a time, as a browser sends them
        self.page, self.dropped = "", False

    async def connect(self) -> None:
        # As a browser: the page first, whose answer behind nginx names the app process this student stays on.
        self.route = await asyncio.to_thread(route_of, self.port, self.cookie)
        self.cookie += f"; {self.route}" if self.route else ""
        self.ws = await websockets.connect(f"ws://127.0.0.1:{self.port}/_stcore/stream", subprotocols=["streamlit"],
                                           additional_headers={"Cookie": self.cookie}, max_size=None,
                                           open_timeout=RERUN_TIMEOUT_S, ping_interval=None)
        self.reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()

    async def visit(self, page: str, query: dict[str, str] | None = None,
                    widgets: list | None = None) -> Outcome:
        """A full rerun of `page` (a page change, or a widget's change with `widgets`)."""
        async with self.busy:
            for timer in self.timers.values():  # a new script run: the browser forgets the old run's timers
                timer.cancel()
            self.timers.clear()
            self.page = page
            return await self._rerun(page, {"lang": self.lang, **(query or {})}, widgets or [], None)

    async def _rerun(self, page: str, query: dict[str, str], widgets: list, fragment: str | None) -> Outcome:
        msg = BackMsg()
        rerun = msg.rerun_script
        rerun.query_string, rerun.page_name = urlencode(query), PAGES[page]
        rerun.context_info.locale = "ko-KR" if self.lang == "ko" else "en-US"
        rerun.widget_states.widgets.extend(widgets)
        if fragment:
            rerun.fragment_id, rerun.is_auto_rerun = fragment, True
        self.outcome, self.waiting = Outcome(), asyncio.get_running_loop().create_future()
        started = time.monotonic()
        await self.ws.send(msg.SerializeToString())
        try:
            await asyncio.wait_for(self.waiting, RERUN_TIMEOUT_S)
        except (TimeoutError, websockets.ConnectionClosed):
            pass
        self.outcome.seconds = time.monotonic() - started
        return self.outcome

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                message = ForwardMsg()
                message.ParseFromString(data)
                self._receive(message)
        except websockets.ConnectionClosed:
            pass
        self.dropped = True
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_result(None)

    def _receive(self, message: ForwardMsg) -> None:
        kind = message.WhichOneof("type")
        if kind == "delta" and message.delta.WhichOneof("type") == "new_element":
            self._element(message.delta.new_element)
        elif kind == "auto_rerun":
            fragment = message.auto_rerun.fragment_id
            if fragment not in self.timers:
                self.timers[fragment] = asyncio.create_task(self._timer(fragment, message.auto_rerun.interval))
        elif kind == "stop_auto_rerun":
            timer = self.timers.pop(message.stop_auto_rerun.fragment_id, None)
            if timer is not None:
                timer.cancel()
        elif kind == "script_finished" and message.script_finished in (FINISHED, FRAGMENT_FINISHED):
            self.outcome.finished = True
            if self.waiting is not None and not self.waiting.done():
                self.waiting.set_result(None)

    def _element(self, element) -> None:
        kind = element.WhichOneof("type")
        if kind == "exception":
            self.outcome.exceptions.append(f"{element.exception.type}: {element.exception.message}"[:200])
        elif kind == "metric":
            self.outcome.metrics.append((element.metric.label, element.metric.body))
        widget_id = getattr(getattr(element, kind, None), "id", "")
        if widget_id.startswith("$$ID-"):
            self.outcome.widgets[widget_id.split("-", 2)[2]] = widget_id

    async def _timer(self, fragment: str, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if self.busy.locked():  # a page rerun is on its way: its answer sets the timers again
                continue
            async with self.busy:
                outcome = await self._rerun(self.page, {"lang": self.lang}, [], fragment)
            self.figures.add(f"timer on {self.page or 'home'}", outcome)


class Figures:
    """Every rerun's time by what it was, and what went wrong."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.exceptions: list[str] = []
        self.unfinished = 0
        self.predictions = [0, 0]  # read right, asked

    def add(self, what: str, outcome: Outcome) -> None:
        self.times[what].append(outcome.seconds)
        self.exceptions += [f"{what}: {text}" for text in outcome.exceptions]
        self.unfinished += not outcome.finished

    def summary(self) -> dict[str, dict[str, float]]:
        return {what: {"n": len(t), "p50": round(statistics.median(t), 3), "p95": round(percentile(t, 95), 3),
                       "max": round(max(t), 3)} for what, t in sorted(self.times.items()) if t}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def digit_drawings(count: int) -> list[tuple[int, dict]]:
    """Real MNIST test digits as the canvas sends them (fabric.js JSON plus a PNG of the 280x280 canvas)."""
    sys.path.insert(0, str(PROJECT / "tests"))
    from app_harness import canvas_rgba, mnist_test_digits, png_bytes

    images, labels = mnist_test_digits(count)
    drawings = []
    for image, label in zip(images, labels, strict=True):
        data = "data:image/png;base64," + base64.b64encode(png_bytes(canvas_rgba(image))).decode()
        drawings.append((int(label), {"drawing": {"raw": {"objects": [{"type": "path", "stroke": "#FFFFFF"}],
                                                          "background": "#000000"}, "data": data}}))
    return drawings


def widget_state(widget_id: str, **value):
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    state = WidgetState(id=widget_id)
    for name, v in value.items():
        setattr(state, name, v)
    return state


async def draw(student: Student, figures: Figures, drawing: tuple[int, dict]) -> None:
    shown = await student.visit("draw")
    figures.add("draw", shown)
    canvas = shown.widgets.get("canvas_draw")
    if canvas is None:
        return
    label, value = drawing
    read = await student.visit("draw", widgets=[widget_state(canvas, json_value=json.dumps(value))])
    figures.add("draw: prediction", read)
    answers = [v for name, v in read.metrics if name in ("Prediction", "예측")]
    figures.predictions[0] += bool(answers) and answers[0] == str(label)
    figures.predictions[1] += 1


async def start_training(student: Student, figures: Figures, config) -> None:
    shown = await student.visit("train", query_of(config.to_dict()))
    figures.add("train: opened to start", shown)
    button = shown.widgets.get("train_start")
    if button is None:
        raise RuntimeError("Train drew no Start button")
    figures.add("train: Start pressed", await student.visit(
        "train", query_of(config.to_dict()), [widget_state(button, trigger_value=True)]))


async def wander(student: Student, figures: Figures, until: float, drawings: list, rng: random.Random) -> None:
    cycle = ["home", "train", "draw", "compare", "learn"]
    step = rng.randrange(len(cycle))
    while time.monotonic() < until and not student.dropped:
        page = cycle[step % len(cycle)]
        step += 1
        if page == "draw":
            await draw(student, figures, rng.choice(drawings))
        else:
            figures.add(page, await student.visit(page))
        await asyncio.sleep(rng.uniform(2, 5))


def runs_rate(store: RunStore, ids: list[int]) -> float:
    """The runs' samples/s together: every sample they trained over the span from the first start to the last end."""
    records = [store.get(i) for i in ids]
    samples = sum(r.config.epochs * (r.config.train_limit or 60_000 - r.config.val_size) for r in records)
    span = max(r.finished for r in records) - min(r.started for r in records)
    return samples / span


async def wait_for_runs(store: RunStore, ids: list[int], timeout_s: float = 1800) -> None:
    deadline = time.monotonic() + timeout_s
    while any(store.get(i).is_active for i in ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs {ids} did not end")
        await asyncio.sleep(0.5)


async def train_alone(app: App, store: RunStore, runs: int, config) -> float:
    trainers, figures = [Student(app.port, "en", Figures()) for _ in range(runs)], Figures()
    before = {r.id for r in store.list_runs()}
    for trainer in trainers:
        await trainer.connect()
    await asyncio.gather(*(start_training(t, figures, config) for t in trainers))
    ids = [r.id for r in store.list_runs() if r.id not in before]
    await wait_for_runs(store, ids)
    for trainer in trainers:
        await trainer.close()
    return runs_rate(store, ids)


async def the_class(app: App, store: RunStore, args: argparse.Namespace, config) -> dict:
    rng, figures = random.Random(args.seed), Figures()
    drawings = digit_drawings(50)
    students = [Student(app.port, "ko" if rng.random() < 0.8 else "en", figures) for _ in range(args.students)]
    watch = ServerWatch(app)
    await asyncio.gather(*(s.connect() for s in students))
    watch.mark("start")
    before = {r.id for r in store.list_runs()}
    until = time.monotonic() + args.duration
    trainers = students[: args.runs]
    await asyncio.gather(*(start_training(t, figures, config) for t in trainers))
    ids = [r.id for r in store.list_runs() if r.id not in before]
    wandering = [asyncio.create_task(wander(s, figures, until, drawings, random.Random(rng.random())))
                 for s in students]
    await wait_for_runs(store, ids)
    watch.mark("runs ended")
    await asyncio.gather(*wandering)
    watch.mark("end")
    dropped = sum(s.dropped for s in students)
    await asyncio.gather(*(s.close() for s in students))
    await asyncio.sleep(2)  # the server notices the closed sockets
    watch.mark("idle")
    await asyncio.sleep(10)
    watch.mark("idle end")
    watch.task.cancel()
    return {"students": args.students, "korean": sum(s.lang == "ko" for s in students), "reruns": figures.summary(),
            "exceptions": len(figures.exceptions), "exception_texts": sorted(set(figures.exceptions))[:5],
            "unfinished_reruns": figures.unfinished, "dropped_sessions": dropped,
            "predictions_right": figures.predictions[0], "predictions": figures.predictions[1],
            "server_cpu_runs_live": round(watch.cores("start", "runs ended"), 3),
            "server_cpu_no_run_live": round(watch.cores("runs ended", "end"), 3),
            "server_cpu_no_run_live_busiest": round(max(watch.cores_each("runs ended", "end")), 3),
            "students_per_process": sorted(Counter(s.route for s in students if s.route).values(), reverse=True),
            "server_cpu_nobody_connected": round(watch.cores("idle", "idle end"), 3),
            "no_run_live_s": round(watch.marks["end"][0] - watch.marks["runs ended"][0], 1),
            "server_peak_rss_gb": round(watch.peak_rss / 2**30, 2),
            "server_peak_rss_busiest_gb": round(watch.peak_rss_busiest / 2**30, 2),
            "runs_samples_per_s": runs_rate(store, ids)}


async def measure(args: argparse.Namespace) -> dict:
    config = preset_config("mlp-3", epochs=2)
    with tempfile.TemporaryDirectory(prefix="bench-class-load-") as temp:
        app = App(Path(temp), serve_class(args.processes) if args.processes else APP_SERVE, args.cpus)
        try:
            app.wait_until_warm()
            store = RunStore(Path(temp))
            alone = await train_alone(app, store, args.runs, config)
            result = await the_class(app, store, args, config)
        finally:
            app.stop()
            shutil.copyfile(Path(temp) / "streamlit.log", args.log)
    result["app_processes"], result["cpus"] = max(1, args.processes), args.cpus or "all"
    result["runs_samples_per_s_alone"] = round(alone)
    result["runs_with_class_ratio"] = round(result["runs_samples_per_s"] / alone, 2)
    result["runs_samples_per_s"] = round(result["runs_samples_per_s"])
    return result


def report(result: dict) -> None:
    print(f"{result['students']} students ({result['korean']} Korean browsers), the same 4 runs alone and with them")
    print(f"{'what':<26}{'n':>6}{'p50 s':>8}{'p95 s':>8}{'max s':>8}")
    for what, f in result["reruns"].items():
        print(f"{what:<26}{f['n']:>6}{f['p50']:>8}{f['p95']:>8}{f['max']:>8}")
    print(f"predictions read right: {result['predictions_right']}/{result['predictions']}; exceptions: "
          f"{result['exceptions']} {result['exception_texts']}; unfinished reruns: {result['unfinished_reruns']}; "
          f"dropped sessions: {result['dropped_sessions']}")
    print(f"served by {result['app_processes']} app process(es) on cores: {result['cpus']}")
    print(f"server CPU (cores, app processes together): {result['server_cpu_runs_live']} while runs train, "
          f"{result['server_cpu_no_run_live']} with no run live ({result['no_run_live_s']} s), "
          f"{result['server_cpu_nobody_connected']} with nobody connected; peak RSS {result['server_peak_rss_gb']} GB")
    if result["app_processes"] > 1:
        print(f"each app process: at most {result['server_cpu_no_run_live_busiest']} of a core with no run live, "
              f"peak RSS at most {result['server_peak_rss_busiest_gb']} GB; students on each: "
              f"{result['students_per_process']}")
    print(f"runs: {result['runs_samples_per_s_alone']} samples/s alone, {result['runs_samples_per_s']} with the class "
          f"= {result['runs_with_class_ratio']}x")
    print("targets: " + "; ".join(f"{k} {v}" for k, v in TARGETS.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds the class wanders the pages")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", type=int, default=0, help="serve through nginx with this many app processes "
                        "(app.serve_class); 0: one app process (app.serve)")
    parser.add_argument("--cpus", help="taskset's core list for the server and its workers, e.g. 0 or 0,1")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--log", type=Path, default=Path(tempfile.gettempdir()) / "bench-class-load-server.log",
                        help="where the server's log is kept (its exceptions' tracebacks)")
    args = parser.parse_args(argv)
    if args.runs > args.students:
        parser.error("--runs cannot exceed --students: each run is one student's")
    result = asyncio.run(measure(args))
    print(json.dumps(result, indent=2) if args.json else "", end="")
    if not args.json:
        report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
