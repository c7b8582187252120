"""Plotly figures for the app: live training curves, test-set diagnostics, probabilities and run comparisons.

No Streamlit here, so every figure can be built (and tested) from plain data. One colour per run everywhere
(`run_color`): a student who saw run #3 in orange on the Train page finds it orange on the Compare page too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import get_colorscale

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
BLUES = get_colorscale("Blues")  # plotly.py's Blues, as a list: plotly.js's own "Blues" is another scale
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


def _white_template() -> dict:
    """plotly_white's layout and its defaults for the trace types the app draws (the other 40-odd types' defaults
    would add 5 KB to every chart sent)."""
    white = pio.templates["plotly_white"].to_plotly_json()
    return {"layout": white["layout"], "data": {kind: white["data"][kind] for kind in TRACE_TYPES}}


TRACE_TYPES = ("scatter", "bar", "heatmap", "contour", "histogram")
_TEMPLATE = _white_template()


def figure(traces: Sequence[dict], layout: dict) -> go.Figure:
    """A figure from plain dicts, with the app's template. Not validated as it is built: plotly's property checks
    took 14-22 ms of every chart (a class's server reran ~9 pages a second, each with up to five charts), and the
    same JSON costs 1 ms this way. tests/unit/test_charts.py puts every chart through plotly's validation instead."""
    return go.Figure({"data": list(traces), "layout": {"template": _TEMPLATE, **layout}}, _validate=False)


def layout(title: str, x_title: str, y_title: str, height: int = CHART_HEIGHT, live: bool = False,
           xaxis: dict | None = None, yaxis: dict | None = None, **more) -> dict:
    """Title, axes and legend every chart shares; `live`: a chart the live view redraws (fixed margins). `xaxis`,
    `yaxis`: more settings of an axis; `more`: more of the layout (or another value for a shared setting)."""
    return {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        "height": height,
        "margin": LIVE_MARGIN if live else {"l": 10, "r": 10, "t": 60, "b": 10},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
        "hovermode": "x unified",
        "xaxis": {"title": {"text": x_title}, "automargin": not live, **(xaxis or {})},
        "yaxis": {"title": {"text": y_title}, "automargin": not live, **(yaxis or {})},
        **more,
    }


def style_subplots(fig: go.Figure, title: str, x_title: str, y_title: str, height: int, **more) -> go.Figure:
    """`layout`'s title, axes and legend on a make_subplots grid (a lesson's, built when its page opens), every
    subplot's axes titled alike."""
    shared = layout(title, x_title, y_title, height, **more)
    x_axis, y_axis = shared.pop("xaxis"), shared.pop("yaxis")
    fig.update_layout(template=_TEMPLATE, **shared)
    fig.update_xaxes(**x_axis)
    fig.update_yaxes(**y_axis)
    return fig


def _metric_axis(metric: str) -> str:
    return ACCURACY_AXIS if metric == "accuracy" else LOSS_AXIS


def smooth(values: Sequence[float], window: int) -> list[float]:
    """Trailing exponential moving average (debiased, as TensorBoard does), skipping NaN/inf so one
    diverged iteration does not blank the rest of the curve; a non-finite value is drawn as a gap."""
    return ExponentialAverage(window).extend(values)


def decimate(x: Sequence[float], y: Sequence[float], max_points: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    """At most about `max_points` points of a noisy curve: the lowest and the highest point of each of
    max_points / 2 buckets, in order, so a spike (a diverging step) stays visible however long the run. Non-finite
    values are skipped; a bucket of nothing else keeps its first point (drawn as a gap). In numpy, bucket by bucket
    at once: a loop over the buckets was a sixth of a finished run's page on the server."""
    if len(x) <= max_points:
        return list(x), list(y)
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    buckets = max(1, max_points // 2)
    edges = np.linspace(0, len(xs), buckets + 1).astype(int)
    starts, sizes = edges[:-1], np.diff(edges)
    finite = np.isfinite(ys)
    lows, highs = np.where(finite, ys, np.inf), np.where(finite, ys, -np.inf)
    bucket = np.repeat(np.arange(buckets), sizes)
    index = np.arange(len(ys))

    def first_index_of(values: np.ndarray, chosen: np.ndarray) -> np.ndarray:  # argmin/argmax's first one
        return np.minimum.reduceat(np.where(values == chosen[bucket], index, len(ys)), starts)

    low = first_index_of(lows, np.minimum.reduceat(lows, starts))
    high = first_index_of(highs, np.maximum.reduceat(highs, starts))
    some = np.logical_or.reduceat(finite, starts)
    first = np.where(some, np.minimum(low, high), starts)
    second = np.maximum(low, high)
    pairs = np.stack([first, second], axis=1)
    keep = pairs[np.stack([np.ones(buckets, bool), some & (second != first)], axis=1)]
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
                smoothed: Sequence[float] | None = None, earlier: EarlierRun | None = None) -> go.Figure:
    """Raw per-iteration loss (faint; each bucket's lowest and highest point when there are many) and its
    smoothed trend from all points (solid), in the run's colour. `smoothed`: that trend already computed (a live
    view extends it as points arrive) with `window`. `earlier`: the run this one continues, its smoothed loss in
    grey behind this run's curves, so the new curve visibly picks up where the earlier one ended. The user's zoom
    survives refreshes (uirevision)."""
    color = run_color(run_id)
    window = smoothing_window(len(losses)) if window is None else window
    x, raw = decimate(iterations, losses)
    x_trend, trend = thin(iterations, smooth(losses, window) if smoothed is None else smoothed)
    traces = [
        {"type": "scatter", "x": x, "y": finite_or_none(raw), "mode": "lines", "name": _("raw"),
         "line": {"color": color, "width": 1}, "opacity": 0.35},
        {"type": "scatter", "x": x_trend, "y": finite_or_none(trend), "mode": "lines",
         "name": _("smoothed ({window} it.)", window=window) if window > 1 else _("smoothed"),
         "line": {"color": color, "width": 2.5}},
    ]
    if earlier is not None:  # drawn first, so under this run's lines; listed first, as it came first
        x, trend = thin(earlier.iterations, smooth(earlier.losses, smoothing_window(len(earlier.losses))))
        traces.insert(0, {"type": "scatter", "x": x, "y": finite_or_none(trend), "mode": "lines",
                          "name": plot_text(earlier.name), "line": {"color": MUTED, "width": 2}})
    return figure(traces, layout(_("Training loss per iteration") if title is None else title,
                                 _("iteration (mini-batch updates)"), _(LOSS_AXIS), live=True,
                                 uirevision=f"loss-{run_id}"))


@dataclass(frozen=True)
class EarlierRun:
    """The run a continued run started from, drawn behind its loss curve."""

    iterations: Sequence[int]
    losses: Sequence[float]
    name: str  # plain text (it holds the run's name): the figure escapes it


def epoch_figure(epochs: Sequence[int], train: Sequence[float], validation: Sequence[float | None],
                 metric: str, run_id: int | None) -> go.Figure:
    """Train (solid) vs validation (dashed) per epoch: a growing gap between them is overfitting."""
    if metric not in ("accuracy", "loss"):
        raise ValueError(f"metric must be 'accuracy' or 'loss', not {metric!r}")
    scale = 100.0 if metric == "accuracy" else 1.0
    color = run_color(run_id)
    traces = [{"type": "scatter", "x": list(epochs), "y": finite_or_none([v * scale for v in train]),
               "mode": "lines+markers", "name": _("train"), "line": {"color": color, "width": 2.5}}]
    if any(v is not None for v in validation):
        traces.append({"type": "scatter", "x": list(epochs),
                       "y": finite_or_none([None if v is None else v * scale for v in validation]),
                       "mode": "lines+markers", "name": _("validation"),
                       "line": {"color": color, "width": 2.5, "dash": "dash"}, "marker": {"symbol": "diamond"}})
    title = _("Accuracy per epoch") if metric == "accuracy" else _("Loss per epoch")
    return figure(traces, layout(title, _("epoch"), _(_metric_axis(metric)), live=True,
                                 xaxis=_one_tick_per_epoch(len(epochs)),
                                 uirevision=f"{metric}-{run_id}"))  # a refresh with a new epoch keeps the zoom


def _one_tick_per_epoch(epochs: int) -> dict:
    return {"dtick": 1} if epochs <= 20 else {}


def confusion_counts(labels: np.ndarray, predictions: np.ndarray, classes: int = 10) -> np.ndarray:
    """counts[true, predicted]."""
    labels, predictions = np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    return np.bincount(labels * classes + predictions, minlength=classes * classes).reshape(classes, classes)


def confusion_figure(labels: np.ndarray, predictions: np.ndarray, class_names: Sequence[str],
                     title: str | None = None) -> go.Figure:
    """Test-set confusion matrix; the diagonal is right, everything else shows which classes get mixed up."""
    counts = confusion_counts(labels, predictions, len(class_names))
    names = list(class_names)
    shown = [class_name(n) for n in names]  # the axes show the names in the student's language; clicks report `names`
    heatmap = {"type": "heatmap", "z": counts.tolist(), "x": names, "y": names, "colorscale": BLUES,
               "text": counts.tolist(), "texttemplate": "%{text}", "colorbar": {"title": {"text": _("images")}},
               "hoverinfo": "skip"}
    # Heatmaps cannot be selected in plotly: an invisible square marker on each cell takes the click instead
    # (st.plotly_chart(on_select=...) reports its x = predicted, y = true).
    cells = [(true, predicted) for true in range(len(names)) for predicted in range(len(names))]
    targets = {"type": "scatter", "x": [names[p] for _, p in cells], "y": [names[t] for t, _ in cells],
               "mode": "markers", "marker": {"symbol": "square", "size": 28, "color": "rgba(0, 0, 0, 0)"},
               "customdata": [[int(counts[t, p]), shown[t], shown[p]] for t, p in cells], "showlegend": False,
               "name": CELL_TARGETS,
               "hovertemplate": _("true {true}, predicted {predicted}: {count} images", true="%{customdata[1]}",
                                  predicted="%{customdata[2]}", count="%{customdata[0]}") + "<extra></extra>",
               "selected": {"marker": {"opacity": 1}}, "unselected": {"marker": {"opacity": 1}}}
    axis = {"type": "category", "tickvals": names, "ticktext": shown}
    return figure([heatmap, targets], layout(
        _("Confusion matrix (test set, 10,000 images)") if title is None else title, _("predicted class"),
        _("true class"), height=430, xaxis=axis, yaxis={"autorange": "reversed", **axis}, hovermode="closest",
        clickmode="event+select"))


def per_class_accuracy(labels: np.ndarray, predictions: np.ndarray, classes: int = 10) -> list[float]:
    counts = confusion_counts(labels, predictions, classes)
    totals = counts.sum(axis=1)
    return [float(counts[i, i] / totals[i]) if totals[i] else float("nan") for i in range(classes)]


def per_class_figure(labels: np.ndarray, predictions: np.ndarray, class_names: Sequence[str],
                     run_id: int | None) -> go.Figure:
    accuracy = [a * 100 for a in per_class_accuracy(labels, predictions, len(class_names))]
    bars = {"type": "bar", "x": [class_name(n) for n in class_names], "y": finite_or_none(accuracy),
            "marker": {"color": run_color(run_id)}, "text": [f"{a:.1f}" for a in accuracy], "textposition": "outside",
            "hovertemplate": "%{x}: %{y:.2f}%<extra></extra>", "cliponaxis": False}
    # From 0 to 100: an axis starting near the worst class made a 2-point difference look like a 5-fold one. The
    # labels on the bars (drawn above them, outside the plot area) give the exact values.
    return figure([bars], layout(_("Accuracy per class (test set)"), _("true class"), _(ACCURACY_AXIS), height=430,
                                 xaxis={"type": "category"},
                                 yaxis={"range": [0, 100], "tickvals": list(range(0, 101, 20))},
                                 hovermode="closest"))


def probability_figure(probabilities: Sequence[float], class_names: Sequence[str], title: str | None = None,
                       height: int = CHART_HEIGHT) -> go.Figure:
    """The 10 softmax outputs as bars; the most likely class in colour, the rest grey."""
    class_names = [class_name(n) for n in class_names]
    best = int(np.argmax(probabilities))
    percent = [float(p) * 100 for p in probabilities]
    bars = {"type": "bar", "x": class_names, "y": percent,
            "marker": {"color": [HIGHLIGHT if i == best else MUTED for i in range(len(percent))]},
            "text": [f"{p:.0f}%" if p >= 1 else "" for p in percent], "textposition": "outside", "cliponaxis": False,
            "hovertemplate": "%{x}: %{y:.2f}%<extra></extra>"}
    return figure([bars], layout(_("Softmax probabilities") if title is None else title, _("class"),
                                 _("probability (%)"), height=height,
                                 xaxis={"type": "category",
                                        "tickangle": -30 if max(len(n) for n in class_names) > 3 else 0},
                                 yaxis={"range": [0, 110]}, hovermode="closest", showlegend=False))


@dataclass(frozen=True)
class RunSeries:
    """One run's curve on a comparison chart."""

    run_id: int
    name: str  # plain text, as the student typed it: the figure escapes it
    x: list[float]
    y: list[float]


def _legend_below(entries: int) -> dict:
    """Many runs' names do not fit beside the title: list them under the chart instead."""
    rows = max(1, math.ceil(entries / 2))
    return {"height": COMPARE_HEIGHT + 22 * rows, "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
            "legend": {"orientation": "h", "yanchor": "top", "y": -0.18, "xanchor": "left", "x": 0}}


def compare_loss_figure(series: Sequence[RunSeries], x_title: str, window: int | None = None,
                        title: str | None = None) -> go.Figure:
    """Each run's smoothed loss, overlaid, in its own colour; raw points would make several runs unreadable."""
    traces = []
    for s in series:
        w = smoothing_window(len(s.y)) if window is None else window
        x, y = thin(s.x, smooth(s.y, w))
        traces.append({"type": "scatter", "x": x, "y": finite_or_none(y), "mode": "lines", "name": plot_text(s.name),
                       "line": {"color": run_color(s.run_id), "width": 2.5}})
    wide = spans_decades([v for s in series for v in s.y], WIDE_RANGE)
    return figure(traces, layout(_("Training loss (smoothed)") if title is None else title, x_title,
                                 _("loss (log scale)") if wide else _(LOSS_AXIS),
                                 yaxis={"type": "log"} if wide else None,
                                 uirevision=f"compare-loss-{x_title}",  # a live race's refresh keeps the zoom
                                 **_legend_below(len(series))))


def spans_decades(values: Sequence[float], ratio: float) -> bool:
    """Whether the finite positive values span more than `ratio` (largest / smallest)."""
    finite = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    return bool(finite) and max(finite) / min(finite) > ratio


def compare_epoch_figure(series: Sequence[RunSeries], metric: str, title: str | None = None) -> go.Figure:
    """Validation accuracy (or loss) per epoch of several runs, overlaid."""
    scale = 100.0 if metric == "accuracy" else 1.0
    traces = [{"type": "scatter", "x": list(s.x), "y": finite_or_none([v * scale for v in s.y]),
               "mode": "lines+markers", "name": plot_text(s.name), "line": {"color": run_color(s.run_id), "width": 2.5}}
              for s in series]
    default_title = _("Validation accuracy per epoch") if metric == "accuracy" else _("Validation loss per epoch")
    return figure(traces, layout(title or default_title, _("epoch"), _(_metric_axis(metric)),
                                 xaxis=_one_tick_per_epoch(max((len(s.x) for s in series), default=0)),
                                 uirevision=f"compare-{metric}", **_legend_below(len(series))))
