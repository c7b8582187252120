"""Lesson 5: one neuron (the course's "will A go to the party?": inputs times weights, plus a bias), activation
functions as thresholds (a pass mark of 60) and their derivatives, and why stacked Linear layers without an
activation are one Linear layer."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch
from torch import nn

ACTIVATIONS = ("step", "sigmoid", "tanh", "relu", "leaky_relu", "gelu")


@dataclass(frozen=True)
class NeuronResult:
    weighted_sum: float  # sum(w * x)
    total: float  # sum(w * x) + b
    fires: bool  # the step activation: total >= 0


def neuron(inputs: list[float], weights: list[float], bias: float) -> NeuronResult:
    """sum(w*x) + b through a step at 0: the bias is the part of the decision that does not depend on any input."""
    if len(inputs) != len(weights):
        raise ValueError(f"{len(inputs)} inputs but {len(weights)} weights")
    weighted = float(np.dot(inputs, weights))
    return NeuronResult(weighted, weighted + bias, weighted + bias >= 0)


def passes(scores: list[float], pass_mark: float = 60.0) -> tuple[float, bool]:
    """The course's certificate: the average of the scores against the pass mark. As a neuron: weights 1/n each,
    bias = -pass_mark, a step at 0. Returns (neuron's total, passed)."""
    result = neuron(scores, [1.0 / len(scores)] * len(scores), -pass_mark)
    return result.total, result.fires


def activation(name: str, z: torch.Tensor) -> torch.Tensor:
    functions = {
        "step": lambda t: (t >= 0).to(t.dtype),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda t: nn.functional.leaky_relu(t, 0.1),  # slope 0.1 so the leak shows on a plot
        "gelu": nn.functional.gelu,
    }
    if name not in functions:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return functions[name](z)


def activation_curve(name: str, low: float = -4.0, high: float = 4.0, points: int = 401) -> tuple[np.ndarray, ...]:
    """z, f(z) and f'(z), the derivative from autograd (the step's is 0 everywhere it exists)."""
    z = torch.linspace(low, high, points, dtype=torch.float64, requires_grad=True)
    y = activation(name, z)
    if y.requires_grad:
        (derivative,) = torch.autograd.grad(y.sum(), z)
    else:
        derivative = torch.zeros_like(z)
    return z.detach().numpy(), y.detach().numpy(), derivative.numpy()


@dataclass(frozen=True)
class Collapse:
    """Stacked Linear layers and the one Linear map they equal: W = W_k ... W_1, b folded through."""

    layer_shapes: list[tuple[int, int]]
    weight: np.ndarray  # [out, in]
    bias: np.ndarray  # [out]
    stacked: np.ndarray  # outputs of the stack on the inputs
    collapsed: np.ndarray  # outputs of the one map on the same inputs
    with_relu: np.ndarray  # the same stack with ReLU between the layers: no longer one linear map


def collapse_linear(sizes: list[int], samples: int = 5, seed: int = 0) -> Collapse:
    """Random Linear layers of the given sizes (e.g. [3, 4, 4, 2]) on random inputs, and their product."""
    generator = torch.Generator().manual_seed(seed)
    layers = [nn.Linear(a, b).double() for a, b in pairwise(sizes)]
    with torch.no_grad():
        for layer in layers:
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator, dtype=torch.float64))
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator, dtype=torch.float64))
        x = torch.randn(samples, sizes[0], generator=generator, dtype=torch.float64)
        weight, bias = torch.eye(sizes[0], dtype=torch.float64), torch.zeros(sizes[0], dtype=torch.float64)
        for layer in layers:  # y = W2(W1 x + b1) + b2 = (W2 W1) x + (W2 b1 + b2)
            weight, bias = layer.weight @ weight, layer.weight @ bias + layer.bias
        stacked = nn.Sequential(*layers)(x)
        relu_stack = [m for layer in layers for m in (layer, nn.ReLU())][:-1]
        with_relu = nn.Sequential(*relu_stack)(x)
        collapsed = x @ weight.T + bias
    return Collapse(list(pairwise(sizes)), weight.numpy(), bias.numpy(),
                    stacked.numpy(), collapsed.numpy(), with_relu.numpy())
