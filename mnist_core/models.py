"""The networks: an MLP of 0-8 hidden layers (0 = softmax regression) and a LeNet-style CNN."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch
from torch import nn

from mnist_core.config import TrainConfig

ACTIVATION_LAYERS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}

# Building a model draws its initial weights from torch's global generator. Several trainings may start at
# once on different threads, so seeding and building happen under one lock: same seed -> same weights.
_BUILD_LOCK = threading.Lock()


class SeededDropout(nn.Dropout):
    """Dropout that draws its masks from its own generator (set by the trainer), not torch's global one,
    so concurrent trainings on different threads stay reproducible."""

    generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or self.generator is None:
            return super().forward(x)
        keep = torch.empty_like(x).bernoulli_(1 - self.p, generator=self.generator)
        return x * keep / (1 - self.p)


def _dense_stack(in_features: int, hidden: tuple[int, ...], config: TrainConfig) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for units in hidden:
        layers += [nn.Linear(in_features, units), ACTIVATION_LAYERS[config.activation]()]
        if config.dropout > 0:
            layers.append(SeededDropout(config.dropout))
        in_features = units
    layers.append(nn.Linear(in_features, 10))
    return layers


def _mlp(config: TrainConfig) -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), *_dense_stack(28 * 28, config.hidden, config))


def _cnn(config: TrainConfig) -> nn.Sequential:
    c1, c2 = config.conv_channels
    act = ACTIVATION_LAYERS[config.activation]
    return nn.Sequential(
        nn.Conv2d(1, c1, kernel_size=5, padding=2), act(), nn.MaxPool2d(2),  # 28x28 -> 14x14
        nn.Conv2d(c1, c2, kernel_size=5, padding=2), act(), nn.MaxPool2d(2),  # 14x14 -> 7x7
        nn.Flatten(),
        *_dense_stack(c2 * 7 * 7, config.hidden, config),
    )


def _initialise(model: nn.Module, scheme: str, activation: str) -> None:
    if scheme == "default":  # PyTorch's own (Kaiming-uniform with a=sqrt(5)), as nn.Linear leaves it
        return
    nonlinearity = {"relu": "relu", "leaky_relu": "leaky_relu", "tanh": "tanh"}.get(activation, "linear")
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            if scheme == "xavier":
                nn.init.xavier_uniform_(module.weight)
            elif scheme == "kaiming":
                nn.init.kaiming_normal_(module.weight, nonlinearity=nonlinearity)
            elif scheme == "normal":  # the "random init" of the course: N(0, 0.01^2)
                nn.init.normal_(module.weight, std=0.01)
            nn.init.zeros_(module.bias)


def build_model(config: TrainConfig) -> nn.Sequential:
    """The network for a config, its initial weights fixed by config.seed."""
    with _BUILD_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = _cnn(config) if config.model == "cnn" else _mlp(config)
        _initialise(model, config.init, config.activation)
    return model


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class LayerInfo:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int


def layer_summary(model: nn.Module) -> list[LayerInfo]:
    """Each layer's output shape (batch of 1 dropped) and parameter count, for the layer table."""
    rows: list[LayerInfo] = []
    x = torch.zeros(1, 1, 28, 28)
    with torch.no_grad():
        for name, layer in model.named_children():
            x = layer(x)
            rows.append(LayerInfo(name, type(layer).__name__, tuple(x.shape[1:]), parameter_count(layer)))
    return rows
