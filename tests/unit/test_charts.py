"""The app's charts are built from plain dicts without plotly's validation (app.charts.figure: 1 ms instead of
14-22 ms a chart). Here every chart goes through that validation: a misspelt property or a wrong value raises, and
the validated figure must send the very same JSON as the one the app sends."""

from __future__ import annotations

import json
import math

import numpy as np
import plotly.graph_objects as go
import pytest

from app import charts
from app.lessons import charts as lesson_charts

RNG = np.random.default_rng(0)
ITERATIONS = list(range(1, 3001))
LOSSES = (2.3 * np.exp(-np.arange(3000) / 500) + RNG.random(3000) * 0.1).tolist()
LABELS = RNG.integers(0, 10, 500)
PREDICTED = np.where(RNG.random(500) < 0.8, LABELS, RNG.integers(0, 10, 500))
DIGITS = [str(d) for d in range(10)]
SOUND = charts.RunSeries(1, "lr 0.1 <b>bold?</b>", list(range(1, 61)), list(np.linspace(2.3, 0.3, 60)))
DIVERGED = charts.RunSeries(2, "lr 1", list(range(1, 8)), [2.3, 15, 2545, 2e7, 1e12, 1e15, float("nan")])
GRID = np.linspace(-1, 1, 5)

FIGURES = {
    "loss": lambda: charts.loss_figure(ITERATIONS, LOSSES, 3),
    "loss, continued": lambda: charts.loss_figure(
        ITERATIONS[:100], LOSSES[:100], 3, earlier=charts.EarlierRun(ITERATIONS[:80], LOSSES[:80], "old <i>")),
    "epoch accuracy": lambda: charts.epoch_figure([1, 2, 3], [0.9, 0.95, 0.97], [0.88, None, 0.96], "accuracy", 2),
    "epoch loss, no validation": lambda: charts.epoch_figure([1, 2], [0.5, 0.3], [None, None], "loss", 2),
    "confusion": lambda: charts.confusion_figure(LABELS, PREDICTED, DIGITS),
    "per class": lambda: charts.per_class_figure(LABELS, PREDICTED, DIGITS, 4),
    "probabilities": lambda: charts.probability_figure(np.full(10, 0.1, dtype=np.float32), DIGITS),
    "probabilities, fashion": lambda: charts.probability_figure([0.005] * 9 + [0.955], ["T-shirt/top"] * 10,
                                                                 title="", height=260),
    "compare loss, log": lambda: charts.compare_loss_figure([SOUND, DIVERGED], "iteration", window=1),
    "compare epochs": lambda: charts.compare_epoch_figure([SOUND, DIVERGED], "accuracy"),
    "lines": lambda: lesson_charts.lines("T", "x", "y", {"a": ([1, 2, 3], [0.5, float("nan"), 0.2])}, log_y=True),
    "bars": lambda: lesson_charts.bars("T", "x", "y", ["a", "b"], np.array([1.0, 2.0]), highlight=1,
                                       text=["1", "2"]),
    "grouped bars": lambda: lesson_charts.grouped_bars("T", "y", ["a", "b"], {"g1": [1, None], "g2": [2, 3]}),
    "batch strip": lambda: lesson_charts.batch_strip(np.array([100] * 599 + [50]), 100),
    "contour": lambda: lesson_charts.contour_paths("T", GRID, GRID, RNG.random((5, 5)), {"sgd": RNG.random((6, 2))},
                                                   "w", "b", target=(0.1, 0.2), log_levels=True),
    "decision map": lambda: lesson_charts.decision_map("T", GRID, RNG.random((5, 5)),
                                                       np.array([[0, 0], [0, 1], [1, 0], [1, 1]]),
                                                       np.array([0, 1, 1, 0])),
}


def sent(fig: go.Figure) -> dict:
    """The JSON st.plotly_chart sends."""
    return json.loads(fig.to_json(validate=False))


@pytest.mark.parametrize("name", FIGURES)
def test_every_chart_passes_plotly_validation_unchanged(name: str) -> None:
    fig = FIGURES[name]()
    validated = go.Figure(fig.to_dict())  # raises ValueError on an unknown property or an invalid value
    assert sent(validated) == sent(fig)
    assert sent(fig)["layout"]["template"]["layout"]["plot_bgcolor"] == "white"  # plotly_white's look


def test_validation_does_catch_a_misspelt_property() -> None:
    fig = charts.figure([{"type": "scatter", "x": [1], "y": [2], "colour": "red"}], charts.layout("T", "x", "y"))
    with pytest.raises(ValueError, match="colour"):
        go.Figure(fig.to_dict())


def test_a_student_typed_run_name_is_plotted_as_text() -> None:
    names = [trace["name"] for trace in sent(FIGURES["compare loss, log"]())["data"]]
    assert names[0] == "lr 0.1 &lt;b&gt;bold?&lt;/b&gt;"  # plotly draws <b> as bold: escaped, it shows as typed


def decimate_by_loop(x: list[float], y: list[float], max_points: int) -> tuple[list[float], list[float]]:
    """An independent answer: bucket by bucket, the first lowest and first highest finite point, in order."""
    if len(x) <= max_points:
        return list(x), list(y)
    buckets = max(1, max_points // 2)
    edges = np.linspace(0, len(x), buckets + 1).astype(int)
    keep = []
    for start, end in zip(edges[:-1], edges[1:], strict=True):
        finite = [i for i in range(start, end) if math.isfinite(y[i])]
        if not finite:
            keep.append(start)
            continue
        low = min(finite, key=lambda i: (y[i], i))
        high = min(finite, key=lambda i: (-y[i], i))
        keep += sorted({low, high})
    return [float(x[i]) for i in keep], [float(y[i]) for i in keep]


@pytest.mark.parametrize("length", [7, 1000, 1001, 2999, 8250])
def test_decimation_matches_a_loop_over_the_buckets(length: int) -> None:
    rng = np.random.default_rng(length)
    y = rng.normal(size=length).round(1)  # rounded: many ties, where the first one must win
    y[rng.random(length) < 0.05] = np.nan
    y[100:140 if length > 140 else 0] = np.nan  # whole buckets of NaN
    y[rng.random(length) < 0.01] = np.inf
    x = list(range(1, length + 1))
    got, want = charts.decimate(x, y.tolist()), decimate_by_loop(x, y.tolist(), charts.MAX_POINTS)
    assert got[0] == want[0]
    assert np.array_equal(np.array(got[1]), np.array(want[1]), equal_nan=True)
