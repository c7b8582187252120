"""`python -m mnist_core.bench` on the real files: it runs, and its --json line keeps the promises the README
makes. How fast is not judged here (speed targets live in the benchmark itself, not in timed tests)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PROJECT_DIR

REQUIRED = ("speedup_vs_course", "samples_per_s", "course_samples_per_s", "gflops", "predict_p95_ms",
            "gemm_ceiling_samples_per_s", "ceiling_speedup_vs_course", "predict_p50_ms", "peak_rss_mb",
            "lenet_course_samples_per_s", "lenet_samples_per_s", "lenet_speedup_vs_course",
            "lenet_step_nchw_samples_per_s", "lenet_step_channels_last_samples_per_s")


def test_bench_prints_figures_and_a_consistent_json_line(data_root: Path) -> None:
    env = {**os.environ, "MNIST_PLAYGROUND_DATA": str(data_root)}
    proc = subprocess.run(
        [sys.executable, "-m", "mnist_core.bench", "--json", "--device", "cpu", "--course-iterations", "20",
         "--epochs", "1", "--lenet-samples", "2000", "--repeats", "1"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert any(line.startswith("speed-up vs course:") for line in lines)
    assert any(line.startswith("matrix products alone (ceiling):") for line in lines)

    figures = json.loads(lines[-1])
    assert set(REQUIRED) <= figures.keys() and figures["device"] == "cpu"
    assert all(figures[key] > 0 for key in REQUIRED)
    assert figures["speedup_vs_course"] == pytest.approx(
        figures["samples_per_s"] / figures["course_samples_per_s"], rel=0.01)
    assert figures["ceiling_speedup_vs_course"] == pytest.approx(
        figures["gemm_ceiling_samples_per_s"] / figures["course_samples_per_s"], rel=0.01)
    assert figures["gflops"] == pytest.approx(figures["samples_per_s"] * 6 * 268_800 / 1e9, rel=0.01)
    assert figures["lenet_speedup_vs_course"] == pytest.approx(
        figures["lenet_samples_per_s"] / figures["lenet_course_samples_per_s"], rel=0.01)
    assert any(line.startswith("lenet training step: default (NCHW)") for line in lines)
    assert figures["predict_p50_ms"] <= figures["predict_p95_ms"]
    # The two goals, for the MLP and LeNet, each a ratio measured side by side and printed with its goal.
    ratios = figures["goal_ratios"]
    assert set(ratios) == {"mlp_vs_course", "mlp_vs_ceiling", "lenet_vs_course", "lenet_vs_ceiling"}
    assert all(len(values) == 1 and values[0] > 0 for values in ratios.values())
    for net in ("mlp", "lenet"):
        assert any(line.startswith(f"{net} trainer: ") and "(goal >= 5x)" in line for line in lines)
        assert any(line.startswith(f"{net} trainer: ") and "(goal >= 70%)" in line for line in lines)


def test_bench_without_the_dataset_says_so_in_one_line(tmp_path: Path) -> None:
    """The same DatasetUnavailable sentence as the CLI (what is missing, how to import it), not a traceback."""
    with socket.socket() as s:  # a port nothing listens on: the mirror is down
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MNIST_PLAYGROUND_DATA": str(tmp_path / "empty"),
           "MNIST_PLAYGROUND_MIRROR": f"http://127.0.0.1:{port}"}
    proc = subprocess.run([sys.executable, "-m", "mnist_core.bench", "--device", "cpu"], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "MNIST is not available" in lines[0] and "data import" in lines[0], proc.stderr
