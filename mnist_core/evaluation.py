"""A network measured on a set of images: mean cross-entropy, accuracy, predictions and how sure each one is."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


@torch.inference_mode()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             batch_size: int = 2000) -> tuple[float, float, torch.Tensor]:
    """Mean cross-entropy, accuracy and predicted classes of already-normalised images, in eval mode."""
    loss, accuracy, predicted, _ = evaluate_with_confidence(model, images, labels, batch_size)
    return loss, accuracy, predicted


@torch.inference_mode()
def evaluate_with_confidence(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                             batch_size: int = 2000) -> tuple[float, float, torch.Tensor, torch.Tensor]:
    """`evaluate` plus each prediction's softmax probability (float32, on the CPU), for the misclassified gallery."""
    was_training = model.training
    model.eval()
    total_loss, predictions, confidences = 0.0, [], []
    for start in range(0, len(images), batch_size):
        logits = model(images[start : start + batch_size])
        total_loss += float(F.cross_entropy(logits, labels[start : start + batch_size], reduction="sum"))
        best, predicted = torch.softmax(logits.float(), 1).max(1)
        predictions.append(predicted)
        confidences.append(best)
    model.train(was_training)
    predicted = torch.cat(predictions)
    accuracy = float((predicted == labels).float().mean())
    return total_loss / len(images), accuracy, predicted.cpu(), torch.cat(confidences).cpu()
