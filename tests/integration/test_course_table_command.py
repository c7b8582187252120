"""`python -m mnist_core course-table`: a short real table on the worker pool, stored, resumed, summarised."""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path

import pytest

from mnist_core.cli import main as cli_main
from mnist_core.lessons.course_table import COURSE_TABLE
from mnist_core.runs.permissions import COMMAND_LINE
from mnist_core.runs.store import RunStore

SHORT = ["--epochs", "1", "--train-limit", "300", "--workers", "2", "--json"]


@pytest.fixture
def table(data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    monkeypatch.setenv("MNIST_PLAYGROUND_DATA", str(data_root))
    monkeypatch.setenv("MNIST_PLAYGROUND_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_PLAYGROUND_DEVICE", "cpu")

    def run(*args: str) -> subprocess.CompletedProcess:
        code = cli_main(["course-table", *args])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def test_a_short_table_trains_every_row_then_resumes_from_the_store(table, tmp_path):
    first = table("--seeds", "1", *SHORT)
    assert first.returncode == 0, first.stderr
    figures = json.loads(first.stdout.strip().splitlines()[-1])
    assert (figures["trained"], figures["reused"]) == (len(COURSE_TABLE), 0)
    assert [row["column"] for row in figures["rows"]] == [e.column for e in COURSE_TABLE]
    store = RunStore(tmp_path / "runs")
    for row in figures["rows"]:
        (run_id,) = row["run_ids"]
        record = store.get(run_id)  # the stored run is the row's, trained as the course did, by the command line
        assert record.status == "completed" and record.owner_id == COMMAND_LINE.owner_id
        assert record.config.preset == row["preset"] and record.config.val_size == 0
        assert record.config.train_samples == 300 and record.config.seed == 0
        assert row["accuracies"] == [record.test_accuracy] and row["spread"] is None
    assert "SGD" in first.stdout and "wall time" in first.stdout

    # A second seed: only the new seed's runs train; the first seed's come from the store, unchanged.
    second = table("--seeds", "2", *SHORT)
    assert second.returncode == 0, second.stderr
    resumed = json.loads(second.stdout.strip().splitlines()[-1])
    assert (resumed["trained"], resumed["reused"]) == (len(COURSE_TABLE), len(COURSE_TABLE))
    for before, after in zip(figures["rows"], resumed["rows"], strict=True):
        assert after["run_ids"][0] == before["run_ids"][0] and after["seeds"] == [0, 1]
        accuracies = [store.get(run_id).test_accuracy for run_id in after["run_ids"]]
        assert after["accuracies"] == accuracies
        assert after["mean"] == pytest.approx(statistics.fmean(accuracies))
        assert after["spread"] == pytest.approx(statistics.stdev(accuracies))

    # Everything stored: nothing trains again, and the command says so before anything starts.
    again = table("--seeds", "2", *SHORT)
    assert again.returncode == 0 and json.loads(again.stdout.strip().splitlines()[-1])["trained"] == 0
    assert "12 already in the run store" in again.stderr
    assert len(store.list_runs()) == 2 * len(COURSE_TABLE)


def test_a_bad_seed_count_is_one_line(table):
    proc = table("--seeds", "0")
    assert proc.returncode == 2 and "--seeds" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
