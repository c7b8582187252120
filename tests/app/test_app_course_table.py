"""Lesson 9's whole course table in AppTest: stored table runs (the command line's count for every student) fill
the summary and the curves, and the button queues only the runs the store does not hold, as the student."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from mnist_core.lessons.course_table import COURSE_TABLE, table_config, table_run_name
from mnist_core.runs.store import RunStore

from app_harness import figure_titled, start_app, student, train_run, wait_until_finished

QUERY, STUDENT = student("course-table-student-token-00000000000001", "Mina")
SGD = COURSE_TABLE[0]


def summary(app) -> dict[str, list]:
    table = next(df for df in app.dataframe if "our mean" in df.value.columns)
    return {column: list(table.value[column]) for column in table.value.columns}


def test_the_table_shows_stored_runs_and_queues_only_the_missing_ones(runs_root: Path, data_root: Path) -> None:
    store = RunStore(runs_root)
    # The real first row, two seeds, as the course trained it (softmax regression: seconds), by the command line.
    ids = [train_run(store, data_root, table_config(SGD, seed), name=table_run_name(SGD, seed)) for seed in (0, 1)]
    accuracies = [store.get(i).test_accuracy for i in ids]
    app = start_app("learn/course", {**QUERY, "lang": "en"})
    assert not app.exception
    app.slider(key="learn_course_table_seeds").set_value(2).run()
    shown = summary(app)
    assert shown["course's accuracy"][0] == "42.00%"
    assert shown["our mean"][0] == f"{statistics.fmean(accuracies):.2%}"
    assert shown["spread (standard deviation)"][0] == f"{statistics.stdev(accuracies):.2%}"
    assert shown["seeds"][:2] == ["2", "0"] and shown["our mean"][1:] == ["–"] * 5
    curves = figure_titled(app, "Training loss per epoch, every row side by side")
    assert len(curves["data"]) == 2 and all(trace["x"] == list(range(1, 16)) for trace in curves["data"])
    assert any("10 of 12 runs still to train" in c.value for c in app.caption)

    app.button(key="learn_course_table_start").click().run()
    from app import resources

    queued = [r for r in store.list_runs() if r.id not in ids]
    try:
        # Seed by seed, as the plan orders them, up to the class rules' 8 runs at once per student; the refusal
        # of the rest is on the page, and the next click queues them (the store's runs are reused).
        planned = [table_run_name(e, s) for s in (0, 1) for e in COURSE_TABLE if (e, s) != (SGD, 0) and e != SGD]
        assert [r.name for r in sorted(queued, key=lambda r: r.id)] == planned[:8]
        assert all(r.owner_id == STUDENT.owner_id and r.config.val_size == 0 for r in queued)
        assert len(app.error) == 1 and not app.exception
    finally:
        for run in queued:
            resources.jobs().stop(run.id)
    wait_until_finished(store, [r.id for r in queued], timeout_s=120)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_table_section_opens_empty(runs_root: Path, lang: str) -> None:
    app = start_app("learn/course", {**QUERY, "lang": lang})
    assert not app.exception
    assert len(summary(app)["our mean"] if lang == "en" else app.dataframe[1].value) == len(COURSE_TABLE)
