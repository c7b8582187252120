"""Lesson 6: softmax turns logits into probabilities; cross-entropy is -log(probability of the true class);
PyTorch's CrossEntropyLoss is LogSoftmax followed by NLLLoss (the course's note), all computed on the same numbers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class SoftmaxResult:
    logits: np.ndarray
    probabilities: np.ndarray
    log_probabilities: np.ndarray
    true_class: int
    loss_by_hand: float  # -log p[true]
    cross_entropy: float  # nn.CrossEntropyLoss
    log_softmax_nll: float  # nn.NLLLoss(nn.LogSoftmax)


def softmax_lesson(logits: list[float], true_class: int) -> SoftmaxResult:
    """Every number of the lesson from one vector of logits; ValueError on a class that is not there."""
    if not 2 <= len(logits) <= 10:
        raise ValueError(f"between 2 and 10 logits, got {len(logits)}")
    if not 0 <= true_class < len(logits):
        raise ValueError(f"true class must be 0 to {len(logits) - 1}, got {true_class}")
    z = np.asarray(logits, dtype=np.float64)
    shifted = z - z.max()  # the same probabilities, without overflowing exp for large logits
    probabilities = np.exp(shifted) / np.exp(shifted).sum()
    log_probabilities = shifted - np.log(np.exp(shifted).sum())
    batch = torch.tensor(z).unsqueeze(0)
    target = torch.tensor([true_class])
    cross_entropy = float(nn.CrossEntropyLoss()(batch, target))
    two_steps = float(nn.NLLLoss()(nn.LogSoftmax(dim=1)(batch), target))
    return SoftmaxResult(z, probabilities, log_probabilities, true_class, float(-log_probabilities[true_class]),
                         cross_entropy, two_steps)
