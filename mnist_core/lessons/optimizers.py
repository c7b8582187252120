"""Lesson 3: SGD, Momentum, Nesterov, Adagrad, RMSprop and Adam written out step by step (the update rules as
torch.optim documents them), run on classic 2-D surfaces so their paths can be drawn and compared."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mnist_core.config import TrainConfig

Vector = np.ndarray
# The update rules this lesson writes out (not mnist_core.config.OPTIMIZERS, the optimizers a run can train with).
UPDATE_RULES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


@dataclass(frozen=True)
class Surface:
    name: str
    loss: Callable[[np.ndarray, np.ndarray], np.ndarray]
    grad: Callable[[Vector], Vector]
    start: tuple[float, float]
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    default_lr: dict[str, float]  # each optimizer's own sensible step size on this surface


def _bowl(x, y):
    return 0.5 * x**2 + 10.0 * y**2  # ten times steeper across than along: the elongated bowl


def _rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _saddle(x, y):
    return x**2 - y**2 + 0.25 * y**4  # a saddle at 0 with two valleys at y = +-sqrt(2)


SURFACES: dict[str, Surface] = {
    "bowl": Surface("bowl", _bowl, lambda p: np.array([p[0], 20.0 * p[1]]), (-9.0, 1.5), (-10, 10), (-3, 3),
                    {"sgd": 0.09, "momentum": 0.02, "nesterov": 0.02, "adagrad": 1.5, "rmsprop": 0.1,
                     "adam": 0.5}),
    "rosenbrock": Surface("rosenbrock", _rosenbrock,
                          lambda p: np.array([-2 * (1 - p[0]) - 400 * p[0] * (p[1] - p[0] ** 2),
                                              200 * (p[1] - p[0] ** 2)]),
                          (-1.5, 2.0), (-2, 2), (-1, 3),
                          {"sgd": 0.001, "momentum": 0.0005, "nesterov": 0.0005, "adagrad": 0.5, "rmsprop": 0.01,
                           "adam": 0.1}),
    "saddle": Surface("saddle", _saddle, lambda p: np.array([2 * p[0], -2 * p[1] + p[1] ** 3]), (-2.0, 1e-3),
                      (-2.5, 2.5), (-2.5, 2.5),
                      {"sgd": 0.05, "momentum": 0.02, "nesterov": 0.02, "adagrad": 0.5, "rmsprop": 0.05,
                       "adam": 0.1}),
}


def step_rule(name: str, lr: float) -> Callable[[Vector, Vector, dict], Vector]:
    """One update of `name`: (params, gradient, state) -> new params; `state` keeps what the method remembers."""
    beta, beta2, eps = 0.9, 0.999, 1e-8

    def sgd(p, g, s):
        return p - lr * g

    def momentum(p, g, s, nesterov=False):
        s["v"] = beta * s["v"] + g if "v" in s else g.copy()
        return p - lr * (g + beta * s["v"] if nesterov else s["v"])

    def adagrad(p, g, s):
        s["sum"] = s.get("sum", 0.0) + g * g
        return p - lr * g / (np.sqrt(s["sum"]) + 1e-10)

    def rmsprop(p, g, s):
        s["sq"] = 0.99 * s.get("sq", 0.0) + 0.01 * g * g  # alpha 0.99 as torch.optim.RMSprop
        return p - lr * g / (np.sqrt(s["sq"]) + eps)

    def adam(p, g, s):
        t = s["t"] = s.get("t", 0) + 1
        s["m"] = beta * s.get("m", 0.0) + (1 - beta) * g
        s["v"] = beta2 * s.get("v", 0.0) + (1 - beta2) * g * g
        m_hat, v_hat = s["m"] / (1 - beta**t), s["v"] / (1 - beta2**t)
        return p - lr * m_hat / (np.sqrt(v_hat) + eps)

    rules = {"sgd": sgd, "momentum": momentum, "nesterov": lambda p, g, s: momentum(p, g, s, nesterov=True),
             "adagrad": adagrad, "rmsprop": rmsprop, "adam": adam}
    if name not in rules:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(UPDATE_RULES)}")
    return rules[name]


def optimize(surface: Surface, name: str, lr: float, steps: int,
             start: tuple[float, float] | None = None) -> np.ndarray:
    """The path [steps + 1, 2] of one optimizer from the surface's start; a diverging path stops where it left
    the finite numbers (the rest repeats its last finite point, so the slider never shows a jump to nowhere)."""
    rule, state = step_rule(name, lr), {}
    p = np.array(start or surface.start, dtype=float)
    path = [p.copy()]
    for _ in range(steps):
        new = rule(p, surface.grad(p), state)
        if not np.all(np.isfinite(new)) or np.abs(new).max() > 1e6:
            path += [p.copy()] * (steps + 1 - len(path))
            break
        p = new
        path.append(p.copy())
    return np.array(path)


def path_losses(surface: Surface, path: np.ndarray) -> np.ndarray:
    return surface.loss(path[:, 0], path[:, 1])


# The same experiment on real MNIST: one network trained with momentum at three learning rates, the largest on
# purpose too large, so the class sees a run diverge (its loss becomes NaN) and reads why, instead of a crash.
LEARNING_RATES_ON_MNIST = (0.01, 0.1, 1.0)
_LR_BASE = TrainConfig(hidden=(256, 256), optimizer="momentum", epochs=1, train_limit=6000, val_size=1000)


def learning_rate_comparison(rates: tuple[float, ...] = LEARNING_RATES_ON_MNIST,
                             epochs: int = 1) -> dict[float, TrainConfig]:
    """One quick MNIST run per learning rate, identical otherwise (same seed, network and data)."""
    return {lr: _LR_BASE.replace(lr=lr, epochs=epochs).validated() for lr in rates}
