"""Classroom benchmark: what watching trainings live costs, measured side by side in one go on this machine.

    .venv/bin/python scripts/bench_classroom.py [--json] [--quick]

1. The same training (the lenet preset, 2 epochs of 55,000 images) three ways: from the CLI, in the app with no
   browser open, and in the app with 3 headless Chromium tabs of one student watching it live on /train.
   Samples/s of each (over the run, and in its steady window once the tabs are drawn), the ratio watched /
   unwatched, and the Streamlit server process's own CPU seconds per second (psutil; its worker processes
   excluded) per watching tab.
2. Fresh-tab render time of each page (navigation until the heading is drawn and Streamlit's "Running..." status
   is gone): on the server's first visit of each page (imports, the dataset), then idle, then while 4 runs train
   at once with another tab watching one.
3. Total samples/s of 1, 2 and 4 concurrent mlp-3 runs on the local pool of worker processes.
4. Memory of the pool's worker processes (RSS, and USS: what ending them would give back): idle at start, while 4
   mlp-3 runs train, right after they end, and once the idle ones have exited (idle time 5 s here, not 60 s).
   `--only worker-memory` measures this part alone (a minute; no browser needed).

A script, not a test: it prints figures; targets (issue #9) are printed beside them, never asserted. Needs Debian's
Chromium (/usr/bin/chromium) and the MNIST files (the app's data dir). Everything it starts it stops.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import psutil

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

# Run as `python scripts/bench_classroom.py`, Python puts scripts/ on the path, not the project: these imports
# can only come after the line above.
from bench_server import App, cpu_seconds  # noqa: E402

from app.share_link import query_of  # noqa: E402
from mnist_core import settings  # noqa: E402
from mnist_core.backends.jobs import JobManager  # noqa: E402
from mnist_core.backends.worker_pool import LocalPool  # noqa: E402
from mnist_core.config import preset_config  # noqa: E402
from mnist_core.runs.store import RunStore  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = {"home": "", "train": "train", "draw": "draw", "compare": "compare"}
TIMEOUT_S = 1800  # a shared, busy machine can be very slow; the figures then say so


def train_url(app: App, config) -> str:
    return f"{app.url}/train?{urlencode(query_of(config.to_dict()))}"


def wait_until(condition, timeout_s: float = TIMEOUT_S, interval_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise TimeoutError("timed out")


def start_from_page(page, store: RunStore, url: str) -> int:
    """Open Train with the config in its link, press Start, return the new run's id."""
    before = {r.id for r in store.list_runs()}
    page.goto(url)
    page.get_by_role("button", name="Start training").click(timeout=TIMEOUT_S * 1000)
    return wait_until(lambda: next((r.id for r in store.list_runs() if r.id not in before), None))


RENDER_REPEATS = 3  # fresh tabs per page, idle and during the race; the median is reported
STEADY_FROM = 0.3  # the steady window starts once this share of the run is done (and every watching tab is drawn)


def run_in_app(app: App, store: RunStore, browser, config, watchers: int) -> dict:
    """One run started from a tab; with `watchers` 0 the tab closes at once, else that many tabs of the same
    student (same identity link) watch it live on /train until it ends.

    Besides the whole run's samples/s, the steady window: from when STEADY_FROM of it is done and every tab has
    drawn its charts, to the last progress report before it ends, in the worker's own clock. Opening 3 tabs costs
    Chromium and the server a few CPU-seconds at once; on a short run that start-up, not the watching, would
    dominate the whole run's figure."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    run_id = start_from_page(page, store, train_url(app, config))
    if watchers == 0:
        context.close()
    else:
        for _ in range(watchers - 1):
            context.new_page().goto(page.url)  # page.url carries the student's identity (?me=...)
    wait_until(lambda: store.get(run_id).status != "queued", interval_s=0.02)
    cpu0, t0 = app.cpu_seconds(), time.monotonic()

    def drawn() -> bool:
        return not watchers or all(p.locator(".js-plotly-plot").count() > 0 for p in context.pages)

    def steady() -> dict | None:
        record = store.get(run_id)
        progress = record.progress or {}
        done = progress.get("iteration", 0) >= STEADY_FROM * progress.get("total_iterations", 1)
        return progress if not record.is_active or (done and drawn()) else None

    first = wait_until(steady, interval_s=0.05)
    last = first
    while store.get(run_id).is_active:
        last = store.get(run_id).progress or last
        time.sleep(0.05)
    cpu1, t1 = app.cpu_seconds(), time.monotonic()
    charts_shown = 0
    if watchers:
        charts_shown = sum(p.locator(".js-plotly-plot").count() > 0 for p in context.pages)
        context.close()
    record = store.get(run_id)
    window_s = last["elapsed_s"] - first["elapsed_s"]
    steady_rate = (last["samples_seen"] - first["samples_seen"]) / window_s if window_s > 0 else float("nan")
    return {"status": record.status, "samples_per_s": record.progress["samples_per_s"],
            "steady_samples_per_s": steady_rate, "steady_window_s": window_s,
            "server_cpu_per_s": (cpu1 - cpu0) / (t1 - t0), "tabs_showing_charts": charts_shown}


def render_seconds(browser, url: str) -> float:
    """A fresh tab (new context: a new student) from navigation until its heading is drawn and the script run is
    over (Streamlit's status widget gone on two reads 50 ms apart)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    started = time.monotonic()
    page.goto(url, wait_until="commit")
    heading, status = page.locator("h1"), page.locator('[data-testid="stStatusWidget"]')
    quiet_since = None
    while time.monotonic() - started < TIMEOUT_S:
        done = heading.count() > 0 and (status.count() == 0 or not status.first.is_visible())
        if done and quiet_since is not None:
            break
        quiet_since = (quiet_since or time.monotonic()) if done else None
        time.sleep(0.05)
    context.close()
    return quiet_since - started


def render_times(app: App, browser, repeats: int = 1) -> dict[str, float]:
    """Each page's fresh-tab render time: the median of `repeats` fresh tabs (one slow tab on a shared machine is
    noise, not the page)."""
    return {name: statistics.median(render_seconds(browser, f"{app.url}/{path}") for _ in range(repeats))
            for name, path in PAGES.items()}


QUIET_CORES = 0.15  # "idle": the app, its workers and Chromium together use less than this


def wait_until_quiet(timeout_s: float = 60) -> float:
    """Wait until what this benchmark started (server, worker processes, Chromium) is quiet, e.g. after a run's end
    (its tests, the tabs closing); return the cores they used in the last second."""
    me = psutil.Process()
    used = float("inf")
    deadline = time.monotonic() + timeout_s
    while used >= QUIET_CORES and time.monotonic() < deadline:
        processes = [me, *me.children(recursive=True)]
        before = [cpu_seconds(p) for p in processes]
        time.sleep(1.0)
        used = sum(max(0.0, cpu_seconds(p) - b) for p, b in zip(processes, before, strict=True))
    return used


def during_race(app: App, store: RunStore, browser, config) -> dict[str, float]:
    """Render times while 4 runs train at once (started from one tab, which then watches the last of them)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    ids = [start_from_page(page, store, train_url(app, config.replace(seed=seed))) for seed in range(4)]
    # Long runs (each a slot's worker may first have to start): all four train at once while tabs open.
    wait_until(lambda: all(store.get(i).status == "running" for i in ids) or any(
        not store.get(i).is_active for i in ids))
    times = render_times(app, browser, repeats=RENDER_REPEATS)
    still_running = all(store.get(i).status == "running" for i in ids)
    for run_id in ids:
        store.delete(run_id)  # ends them quickly: a worker drops a run whose row is gone at its next write
    context.close()
    return {**times, "all_4_running_throughout": still_running}


def cli_samples_per_s(config, runs: Path) -> float:
    args = [sys.executable, "-m", "mnist_core", "train", "--preset", config.preset, "--epochs", str(config.epochs),
            "--train-limit", str(config.train_limit), "--json"]
    env = {**os.environ, "MNIST_PLAYGROUND_RUNS": str(runs)}
    out = subprocess.run(args, cwd=PROJECT, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["samples_per_s"]


def pool_throughput(runs: Path, config, counts=(1, 2, 4)) -> dict[int, float]:
    """Total samples/s of N runs at once on the local pool (workers started and warmed up first)."""
    manager = JobManager(RunStore(runs), max_concurrent=max(counts), device="cpu")
    store = manager.store
    try:
        warm = [manager.submit(config.replace(train_limit=2000, val_size=500)) for _ in range(max(counts))]
        for run_id in warm:
            manager.wait(run_id)
        totals = {}
        for n in counts:
            ids = [manager.submit(config.replace(seed=s)) for s in range(n)]
            for run_id in ids:
                manager.wait(run_id)
            records = [store.get(i) for i in ids]
            samples = sum(r.progress["samples_seen"] for r in records)
            totals[n] = samples / (max(r.finished for r in records) - min(r.started for r in records))
        return totals
    finally:
        manager.shutdown(timeout=60)


WORKER_IDLE_S = 5.0  # the pool's idle time in part 4: short, so the benchmark need not wait the default minute


def workers_memory(pids: list[int]) -> dict:
    """The worker processes' memory in MB: RSS (shared library pages counted in each) and USS (their own pages)."""
    rss = uss = 0
    for pid in pids:
        try:
            info = psutil.Process(pid).memory_full_info()
        except psutil.Error:  # ended meanwhile
            continue
        rss, uss = rss + info.rss, uss + info.uss
    return {"workers": len(pids), "rss_mb": rss / 2**20, "uss_mb": uss / 2**20}


def worker_memory(runs: Path, config) -> dict:
    """Part 4: the pool's worker memory idle, while 4 runs train (its peak), right after, and after the idle time."""
    pool = LocalPool(4, runs, data_root=settings.data_dir(), device="cpu", idle_s=WORKER_IDLE_S)
    manager = JobManager(RunStore(runs), max_concurrent=4, data_root=settings.data_dir(), device="cpu", backend=pool)
    try:
        pool.worker(0).wait_ready(TIMEOUT_S)
        figures = {"idle_at_start": workers_memory(pool.pids())}
        ids = [manager.submit(config.replace(seed=seed)) for seed in range(4)]
        peak = figures["idle_at_start"]
        while any(manager.store.get(i).is_active for i in ids):
            now = workers_memory(pool.pids())
            peak = now if now["rss_mb"] > peak["rss_mb"] else peak
            time.sleep(0.5)
        figures["training_4_peak"], figures["after_runs"] = peak, workers_memory(trained := pool.pids())
        wait_until(lambda: not set(trained) & set(pool.pids()), WORKER_IDLE_S + 60)
        pool.worker(0).wait_ready(TIMEOUT_S)  # the fresh worker that stands in (slot 0), once it has imported torch
        figures["after_idle"] = workers_memory(pool.pids())
    finally:
        manager.shutdown(timeout=60)
    for name, label in (("idle_at_start", "idle at start"), ("training_4_peak", "4 runs training (peak)"),
                        ("after_runs", "right after they end"), ("after_idle", f"after {WORKER_IDLE_S:.0f} s idle")):
        print(f"pool workers, {label + ':':<24} {figures[name]['workers']} process(es), RSS "
              f"{figures[name]['rss_mb']:>6,.0f} MB, USS {figures[name]['uss_mb']:>6,.0f} MB")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    parser.add_argument("--quick", action="store_true", help="smaller runs (a check that it works, not figures)")
    parser.add_argument("--only", choices=["worker-memory"], help="measure only this part (4.)")
    args = parser.parse_args(argv)
    # Long enough (~12 s unwatched on 2 cores) for a steady window of several live refreshes after 3 tabs started.
    limit, epochs = (6000, 1) if args.quick else (60_000, 2)
    lenet = preset_config("lenet", epochs=epochs, train_limit=limit)  # 5,000 of the images validate
    mlp = preset_config("mlp-3", epochs=1, train_limit=limit, val_size=0)
    figures: dict = {"cores": len(os.sched_getaffinity(0)),
                     "config": f"lenet, {epochs} epoch(s) of {limit - 5000:,} images",
                     "load_average_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench-classroom-") as temp:
        temp = Path(temp)
        if not args.only:
            figures.update(throughput_figures(temp, lenet, mlp))
        figures["worker_memory"] = worker_memory(temp / "memory", mlp)
    figures["load_average_after"] = os.getloadavg()[0]
    print(f"load average (1 min) before {figures['load_average_before']:.1f}, after "
          f"{figures['load_average_after']:.1f} on {figures['cores']} cores")
    if args.json:
        print(json.dumps(figures, default=lambda v: round(v, 3) if isinstance(v, float) else str(v)))
    return 0


def throughput_figures(temp: Path, lenet, mlp) -> dict:
    """Parts 1 to 3: the CLI, the app (with Chromium), the pool's throughput."""
    from playwright.sync_api import sync_playwright  # only here: part 4 alone needs no browser

    figures = {"cli_samples_per_s": cli_samples_per_s(lenet, temp / "cli")}
    print(f"CLI:                       {figures['cli_samples_per_s']:>8,.0f} samples/s")
    figures.update(app_figures(temp / "app", lenet, mlp, sync_playwright))
    totals = pool_throughput(temp / "pool", mlp)
    print("local pool, mlp-3:         " + ", ".join(f"{n} run{'s' if n > 1 else ''} {v:,.0f}"
                                                  for n, v in totals.items())
          + f" samples/s in total; 4 vs 1: {totals[4] / totals[1]:.2f}x (target >= 1)")
    return {**figures, "pool_total_samples_per_s": totals}


def app_figures(runs: Path, lenet, mlp, sync_playwright) -> dict:
    """Parts 1 and 2 in the app: the lenet run unwatched and watched, and the pages' render times, on one app
    server and one Chromium (both stopped at the end)."""
    runs.mkdir()
    app = App(runs)
    store = RunStore(runs)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            # A page's first visit after the server started also imports its modules (the canvas, plotly,
            # pandas) and a first Home loads the dataset: timed apart from a fresh tab on a running server.
            first = render_times(app, browser)
            print("first visit after start:   " + ", ".join(f"{k} {v:.2f} s" for k, v in first.items()))
            watching = watching_cost(app, store, browser, lenet)
            busy_before_idle = wait_until_quiet()
            idle = render_times(app, browser, repeats=RENDER_REPEATS)
            print("fresh tab, idle:           " + ", ".join(f"{k} {v:.2f} s" for k, v in idle.items())
                  + f" (median of {RENDER_REPEATS}; target <= 1.5 s)")
            race = during_race(app, store, browser, mlp.replace(epochs=30))
            print("fresh tab, 4 runs at once: " + ", ".join(f"{k} {race[k]:.2f} s" for k in PAGES)
                  + f" (median of {RENDER_REPEATS}; target <= 3 s; "
                  f"all 4 running throughout: {race['all_4_running_throughout']})")
            browser.close()
    finally:
        app.stop()
    return {**watching, "render_first_visit_s": first, "render_idle_s": idle,
            "cores_busy_before_idle_renders": busy_before_idle, "render_race_s": race}


def watching_cost(app: App, store: RunStore, browser, lenet) -> dict:
    """Part 1 in the app: the same training with no browser open, then with 3 tabs watching it live."""
    alone = run_in_app(app, store, browser, lenet, watchers=0)
    print(f"app, no browser:           {alone['samples_per_s']:>8,.0f} samples/s over the run, "
          f"{alone['steady_samples_per_s']:,.0f} in its last {alone['steady_window_s']:.1f} s "
          f"(server CPU {alone['server_cpu_per_s']:.3f} s/s)")
    watched = run_in_app(app, store, browser, lenet, watchers=3)
    per_tab = watched["server_cpu_per_s"] / 3
    ratio = watched["steady_samples_per_s"] / alone["steady_samples_per_s"]
    whole_ratio = watched["samples_per_s"] / alone["samples_per_s"]
    print(f"app, 3 tabs watching:      {watched['samples_per_s']:>8,.0f} samples/s over the run "
          f"({whole_ratio:.2f}x, the tabs' start-up included), {watched['steady_samples_per_s']:,.0f} "
          f"in its last {watched['steady_window_s']:.1f} s = {ratio:.2f}x unwatched (target >= 0.8); "
          f"server CPU {watched['server_cpu_per_s']:.3f} s/s = {per_tab:.3f} per tab (target <= 0.1); "
          f"{watched['tabs_showing_charts']}/3 tabs drew charts")
    return {"app_unwatched": alone, "app_watched": watched, "watched_vs_unwatched": ratio,
            "watched_vs_unwatched_whole_run": whole_ratio, "server_cpu_per_watching_tab": per_tab}


if __name__ == "__main__":
    sys.exit(main())
