"""A run that diverges (a learning rate far too large, as the course invites trying) is an outcome, not a crash: the
trainer stops at the first loss that is not a number, the run keeps its curve up to there and fails as "diverged"
with its facts, and the command line reports it in words and in strict JSON."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_core.backends.execution import execute_run
from mnist_core.config import TrainConfig
from mnist_core.events import LossPoints
from mnist_core.runs.store import RunStore
from mnist_core.training import TrainingDiverged, train

from conftest import PROJECT_DIR

# Momentum at learning rate 10 on the course's 3-layer MLP: the loss climbs 2.3 -> 30 -> 85,000 -> ... -> NaN
# within a dozen iterations.
EXPLODING = TrainConfig(hidden=(256, 256), optimizer="momentum", lr=10.0, epochs=2, train_limit=6000, val_size=500)


def test_the_trainer_stops_at_the_first_loss_that_is_not_a_number(mnist) -> None:
    events = []
    with pytest.raises(TrainingDiverged) as diverged:
        train(EXPLODING, data=mnist, device="cpu", on_event=events.append)
    facts = diverged.value.details
    sent = [(i, loss) for e in events if isinstance(e, LossPoints) for i, loss in zip(e.iterations, e.losses,
                                                                                        strict=True)]
    assert facts["optimizer"] == "momentum" and facts["lr"] == 10.0 and facts["epoch"] == 1
    # every loss sent is a number, they are the iterations 1..n just before the one that blew up
    assert sent and all(math.isfinite(loss) for _, loss in sent)
    assert [i for i, _ in sent] == list(range(1, facts["iteration"]))
    assert facts["last_finite_loss"] == sent[-1][1] and facts["last_finite_loss"] > 100  # it climbed first


def test_a_diverged_run_keeps_its_curve_and_fails_with_its_facts(tmp_path: Path, data_root: Path) -> None:
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(EXPLODING)
    assert execute_run(store, run_id, EXPLODING, device="cpu", data_root=data_root) is None
    record = store.get(run_id)
    assert record.status == "failed" and record.failure.kind == "diverged"
    assert record.failure.facts["lr"] == 10.0 and record.failure.facts["iteration"] >= 3
    losses = store.losses(run_id)
    assert losses.iterations == list(range(1, record.failure.facts["iteration"]))
    assert all(math.isfinite(loss) for loss in losses.losses)
    assert not store.has_weights(run_id)  # a blown-up network is not offered for drawing


def test_the_command_line_reports_a_diverged_run_in_words_and_strict_json(tmp_path: Path, data_root: Path) -> None:
    env = {**os.environ, "MNIST_PLAYGROUND_DATA": str(data_root), "MNIST_PLAYGROUND_RUNS": str(tmp_path / "runs"),
           "MNIST_PLAYGROUND_DEVICE": "cpu"}
    args = ["--hidden", "256,256", "--optimizer", "momentum", "--lr", "10", "--epochs", "1", "--train-limit", "6000",
            "--val-size", "500"]
    proc = subprocess.run([sys.executable, "-m", "mnist_core", "train", *args, "--json"], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "learning rate 10 is too large for momentum" in proc.stderr
    line = json.loads(proc.stdout.strip().splitlines()[-1], parse_constant=pytest.fail)  # no NaN in the JSON
    assert line["status"] == "failed" and line["failure"] == "diverged" and line["facts"]["lr"] == 10.0
    shown = subprocess.run([sys.executable, "-m", "mnist_core", "runs", "show", str(line["run_id"])], cwd=PROJECT_DIR,
                           env=env, capture_output=True, text=True, timeout=120, check=False)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout, parse_constant=pytest.fail)["status"] == "failed"
