"""Plotly figures for the app: live training curves, test-set diagnostics, probabilities and run comparisons.

No Streamlit here, so every figure can be built (and tested) from plain data. One colour per run everywhere
(`run_color`): a student who saw run #3 in orange on the Train page finds it orange on the Compare page too.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from app.i18n import N_, _
from app.run.texts import class_name
from app.user_text import plot_text
from mnist_core.runs.live import ExponentialAverage, smoothing_window

# Tableau 10: distinct on a white background and for the common colour-vision deficiencies.
PALETTE = (
    "#4E79A7", "#F28E2B", "#59A14F", "#E15759", "#76B7B2",
    "#EDC948", "#B07AA1", "#FF9DA7", "#9C755F", "#3B3B3B",
)
HIGHLIGHT = "#E15759"  # the predicted class among grey bars
MUTED = "#BAB0AC"
LOSS_AXIS = N_("cross-entropy loss (nats)")
CELL_TARGETS = "cells"  # the confusion matrix's clickable layer
ACCURACY_AXIS = N_("accuracy (%)")
CHART_HEIGHT = 340
# Points drawn per curve. A 15-epoch run has 8,250 iterations; sending all of them at every refresh while it trains
# costs the server and the browser far more than the extra detail is worth on a laptop screen.
MAX_POINTS = 1000
COMPARE_HEIGHT = 380
WIDE_RANGE = 1e4  # a loss range this wide (a diverged run beside sound ones) is drawn on a log scale
# Margins of the charts a live view redraws: fixed, because with automargin plotly measures the tick labels and lays
# the chart out again on every redraw (doAutoMargin: 177 of plotly's 551 ms in a 6 s Chrome profile of a watching
# tab). 70 px hold the axis title and tick labels up to five characters ("0.025", "100", "12k").
LIVE_MARGIN = {"l": 70, "r": 10, "t": 60, "b": 50}


def run_color(run_id: int | None) -> str:
    """The colour of a run on every page; the built-in model (no run id) is always the first colour."""
    return PALETTE[(run_id or 0) % len(PALETTE)]


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, height: int = CHART_HEIGHT,
            live: bool = False) -> go.Figure:
    """Title, axes and legend every chart shares; `live`: a chart the live view redraws (fixed margins)."""
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        template="plotly_white",
        height=height,
        margin=LIVE_MARGIN if live else {"l": 10, "r": 10, "t": 60, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
        hovermode="x unified",
    )
    fig.update_xaxes(title_text=x_title, automargin=not live)
    fig.update_yaxes(title_text=y_title, automargin=not live)
    return fig


def _metric_axis(metric: str) -> str:
    return ACCURACY_AXIS if metric == "accuracy" else LOSS_AXIS


def smooth(values: Sequence[float], window: int) -> list[float]:
    """Trailing exponential moving average (debiased, as TensorBoard does), skipping NaN/inf so one
    diverged iteration does not blank the rest of the curve; a non-finite value is drawn as a gap."""
    return ExponentialAverage(window).extend(values)


def decimate(x: Sequence[float], y: Sequence[float], max_points: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    """At most about `max_points` points of a noisy curve: the lowest and the highest point of each of
    max_points / 2 buckets, in order, so a spike (a diverging step) stays visible however long the run."""
    if len(x) <= max_points:
        return list(x), list(y)
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    buckets = max(1, max_points // 2)
    edges = np.linspace(0, len(xs), buckets + 1).astype(int)
    keep = []
    for start, end in itertools.pairwise(edges):
        part = ys[start:end]
        finite = np.isfinite(part)
        if not finite.any():
            keep.append(start)  # a bucket of NaN only: one NaN point, drawn as a gap
            continue
        low = start + int(np.argmin(np.where(finite, part, np.inf)))
        high = start + int(np.argmax(np.where(finite, part, -np.inf)))
        keep += sorted({low, high})
    return xs[keep].tolist(), ys[keep].tolist()


def thin(x: Sequence[float], y: Sequence[float], max_points: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    """Every k-th point (and always the last) so at most about `max_points` remain; smooth before thinning."""
    if len(x) <= max_points:
        return list(x), list(y)
    step = math.ceil(len(x) / max_points)
    keep = list(range(0, len(x), step))
    if keep[-1] != len(x) - 1:
        keep.append(len(x) - 1)
    return [x[i] for i in keep], [y[i] for i in keep]


def finite_or_none(values: Sequence[float | None]) -> list[float | None]:
    """Plain floats for a plotly trace, None where a value is missing or not finite. Plain, because plotly would
    send numpy arrays as binary blobs; None, because JSON has no NaN and plotly leaves a gap at None."""
    return [float(v) if v is not None and math.isfinite(v) else None for v in values]


def loss_figure(iterations: Sequence[int], losses: Sequence[float], run_id: int | None,
                window: int | None = None, title: str | None = None,
                smoothed: Sequence[float] | None = None) -> go.Figure:
    """Raw per-iteration loss (faint; each bucket's lowest and highest point when there are many) and its
    smoothed trend from all points (solid), in the run's colour. `smoothed`: that trend already computed (a live
    view extends it as points arrive) with `window`. The user's zoom survives refreshes (uirevision)."""
    color = run_color(run_id)
    window = smoothing_window(len(losses)) if window is None else window
    fig = go.Figure()
    x, raw = decimate(iterations, losses)
    fig.add_scatter(x=x, y=finite_or_none(raw), mode="lines", name=_("raw"), line={"color": color, "width": 1},
                    opacity=0.35)
    x, trend = thin(iterations, smooth(losses, window) if smoothed is None else smoothed)
    fig.add_scatter(x=x, y=finite_or_none(trend), mode="lines",
                    name=_("smoothed ({window} it.)", window=window) if window > 1 else _("smoothed"),
                    line={"color": color, "width": 2.5})
    fig.update_layout(uirevision=f"loss-{run_id}")
    return _layout(fig, _("Training loss per iteration") if title is None else title,
                   _("iteration (mini-batch updates)"), _(LOSS_AXIS), live=True)


def add_earlier_run(fig: go.Figure, iterations: Sequence[int], losses: Sequence[float], name: str) -> go.Figure:
    """The run this one continues, its smoothed loss in grey behind this run's curves: the new curve visibly picks up
    where the earlier one ended. `name`: plain text (it holds the run's name)."""
    x, trend = thin(iterations, smooth(losses, smoothing_window(len(losses))))
    fig.add_scatter(x=x, y=finite_or_none(trend), mode="lines", name=plot_text(name),
                    line={"color": MUTED, "width": 2})
    fig.data = (fig.data[-1], *fig.data[:-1])  # drawn first, so under this run's lines; listed first, as it came first
    return fig


def epoch_figure(epochs: Sequence[int], train: Sequence[float], validation: Sequence[float | None],
                 metric: str, run_id: int | None) -> go.Figure:
    """Train (solid) vs validation (dashed) per epoch: a growing gap between them is overfitting."""
    if metric not in ("accuracy", "loss"):
        raise ValueError(f"metric must be 'accuracy' or 'loss', not {metric!r}")
    scale = 100.0 if metric == "accuracy" else 1.0
    color = run_color(run_id)
    fig = go.Figure()
    fig.add_scatter(x=list(epochs), y=finite_or_none([v * scale for v in train]), mode="lines+markers",
                    name=_("train"), line={"color": color, "width": 2.5})
    if any(v is not None for v in validation):
        fig.add_scatter(x=list(epochs), y=finite_or_none([None if v is None else v * scale for v in validation]),
                        mode="lines+markers", name=_("validation"), line={"color": color, "width": 2.5, "dash": "dash"},
                        marker={"symbol": "diamond"})
    fig.update_xaxes(dtick=1 if len(epochs) <= 20 else None)
    title = _("Accuracy per epoch") if metric == "accuracy" else _("Loss per epoch")
    fig.update_layout(uirevision=f"{metric}-{run_id}")  # a refresh with a new epoch keeps the user's zoom
    return _layout(fig, title, _("epoch"), _(_metric_axis(metric)), live=True)


def confusion_counts(labels: np.ndarray, predictions: np.ndarray, classes: int = 10) -> np.ndarray:
    """counts[true, predicted]."""
    labels, predictions = np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    return np.bincount(labels * classes + predictions, minlength=classes * classes).reshape(classes, classes)


def confusion_figure(labels: np.ndarray, predictions: np.ndarray, class_names: Sequence[str]) -> go.Figure:
    """Test-set confusion matrix; the diagonal is right, everything else shows which classes get mixed up."""
    counts = confusion_counts(labels, predictions, len(class_names))
    names = list(class_names)
    shown = [class_name(n) for n in names]  # the axes show the names in the student's language; clicks report `names`
    fig = go.Figure(go.Heatmap(
        z=counts.tolist(), x=names, y=names, colorscale="Blues", text=counts.tolist(), texttemplate="%{text}",
        colorbar={"title": _("images")},
    ))
    # Heatmaps cannot be selected in plotly: an invisible square marker on each cell takes the click instead
    # (st.plotly_chart(on_select=...) reports its x = predicted, y = true).
    cells = [(true, predicted) for true in range(len(names)) for predicted in range(len(names))]
    fig.add_scatter(x=[names[p] for _, p in cells], y=[names[t] for t, _ in cells], mode="markers",
                    marker={"symbol": "square", "size": 28, "color": "rgba(0, 0, 0, 0)"},
                    customdata=[[int(counts[t, p]), shown[t], shown[p]] for t, p in cells], showlegend=False,
                    name=CELL_TARGETS,
                    hovertemplate=_("true {true}, predicted {predicted}: {count} images",
                                    true="%{customdata[1]}", predicted="%{customdata[2]}",
                                    count="%{customdata[0]}") + "<extra></extra>",
                    selected={"marker": {"opacity": 1}}, unselected={"marker": {"opacity": 1}})
    fig.data[0].hoverinfo = "skip"
    fig.update_yaxes(autorange="reversed", type="category", tickvals=names, ticktext=shown)
    fig.update_xaxes(type="category", tickvals=names, ticktext=shown)
    fig = _layout(fig, _("Confusion matrix (test set, 10,000 images)"), _("predicted class"), _("true class"),
                  height=430)
    fig.update_layout(hovermode="closest", clickmode="event+select")
    return fig


def per_class_accuracy(labels: np.ndarray, predictions: np.ndarray, classes: int = 10) -> list[float]:
    counts = confusion_counts(labels, predictions, classes)
    totals = counts.sum(axis=1)
    return [float(counts[i, i] / totals[i]) if totals[i] else float("nan") for i in range(classes)]


def per_class_figure(labels: np.ndarray, predictions: np.ndarray, class_names: Sequence[str],
                     run_id: int | None) -> go.Figure:
    accuracy = [a * 100 for a in per_class_accuracy(labels, predictions, len(class_names))]
    fig = go.Figure(go.Bar(x=[class_name(n) for n in class_names], y=finite_or_none(accuracy),
                           marker_color=run_color(run_id),
                           text=[f"{a:.1f}" for a in accuracy], textposition="outside",
                           hovertemplate="%{x}: %{y:.2f}%<extra></extra>"))
    # From 0 to 100: an axis starting near the worst class made a 2-point difference look like a 5-fold one. The
    # labels on the bars (drawn above them, outside the plot area) give the exact values.
    fig.update_traces(cliponaxis=False)
    fig.update_yaxes(range=[0, 100], tickvals=list(range(0, 101, 20)))
    fig.update_xaxes(type="category")
    fig = _layout(fig, _("Accuracy per class (test set)"), _("true class"), _(ACCURACY_AXIS), height=430)
    fig.update_layout(hovermode="closest")
    return fig


def probability_figure(probabilities: Sequence[float], class_names: Sequence[str], title: str | None = None,
                       height: int = CHART_HEIGHT) -> go.Figure:
    """The 10 softmax outputs as bars; the most likely class in colour, the rest grey."""
    class_names = [class_name(n) for n in class_names]
    best = int(np.argmax(probabilities))
    percent = [p * 100 for p in probabilities]
    fig = go.Figure(go.Bar(
        x=list(class_names), y=percent, marker_color=[HIGHLIGHT if i == best else MUTED for i in range(len(percent))],
        text=[f"{p:.0f}%" if p >= 1 else "" for p in percent], textposition="outside", cliponaxis=False,
        hovertemplate="%{x}: %{y:.2f}%<extra></extra>",
    ))
    fig.update_yaxes(range=[0, 110])
    fig.update_xaxes(type="category", tickangle=-30 if max(len(n) for n in class_names) > 3 else 0)
    fig = _layout(fig, _("Softmax probabilities") if title is None else title, _("class"), _("probability (%)"),
                  height=height)
    fig.update_layout(hovermode="closest", showlegend=False)
    return fig


@dataclass(frozen=True)
class RunSeries:
    """One run's curve on a comparison chart."""

    run_id: int
    name: str  # plain text, as the student typed it: the figure escapes it
    x: list[float]
    y: list[float]


def _legend_below(fig: go.Figure, entries: int) -> go.Figure:
    # Many runs' names do not fit beside the title: list them under the chart instead.
    rows = max(1, math.ceil(entries / 2))
    fig.update_layout(height=COMPARE_HEIGHT + 22 * rows, margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "yanchor": "top", "y": -0.18, "xanchor": "left", "x": 0})
    return fig


def compare_loss_figure(series: Sequence[RunSeries], x_title: str, window: int | None = None,
                        title: str | None = None) -> go.Figure:
    """Each run's smoothed loss, overlaid, in its own colour; raw points would make several runs unreadable."""
    fig = go.Figure()
    for s in series:
        w = smoothing_window(len(s.y)) if window is None else window
        x, y = thin(s.x, smooth(s.y, w))
        fig.add_scatter(x=x, y=finite_or_none(y), mode="lines", name=plot_text(s.name),
                        line={"color": run_color(s.run_id), "width": 2.5})
    fig.update_layout(uirevision=f"compare-loss-{x_title}")  # a live race's refresh keeps the user's zoom
    wide = spans_decades([v for s in series for v in s.y], WIDE_RANGE)
    fig = _layout(fig, _("Training loss (smoothed)") if title is None else title, x_title,
                  _("loss (log scale)") if wide else _(LOSS_AXIS))
    if wide:
        fig.update_yaxes(type="log")
    return _legend_below(fig, len(series))


def spans_decades(values: Sequence[float], ratio: float) -> bool:
    """Whether the finite positive values span more than `ratio` (largest / smallest)."""
    finite = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    return bool(finite) and max(finite) / min(finite) > ratio


def compare_epoch_figure(series: Sequence[RunSeries], metric: str, title: str | None = None) -> go.Figure:
    """Validation accuracy (or loss) per epoch of several runs, overlaid."""
    scale = 100.0 if metric == "accuracy" else 1.0
    fig = go.Figure()
    for s in series:
        fig.add_scatter(x=s.x, y=finite_or_none([v * scale for v in s.y]), mode="lines+markers",
                        name=plot_text(s.name), line={"color": run_color(s.run_id), "width": 2.5})
    fig.update_xaxes(dtick=1 if max((len(s.x) for s in series), default=0) <= 20 else None)
    default_title = _("Validation accuracy per epoch") if metric == "accuracy" else _("Validation loss per epoch")
    fig.update_layout(uirevision=f"compare-{metric}")
    fig = _layout(fig, title or default_title, _("epoch"), _(_metric_axis(metric)))
    return _legend_below(fig, len(series))
