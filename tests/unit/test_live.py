"""Live views that cost little: the store answers "losses after iteration N", LiveCurves reads only what is new and
smooths incrementally (the same curve as smoothing everything), decimated curves keep their spikes in at most
~1,000 points, and a LiveChart rebuilds a figure only when its data changed, keeping the user's zoom."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from app import charts
from app.run.live_charts import LiveChart, curves_so_far, expected_points, live_chart
from mnist_core.config import TrainConfig
from mnist_core.events import EpochMetrics, LossPoints
from mnist_core.runs.live import ExponentialAverage, LiveCurves
from mnist_core.runs.permissions import COMMAND_LINE
from mnist_core.runs.store import RunNotFound, RunStore

CONFIG = TrainConfig(hidden=(32,), epochs=2, train_limit=2000, val_size=500)


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


def noisy_losses(n: int, seed: int = 0) -> list[float]:
    rng = random.Random(seed)
    return [2.0 / math.sqrt(i) + rng.random() * 0.1 for i in range(1, n + 1)]


def test_the_store_answers_losses_and_epochs_after_a_point(store: RunStore) -> None:
    run_id = store.create_run(CONFIG)
    store.add_losses(run_id, LossPoints(list(range(1, 11)), [float(i) for i in range(1, 11)]))
    store.add_epoch(run_id, EpochMetrics(1, 0.5, 0.8, 0.4, 0.85, 1.0))
    store.add_epoch(run_id, EpochMetrics(2, 0.3, 0.9, 0.35, 0.88, 2.0))
    assert store.losses(run_id, after=7).iterations == [8, 9, 10]
    assert store.losses(run_id, after=10).iterations == []
    assert store.losses(run_id).iterations == list(range(1, 11))  # the whole curve, as before
    assert [e.epoch for e in store.epochs(run_id, after=1)] == [2]
    with pytest.raises(RunNotFound):
        store.losses(run_id + 1, after=3)


def test_the_store_tells_whether_any_training_changed(store: RunStore) -> None:
    assert store.activity() == ()
    run_id = store.create_run(CONFIG)
    before = store.activity()
    assert [row[:2] for row in before] == [(run_id, "queued")]
    assert store.activity() == before  # nothing happened: the same answer
    store.mark_running(run_id, "cpu")
    assert store.activity() != before
    store.set_status(run_id, "stopped")
    assert store.activity() == ()


def test_live_curves_read_only_what_is_new_and_smooth_as_the_whole_curve(store: RunStore) -> None:
    run_id = store.create_run(CONFIG)
    losses = noisy_losses(3000)
    losses[1500] = float("nan")  # a diverged iteration: a gap, not a blank curve
    curves = LiveCurves(run_id, expected_points=3000)
    assert curves.refresh(store) is False and curves.loss_version == 0
    for start in range(0, 3000, 700):  # arrives in chunks, as a training writes it
        chunk = list(range(start + 1, min(start + 700, 3000) + 1))
        store.add_losses(run_id, LossPoints(chunk, [losses[i - 1] for i in chunk]))
        assert curves.refresh(store) is True
        assert curves.refresh(store) is False  # nothing new since: no change
    assert curves.iterations == list(range(1, 3001)) and curves.loss_version == 5
    whole = charts.smooth(losses, curves.window)
    assert curves.window == 120
    assert all((math.isnan(a) and math.isnan(b)) or a == pytest.approx(b)
               for a, b in zip(curves.smoothed, whole, strict=False))
    store.add_epoch(run_id, EpochMetrics(1, 0.5, 0.8, 0.4, 0.85, 1.0))
    assert curves.refresh(store) is True and curves.epoch_version == 1 and curves.loss_version == 5


def test_exponential_average_in_pieces_equals_all_at_once() -> None:
    values = noisy_losses(500, seed=3)
    pieces = ExponentialAverage(20)
    joined = pieces.extend(values[:123]) + pieces.extend(values[123:400]) + pieces.extend(values[400:])
    assert joined == pytest.approx(ExponentialAverage(20).extend(values))


def test_decimation_keeps_spikes_in_at_most_a_thousand_points() -> None:
    iterations = list(range(1, 20_001))
    losses = noisy_losses(20_000)
    losses[12_345] = 50.0  # one diverging step
    losses[777] = float("nan")
    x, y = charts.decimate(iterations, losses)
    assert len(x) <= charts.MAX_POINTS and x == sorted(x)
    assert 50.0 in y and 12_346 in x  # the spike survives
    assert min(v for v in y if math.isfinite(v)) == min(v for v in losses if math.isfinite(v))
    figure = charts.loss_figure(iterations, losses, run_id=4)
    assert all(len(trace.x) <= charts.MAX_POINTS + 1 for trace in figure.data)
    assert max(v for v in figure.data[0].y if v is not None) == 50.0
    assert figure.layout.uirevision == "loss-4"  # plotly keeps the user's zoom while the data changes
    short = charts.decimate([1, 2, 3], [3.0, 2.0, 1.0])
    assert short == ([1, 2, 3], [3.0, 2.0, 1.0])


def test_a_live_chart_rebuilds_a_figure_only_when_its_data_changed(store: RunStore, monkeypatch) -> None:
    monkeypatch.setattr("app.run.live_charts.SHARED_READ_S", 0.0)
    run_id = store.create_run(CONFIG)
    record = store.get(run_id)
    assert expected_points(record) == CONFIG.total_iterations
    chart = live_chart(store, record)
    assert live_chart(store, record) is chart  # every tab watching the run shares it
    chart.refresh(store)
    assert chart.loss_figure() is None and chart.epoch_figures() is None
    store.add_losses(run_id, LossPoints([1], [2.3]))
    chart.refresh(store)
    assert chart.loss_figure() is None  # one point draws no line: the page's caption, not an empty box (#22)
    store.add_losses(run_id, LossPoints([2, 3], [2.1, 2.0]))
    chart.refresh(store)
    first = chart.loss_figure()
    chart.refresh(store)
    assert chart.loss_figure() is first  # nothing new: the same figure, not rebuilt
    store.add_losses(run_id, LossPoints([4], [1.9]))
    chart.refresh(store)
    second = chart.loss_figure()
    assert second is not first and list(second.data[0].x) == [1, 2, 3, 4]
    assert second.layout.uirevision == first.layout.uirevision
    store.add_epoch(run_id, EpochMetrics(1, 0.5, 0.8, 0.4, 0.85, 1.0))
    chart.refresh(store)
    accuracy, loss = chart.epoch_figures()
    store.add_losses(run_id, LossPoints([5], [1.8]))
    chart.refresh(store)
    assert chart.epoch_figures() == (accuracy, loss)  # a new loss point leaves the epoch charts alone
    assert isinstance(chart, LiveChart)


def test_a_run_after_a_deleted_one_gets_its_own_id_and_a_fresh_live_chart(store: RunStore) -> None:
    run_id = store.create_run(CONFIG)
    chart = live_chart(store, store.get(run_id))
    store.delete(run_id, actor=COMMAND_LINE)
    again = store.create_run(CONFIG.replace(epochs=3))
    assert again == run_id + 1  # the store never gives a deleted run's id again
    assert live_chart(store, store.get(again)) is not chart


def test_compare_reads_a_training_run_through_its_shared_live_chart(store: RunStore, monkeypatch) -> None:
    monkeypatch.setattr("app.run.live_charts.SHARED_READ_S", 0.0)
    run_id = store.create_run(CONFIG)
    store.mark_running(run_id, "cpu")
    store.add_losses(run_id, LossPoints([1, 2], [2.3, 2.2]))
    points, epochs = curves_so_far(store, store.get(run_id))
    assert points.iterations == [1, 2] and epochs == []
    store.add_losses(run_id, LossPoints([3], [2.1]))
    store.add_epoch(run_id, EpochMetrics(1, 0.5, 0.8, 0.4, 0.85, 1.0))
    points, epochs = curves_so_far(store, store.get(run_id))
    assert points.iterations == [1, 2, 3] and [e.epoch for e in epochs] == [1]
    assert live_chart(store, store.get(run_id)).curves.loss_version == 2  # read in two pieces, not twice whole
    store.set_status(run_id, "stopped")
    points, _ = curves_so_far(store, store.get(run_id))  # a finished run: straight from the store
    assert points.iterations == [1, 2, 3]
