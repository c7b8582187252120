"""Lesson 7: how the initial weights decide what reaches the deep layers (random-normal vs Xavier vs Kaiming),
and the dropout experiment on a small training subset where overfitting shows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mnist_core.config import TrainConfig

SCHEMES = ("normal", "xavier", "kaiming")
LAYERS, UNITS = 8, 256


@dataclass(frozen=True)
class LayerStats:
    layer: int  # 1-based hidden layer
    mean: float
    std: float
    values: np.ndarray  # a sample of the layer's activations, for the histogram


def init_weights(layer: nn.Linear, scheme: str, activation: str) -> None:
    """The course's random init N(0, 0.01^2), Xavier (Glorot) or Kaiming (He), biases zero."""
    if scheme == "normal":
        nn.init.normal_(layer.weight, std=0.01)
    elif scheme == "xavier":
        nn.init.xavier_normal_(layer.weight, gain=nn.init.calculate_gain(activation))
    elif scheme == "kaiming":
        nn.init.kaiming_normal_(layer.weight, nonlinearity=activation)
    else:
        raise ValueError(f"unknown initialisation {scheme!r}; choose one of {', '.join(SCHEMES)}")
    nn.init.zeros_(layer.bias)


@torch.no_grad()
def activation_stats(images: torch.Tensor, scheme: str, activation: str = "tanh", layers: int = LAYERS,
                     units: int = UNITS, seed: int = 0, sample: int = 2000) -> list[LayerStats]:
    """Push normalised images [n, 784] through `layers` Linear+activation layers initialised by `scheme` and
    describe each layer's outputs (no training: this is the network's first forward pass)."""
    if activation not in ("tanh", "relu"):
        raise ValueError(f"activation must be tanh or relu, got {activation!r}")
    torch.manual_seed(seed)
    act = torch.tanh if activation == "tanh" else torch.relu
    x, stats = images.reshape(len(images), -1).float(), []
    pick = torch.Generator().manual_seed(seed)
    for number in range(1, layers + 1):
        layer = nn.Linear(x.shape[1], units)
        init_weights(layer, scheme, activation)
        x = act(layer(x))
        flat = x.flatten()
        chosen = flat[torch.randperm(len(flat), generator=pick)[:sample]]
        stats.append(LayerStats(number, float(flat.mean()), float(flat.std()), chosen.numpy()))
    return stats


# Dropout against overfitting: 1,000 training images and many epochs, so the network can memorise them.
DROPOUT_BASE = TrainConfig(hidden=(256, 256), optimizer="adam", lr=1e-3, batch_size=50, epochs=20,
                           train_limit=1_000, val_size=5_000, seed=0)


def dropout_comparison(epochs: int, p: float = 0.5) -> dict[float, TrainConfig]:
    """The same network without and with dropout p: only the dropout differs."""
    return {rate: DROPOUT_BASE.replace(dropout=rate, epochs=epochs).validated() for rate in (0.0, p)}
