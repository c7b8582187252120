"""`python -m mnist_core course-table --seeds 3 [--json]`: the course's results table trained as the course did
(all 60,000 training images, its epochs, batch, learning rates and initialisations) with several seeds, on the
worker pool; finished runs in the run store are reused, so a rerun after an interruption resumes."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

POLL_S = 2.0
PROGRESS_EVERY_S = 30.0


def add_parser(commands: Any) -> None:
    """Register the command on the CLI's subparsers."""
    table = commands.add_parser("course-table", help="train every row of the course's results table with several "
                                "seeds (all 60,000 images) and compare with the course's numbers")
    table.add_argument("--seeds", type=int, default=3, help="seeds per row (default 3)")
    table.add_argument("--workers", type=int, help="runs trained at once (default: the server's setting)")
    table.add_argument("--json", action="store_true", help="end with one JSON line of the table")
    table.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    # Test-only shortcuts: a short table that still goes through every step.
    table.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    table.add_argument("--train-limit", type=int, default=0, help=argparse.SUPPRESS)


def cmd_course_table(args: argparse.Namespace) -> int:
    from mnist_core import settings
    from mnist_core.backends.jobs import JobManager
    from mnist_core.data import load_dataset
    from mnist_core.lessons import course_table_runs as table_runs
    from mnist_core.lessons.course_table import table_plan
    from mnist_core.runs.store import RunStore

    if args.seeds < 1 or args.seeds > 20:
        raise ValueError(f"--seeds must be 1 to 20, got {args.seeds}")
    plan = table_plan(args.seeds, args.epochs, args.train_limit)  # ConfigError for a bad --epochs/--train-limit
    data = load_dataset("mnist")
    store = RunStore()
    have = table_runs.stored_runs(store, plan)
    missing = [p for p in plan if p not in have]
    reused = len(have)
    started = time.perf_counter()
    _say(f"{len(plan)} runs ({args.seeds} seeds x {len(plan) // args.seeds} rows): {len(have)} already in the run "
         f"store {store.root}, {len(missing)} to train")
    if missing:
        workers = args.workers or settings.max_jobs()
        rates = table_runs.probe_samples_per_s([p.config for p in missing], data, workers)
        _say(f"estimated time: about {_minutes(table_runs.estimate_seconds(missing, rates, workers))} with "
             f"{workers} runs at once, at this machine's speed now (a few training steps of each network)")
        jobs = JobManager(store, max_concurrent=workers, device=args.device, dispatch=True)
        try:
            submitted = table_runs.submit_missing(jobs, plan, have)
            _follow(store, submitted, started)
        except KeyboardInterrupt:
            _say("interrupted: the finished runs are kept; run the command again to train the rest")
            jobs.shutdown(wait=True, timeout=30)
            return 130
        jobs.shutdown(wait=True, timeout=60)
        have = table_runs.stored_runs(store, plan)
    figures = table_runs.table_figures(have)
    wall = time.perf_counter() - started
    _print_table(figures, wall)
    if args.json:
        print(json.dumps(_json(figures, args, wall, len(missing), reused)))
    failed = [p for p in plan if p not in have]
    if failed:
        _say(f"{len(failed)} runs did not complete: " + ", ".join(p.name for p in failed))
        return 1
    return 0


def _follow(store: Any, submitted: dict, started: float) -> None:
    """Wait for the submitted runs, saying when each finishes and every PROGRESS_EVERY_S how far the rest got."""
    waiting = dict(submitted)
    last_report = time.perf_counter()
    while waiting:
        time.sleep(POLL_S)
        records = {p: store.get(run_id) for p, run_id in waiting.items()}
        for planned, record in records.items():
            if not record.is_active:
                del waiting[planned]
                done = len(submitted) - len(waiting)
                outcome = f"{record.test_accuracy:.2%}" if record.test_accuracy is not None else record.status
                _say(f"[{done}/{len(submitted)}] {planned.name}: {outcome} in {record.duration_s or 0:.0f} s "
                     f"(run {record.id})")
        if waiting and time.perf_counter() - last_report >= PROGRESS_EVERY_S:
            last_report = time.perf_counter()
            fraction = _fraction(submitted, waiting, records)
            _say(f"progress {fraction:.0%} after {_minutes(last_report - started)}")


def _fraction(submitted: dict, waiting: dict, records: dict) -> float:
    """Iterations trained over all submitted runs (finished ones count whole)."""
    total = sum(p.config.total_iterations for p in submitted)
    done = sum(p.config.total_iterations for p in submitted if p not in waiting)
    for planned in waiting:
        progress = records[planned].progress or {}
        done += min(progress.get("iteration", 0), planned.config.total_iterations)
    return done / total if total else 1.0


def _print_table(figures: Any, wall: float) -> None:
    print(f"{'row':<8} {'preset':<14} {'course':>7} {'ours (mean)':>11} {'spread':>7} {'seeds':>5}  verdict")
    for row in figures.rows:
        mean = f"{row.mean:.2%}" if row.mean is not None else "-"
        spread = f"{row.spread:.2%}" if row.spread is not None else "-"
        print(f"{row.experiment.column:<8} {row.experiment.preset:<14} {row.experiment.course_accuracy:>7.2%} "
              f"{mean:>11} {spread:>7} {len(row.accuracies):>5}  {row.verdict or '-'}")
    print(f"wall time {_minutes(wall)}")


def _json(figures: Any, args: argparse.Namespace, wall: float, trained: int, reused: int) -> dict[str, Any]:
    rows = []
    for row in figures.rows:
        runs = sorted((p for p in figures.runs if p.experiment == row.experiment), key=lambda p: p.seed)
        rows.append({
            "column": row.experiment.column, "preset": row.experiment.preset,
            "course_accuracy": row.experiment.course_accuracy, "accuracies": list(row.accuracies),
            "mean": row.mean, "spread": row.spread, "verdict": row.verdict,
            "seeds": [p.seed for p in runs], "run_ids": [figures.runs[p].id for p in runs],
            "seconds": [figures.runs[p].duration_s for p in runs],
        })
    return {"seeds": args.seeds, "trained": trained, "reused": reused, "wall_s": round(wall, 1),
            "rows": _finite(rows)}


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
