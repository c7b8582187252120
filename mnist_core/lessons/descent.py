"""Lesson 2: gradient descent (all the data per step), SGD (one sample per step) and mini-batch SGD on the loss
surface of a small linear regression y = w*x + b, where the surface is a bowl over (w, b) that can be drawn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRUE_W, TRUE_B = 2.0, 1.0  # the line the points are generated around
POINTS = 100
START = (-2.0, 4.0)  # every path starts here, so only the way of stepping differs


@dataclass(frozen=True)
class Points:
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Path:
    """Where (w, b) went, one row per weight update, starting at START; `samples` = gradients of single samples
    computed to get there (the work), `loss` = the full-data loss at each point."""

    batch_size: int
    wb: np.ndarray  # [updates + 1, 2]
    loss: np.ndarray  # [updates + 1]
    samples: np.ndarray  # [updates + 1]


def make_points(seed: int = 0, count: int = POINTS) -> Points:
    """Generated data: x in [-1, 1], y = 2x + 1 + noise (sd 0.5)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, count)
    return Points(x, TRUE_W * x + TRUE_B + rng.normal(0.0, 0.5, count))


def mse(points: Points, w: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Mean squared error of the line (w, b) on all points; w and b may be grids of the same shape."""
    w, b = np.asarray(w, float), np.asarray(b, float)
    residual = w[..., None] * points.x + b[..., None] - points.y
    return (residual**2).mean(axis=-1)


def gradient(x: np.ndarray, y: np.ndarray, w: float, b: float) -> tuple[float, float]:
    """d(mean squared error)/d(w, b) on the given samples."""
    residual = w * x + b - y
    return float(2 * (residual * x).mean()), float(2 * residual.mean())


def descend(points: Points, batch_size: int, lr: float, epochs: int, seed: int = 0) -> Path:
    """Mini-batch SGD over shuffled epochs: batch 1 = SGD, batch = all points = gradient descent (GD)."""
    if not 1 <= batch_size <= len(points.x):
        raise ValueError(f"batch_size must be 1 to {len(points.x)}, got {batch_size}")
    rng = np.random.default_rng(seed)
    w, b = START
    wb, samples = [(w, b)], [0]
    for _ in range(epochs):
        order = rng.permutation(len(points.x))
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            gw, gb = gradient(points.x[chosen], points.y[chosen], w, b)
            w, b = w - lr * gw, b - lr * gb
            wb.append((w, b))
            samples.append(samples[-1] + len(chosen))
    path = np.array(wb)
    return Path(batch_size, path, mse(points, path[:, 0], path[:, 1]), np.array(samples))


def loss_grid(points: Points, size: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """w values, b values and the loss at every (b, w) pair, for a contour plot around the minimum and START."""
    ws = np.linspace(-3.0, 5.0, size)
    bs = np.linspace(-2.0, 5.0, size)
    grid_w, grid_b = np.meshgrid(ws, bs)
    return ws, bs, mse(points, grid_w, grid_b)


def least_squares(points: Points) -> tuple[float, float]:
    """The exact minimum of the bowl, where every path is heading."""
    w, b = np.polyfit(points.x, points.y, 1)
    return float(w), float(b)
