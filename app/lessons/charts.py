"""Plotly figures of the /learn lessons, built from the numbers mnist_core.lessons computes. Titles and axes go
through _(), so a chart speaks the page's language."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale
from plotly.subplots import make_subplots

from app.charts import BLUES, PALETTE, figure, finite_or_none, layout
from app.i18n import _

HEIGHT = 360
SQUARE = 420
RDBU = get_colorscale("RdBu")


def lines(title: str, x_title: str, y_title: str, series: dict[str, tuple[Sequence[float], Sequence[float]]],
          log_y: bool = False, markers: bool = False, height: int = HEIGHT) -> go.Figure:
    """One line per label (x, y); the general chart of curves (losses, accuracies, activation functions)."""
    traces = [{"type": "scatter", "x": finite_or_none(x), "y": finite_or_none(y), "name": label,
               "mode": "lines+markers" if markers else "lines",
               "line": {"color": PALETTE[number % len(PALETTE)], "width": 2}}
              for number, (label, (x, y)) in enumerate(series.items())]
    return figure(traces, layout(title, x_title, y_title, height, yaxis={"type": "log"} if log_y else None))


def bars(title: str, x_title: str, y_title: str, labels: Sequence[str], values: Sequence[float],
         highlight: int | None = None, text: Sequence[str] | None = None) -> go.Figure:
    colors = [PALETTE[3] if i == highlight else PALETTE[0] for i in range(len(values))]
    bar = {"type": "bar", "x": list(labels), "y": [float(v) for v in values], "marker": {"color": colors},
           "textposition": "outside", "cliponaxis": False, **({"text": list(text)} if text is not None else {})}
    return figure([bar], layout(title, x_title, y_title, xaxis={"type": "category"}, hovermode="closest"))


def grouped_bars(title: str, y_title: str, labels: Sequence[str],
                 groups: dict[str, Sequence[float | None]]) -> go.Figure:
    traces = [{"type": "bar", "x": list(labels), "y": list(values), "name": name,
               "marker": {"color": PALETTE[number]}} for number, (name, values) in enumerate(groups.items())]
    return figure(traces, layout(title, "", y_title, barmode="group", hovermode="closest"))


def batch_strip(sizes: Sequence[int], batch_size: int, shown: int = 40) -> go.Figure:
    """The batches of one epoch as bars; the short last batch in red. Long epochs: the first and last batches."""
    if len(sizes) > shown:
        numbers = list(range(1, shown // 2 + 1)) + list(range(len(sizes) - shown // 2 + 1, len(sizes) + 1))
    else:
        numbers = list(range(1, len(sizes) + 1))
    values = [int(sizes[n - 1]) for n in numbers]
    colors = [PALETTE[3] if v < batch_size else PALETTE[0] for v in values]
    bar = {"type": "bar", "x": [str(n) for n in numbers], "y": values, "marker": {"color": colors}}
    return figure([bar], layout(_("The batches of one epoch"), _("iteration (batch number)"),
                                _("samples in the batch"), 300, xaxis={"type": "category"}, hovermode="closest"))


def contour_paths(title: str, x: np.ndarray, y: np.ndarray, z: np.ndarray, paths: dict[str, np.ndarray],
                  x_title: str, y_title: str, target: tuple[float, float] | None = None,
                  log_levels: bool = False) -> go.Figure:
    """A loss surface as contour lines with one path (rows of (x, y)) per label drawn on it."""
    shown = np.log10(z - z.min() + 1e-3) if log_levels else z
    traces = [{"type": "contour", "x": x.tolist(), "y": y.tolist(), "z": shown.tolist(), "colorscale": BLUES,
               "reversescale": True, "showscale": False, "contours": {"coloring": "heatmap"}, "ncontours": 25,
               "hoverinfo": "skip"}]
    for number, (label, path) in enumerate(paths.items()):
        color = PALETTE[(number + 1) % len(PALETTE)]
        traces.append({"type": "scatter", "x": path[:, 0].tolist(), "y": path[:, 1].tolist(), "name": label,
                       "mode": "lines+markers", "line": {"color": color, "width": 2},
                       "marker": {"size": 4, "color": color}})
    if target is not None:
        traces.append({"type": "scatter", "x": [float(target[0])], "y": [float(target[1])], "name": _("minimum"),
                       "mode": "markers", "marker": {"symbol": "star", "size": 14, "color": "#F2C14E",
                                                     "line": {"color": "black", "width": 1}}})
    return figure(traces, layout(title, x_title, y_title, 480, hovermode="closest",
                                 xaxis={"range": [float(x.min()), float(x.max())]},
                                 yaxis={"range": [float(y.min()), float(y.max())]}))


def decision_map(title: str, axis: np.ndarray, values: np.ndarray, inputs: np.ndarray,
                 targets: np.ndarray) -> go.Figure:
    """The model's output over the input plane (red ~ 1, blue ~ 0) with the truth table's four points."""
    heatmap = {"type": "heatmap", "x": axis.tolist(), "y": axis.tolist(), "z": values.tolist(), "zmin": 0, "zmax": 1,
               "colorscale": RDBU, "reversescale": True, "colorbar": {"title": {"text": _("output")}}}
    points = {"type": "scatter", "x": inputs[:, 0].tolist(), "y": inputs[:, 1].tolist(), "mode": "markers+text",
              "showlegend": False, "text": [str(int(t)) for t in targets], "textposition": "top center",
              "textfont": {"size": 16, "color": "black"},
              "marker": {"size": 16, "color": ["white" if t == 0 else "black" for t in targets],
                         "line": {"color": "black", "width": 2}}}
    return figure([heatmap, points], layout(title, "x1", "x2", SQUARE, hovermode="closest"))


def layer_histograms(title: str, layers: Sequence[tuple[str, np.ndarray]],
                     value_range: tuple[float, float]) -> go.Figure:
    """One histogram per layer, side by side, on the same value axis."""
    fig = make_subplots(rows=1, cols=len(layers), shared_yaxes=True, subplot_titles=[name for name, _v in layers])
    for number, (_name, values) in enumerate(layers, 1):
        fig.add_trace(go.Histogram(x=values, nbinsx=30, marker_color=PALETTE[0], showlegend=False,
                                   xbins={"start": value_range[0], "end": value_range[1],
                                          "size": (value_range[1] - value_range[0]) / 30}), row=1, col=number)
        fig.update_xaxes(range=list(value_range), row=1, col=number)
    fig.update_layout(title={"text": title, "x": 0, "font": {"size": 15}}, template="plotly_white", height=300,
                      margin={"l": 10, "r": 10, "t": 80, "b": 10}, bargap=0.05)
    return fig
