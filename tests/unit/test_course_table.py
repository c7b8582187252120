"""The course's table: its plan (the course's settings on all 60,000 images) and each row's statistics."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_core.config import PRESETS, TRAIN_SET_SIZE
from mnist_core.lessons.course_table import COURSE_TABLE, summarise_row, summarise_table, table_plan


def test_the_plan_trains_every_row_as_the_course_did_seed_by_seed():
    plan = table_plan(3)
    assert len(plan) == 3 * len(COURSE_TABLE)
    assert [p.seed for p in plan[: len(COURSE_TABLE)]] == [0] * len(COURSE_TABLE)  # every row's first seed first
    for planned in plan:
        preset = PRESETS[planned.experiment.preset]
        config = planned.config
        assert config.val_size == 0 and config.train_limit == 0 and config.train_samples == TRAIN_SET_SIZE
        assert config.iterations_per_epoch == 600  # 60,000 / batch 100, as the course's DataLoader
        assert (config.epochs, config.batch_size, config.lr, config.init, config.optimizer, config.hidden,
                config.dropout) == (preset.epochs, preset.batch_size, preset.lr, preset.init, preset.optimizer,
                                    preset.hidden, preset.dropout)
        assert planned.name == f"course table · {planned.experiment.column} · seed {planned.seed}"
    assert len({p.config for p in plan}) == len(plan)  # the seed tells runs of a row apart
    with pytest.raises(ValueError):
        table_plan(0)


def test_a_shortened_plan_is_still_valid():
    (first, *_rest) = table_plan(1, epochs=1, train_limit=500)
    assert first.config.epochs == 1 and first.config.train_samples == 500


@pytest.mark.parametrize("accuracies", [[0.981, 0.978, 0.9835], [0.95, 0.97], [0.9, 0.91, 0.92, 0.99]])
def test_mean_and_spread_match_numpy(accuracies):
    row = summarise_row(COURSE_TABLE[3], accuracies)  # Xavier: 0.9791
    assert row.mean == pytest.approx(np.mean(accuracies))
    assert row.spread == pytest.approx(np.std(accuracies, ddof=1))  # the sample standard deviation
    assert row.difference == pytest.approx(np.mean(accuracies) - 0.9791)


def test_the_verdict_needs_the_whole_spread_above_or_below_the_course():
    xavier = COURSE_TABLE[3]  # 0.9791
    assert summarise_row(xavier, [0.9810, 0.9820, 0.9815]).verdict == "beats"  # 0.9815 - 0.0005 > 0.9791
    assert summarise_row(xavier, [0.9700, 0.9710, 0.9720]).verdict == "short"
    assert summarise_row(xavier, [0.9750, 0.9850]).verdict == "within"  # mean 0.98, spread 0.0071
    assert summarise_row(xavier, []).verdict == "" and summarise_row(xavier, []).mean is None
    one = summarise_row(xavier, [0.99])
    assert one.spread is None and one.verdict == "beats"


def test_the_table_keeps_the_course_order_and_fills_missing_rows_empty():
    rows = summarise_table({"mlp-3": [0.98, 0.97]})
    assert [r.experiment.column for r in rows] == ["SGD", "Adam", "NN", "Xavier", "DNN", "Dropout"]
    assert rows[2].accuracies == (0.98, 0.97) and rows[0].accuracies == ()
