"""Lesson 8: parameters (what the optimizer changes: every weight and bias) against hyperparameters (what the
student sets), and training (forward, backward, update) against inference (the forward pass only)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from mnist_core.config import TrainConfig
from mnist_core.models import build_model
from mnist_core.training import make_optimizer

HYPERPARAMETERS = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name != "preset")


@dataclass(frozen=True)
class ParameterRow:
    name: str  # e.g. "1.weight"
    shape: tuple[int, ...]
    count: int


def parameter_rows(config: TrainConfig) -> list[ParameterRow]:
    """Every tensor the optimizer updates, with its shape and number of values."""
    model = build_model(config)
    return [ParameterRow(name, tuple(p.shape), p.numel()) for name, p in model.named_parameters()]


@dataclass(frozen=True)
class StepEffect:
    changed_by_training: int  # parameter values that one training step changed
    changed_by_inference: int  # parameter values that one inference (forward only) changed
    total: int
    prediction: int  # the inference's answer for the image


def training_vs_inference(config: TrainConfig, image: torch.Tensor, label: int) -> StepEffect:
    """One inference (forward only, no gradient) and one training step (forward, backward, optimizer step) on the
    same normalised image [1, 28, 28]; count the parameter values each changed."""
    model = build_model(config)
    before = [p.detach().clone() for p in model.parameters()]
    model.eval()
    with torch.inference_mode():
        prediction = int(model(image.unsqueeze(0)).argmax(1))
    after_inference = [p.detach().clone() for p in model.parameters()]
    model.train()
    optimizer = make_optimizer(config, model.parameters(), torch.device("cpu"))
    loss = nn.functional.cross_entropy(model(image.unsqueeze(0)), torch.tensor([label]))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    changed_train = sum(int((p.detach() != b).sum()) for p, b in zip(model.parameters(), before, strict=False))
    changed_infer = sum(int((a != b).sum()) for a, b in zip(after_inference, before, strict=False))
    return StepEffect(changed_train, changed_infer, sum(b.numel() for b in before), prediction)
