"""The charts of a run that is training, as the live view redraws them every few seconds.

One `LiveChart` per run and server process, shared by every browser tab that watches the run: a refresh reads only
the loss points and epochs that are new since the last one (`mnist_core.runs.live.LiveCurves`), rebuilds a figure only
when its data changed, and otherwise hands back the figure it already has; tabs refreshing within the same half
second share a single read. Each curve sends at most ~1,000 points (charts.decimate), and the figures keep the
student's zoom across refreshes (plotly uirevision).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from app import charts, resources
from app.errors import error_text
from app.i18n import _
from mnist_core.events import EpochMetrics, LossPoints
from mnist_core.runs.live import LiveCurves
from mnist_core.runs.record import RunRecord
from mnist_core.runs.store import RunNotFound, RunStore
from mnist_core.training import MAX_LOSS_POINTS

SHARED_READ_S = 0.5  # tabs refreshing within this long of each other share one read of the store
MAX_WATCHED = 32  # runs kept in memory; more than a class watches at once


def expected_points(record: RunRecord) -> int:
    """How many loss points the whole run will store (long runs store block means, see training.MAX_LOSS_POINTS)."""
    total = int((record.progress or {}).get("total_iterations") or record.config.total_iterations)
    block = max(1, math.ceil(total / MAX_LOSS_POINTS))
    return math.ceil(total / block)


class LiveChart:
    """A run's curves as read so far and the figures drawn from them."""

    def __init__(self, record: RunRecord) -> None:
        self.run_id = record.id
        self.curves = LiveCurves(record.id, expected_points(record))
        self.lock = threading.Lock()
        self.read_at = 0.0
        self._loss: tuple[int, go.Figure] | None = None  # (loss_version it shows, figure)
        self._epochs: tuple[int, go.Figure, go.Figure] | None = None

    def refresh(self, store: RunStore) -> None:
        """Read what is new, unless another tab did so a moment ago. RunNotFound when the run was deleted."""
        with self.lock:
            if time.monotonic() - self.read_at >= SHARED_READ_S:
                self.curves.refresh(store)
                self.read_at = time.monotonic()

    def loss_figure(self) -> go.Figure | None:
        with self.lock:
            c = self.curves
            if len(c.iterations) < 2:  # one point draws no line: the page says what is coming instead
                return None
            if self._loss is None or self._loss[0] != c.loss_version:
                figure = charts.loss_figure(c.iterations, c.losses, self.run_id, window=c.window, smoothed=c.smoothed)
                self._loss = (c.loss_version, figure)
            return self._loss[1]

    def epoch_figures(self) -> tuple[go.Figure, go.Figure] | None:
        with self.lock:
            epochs = self.curves.epochs
            if not epochs:
                return None
            if self._epochs is None or self._epochs[0] != self.curves.epoch_version:
                numbers = [m.epoch for m in epochs]
                accuracy = charts.epoch_figure(numbers, [m.train_accuracy for m in epochs],
                                               [m.val_accuracy for m in epochs], "accuracy", self.run_id)
                loss = charts.epoch_figure(numbers, [m.train_loss for m in epochs],
                                           [m.val_loss for m in epochs], "loss", self.run_id)
                self._epochs = (self.curves.epoch_version, accuracy, loss)
            return self._epochs[1], self._epochs[2]

    @property
    def has_validation(self) -> bool:
        return any(m.val_accuracy is not None for m in self.curves.epochs)


_charts: OrderedDict[tuple[Path, int, float], LiveChart] = OrderedDict()
_registry_lock = threading.Lock()


def live_chart(store: RunStore, record: RunRecord) -> LiveChart:
    """The process-wide LiveChart of a run (the least recently watched ones are forgotten)."""
    key = (store.db_path, record.id, record.created)  # created: SQLite may give a deleted run's id to a new run
    with _registry_lock:
        chart = _charts.get(key)
        if chart is None:
            chart = _charts[key] = LiveChart(record)
        _charts.move_to_end(key)
        while len(_charts) > MAX_WATCHED:
            _charts.popitem(last=False)
        return chart


def curves_so_far(store: RunStore, record: RunRecord) -> tuple[LossPoints, list[EpochMetrics]]:
    """A run's loss points and epochs; while it trains, read incrementally through its shared LiveChart (a race
    watched on Compare reads only what is new, like the Train page). RunNotFound when it was deleted."""
    if not record.is_active:
        return store.losses(record.id), store.epochs(record.id)
    chart = live_chart(store, record)
    chart.refresh(store)
    with chart.lock:
        c = chart.curves
        return LossPoints(list(c.iterations), list(c.losses)), list(c.epochs)


def show(record: RunRecord) -> None:
    """The live charts of a queued or running run: loss per iteration, accuracy and loss per epoch."""
    store = resources.store()
    chart = live_chart(store, record)
    try:
        chart.refresh(store)
    except RunNotFound as exc:  # deleted by another session while this one shows it
        st.info(error_text(exc))
        return
    loss = chart.loss_figure()
    if loss is None:
        st.caption(_("The first losses appear here within a few seconds of the training starting."))
        return
    st.plotly_chart(loss, key=f"loss_{record.id}")
    figures = chart.epoch_figures()
    if figures is None:
        st.caption(_("Accuracy per epoch appears when the first epoch ends."))
        return
    left, right = st.columns(2)
    left.plotly_chart(figures[0], key=f"epoch_acc_{record.id}")
    right.plotly_chart(figures[1], key=f"epoch_loss_{record.id}")
    if not chart.has_validation:
        st.caption(_("No validation curve: this run used all training images (validation size 0)."))
