"""Temperature scaling: make a model's softmax probabilities mean what they say.

A network trained to a low training loss is over-confident: it says "99%" on digits it gets wrong far more than
1% of the time. Temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural Networks") divides the
logits by one number T > 1 before the softmax: the predicted class never changes, only how sure the model claims
to be. T is fitted on the validation split (the fixed held-out training images, see data.split_indices, that the
model never trained on) by minimising their cross-entropy, and stored in the weights file's metadata
("temperature"); predict.py divides by it. A run trained on all 60,000 images (val_size 0) has nothing held out
to fit on and stays uncalibrated (T = 1). The same images also fit the "unlike any digit it learned" check of
typicality.py, stored alongside.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mnist_core.data import Dataset, load_dataset, normalize, split_indices
from mnist_core.typicality import Typicality, fit_typicality
from mnist_core.weights import LoadedModel, WeightsError, load_model, update_metadata

log = logging.getLogger(__name__)

TEMPERATURE_KEY = "temperature"
DETAILS_KEY = "calibration"  # how T was fitted, for people reading the file's metadata
# The search range of T: below 1/20 or above 20 a fit says more about a broken model than about calibration.
MIN_T, MAX_T = 0.05, 20.0
ECE_BINS = 15


@dataclass(frozen=True)
class Calibration:
    temperature: float
    images: int  # validation images it was fitted on
    nll_before: float  # their mean cross-entropy at T = 1
    nll_after: float  # and at the fitted T
    typicality: Typicality | None = None  # fitted on the same images (see typicality.py)


def temperature_of(loaded: LoadedModel) -> float | None:
    """The model's stored temperature, or None when it was never calibrated (predict then uses T = 1)."""
    value = loaded.metadata.get(TEMPERATURE_KEY)
    try:
        temperature = float(value) if value is not None else None
    except ValueError:
        return None
    return temperature if temperature is not None and math.isfinite(temperature) and temperature > 0 else None


@torch.inference_mode()
def logits_of(model: nn.Module, images: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """float32 logits of already-normalised images, in eval mode, on the model's device."""
    was_training = model.training
    model.eval()
    parts = [model(images[start : start + batch_size]).float() for start in range(0, len(images), batch_size)]
    model.train(was_training)
    return torch.cat(parts)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T minimising mean cross-entropy of softmax(logits / T). The loss is convex in 1/T, hence unimodal in
    log T: a golden-section search finds it to 1e-4 without any learning rate to tune."""
    logits, labels = logits.detach().float().cpu(), labels.detach().cpu()

    def nll(log_t: float) -> float:
        return float(F.cross_entropy(logits / math.exp(log_t), labels))

    low, high = math.log(MIN_T), math.log(MAX_T)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = nll(a), nll(b)
    while high - low > 1e-4:
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = nll(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = nll(b)
    return math.exp((low + high) / 2)


def expected_calibration_error(probabilities: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> float:
    """ECE: the confidence-weighted gap between how sure the model says it is and how often it is right, over
    `bins` equal-width confidence bins (0.01 = on average 1 percentage point off)."""
    confidence, predicted = probabilities.max(1)
    correct = (predicted == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    total = 0.0
    for low, high in itertools.pairwise(edges.tolist()):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            total += float(in_bin.float().mean()) * abs(float(confidence[in_bin].mean() - correct[in_bin].mean()))
    return total


def validation_set(config, data: Dataset) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The held-out images of `config`'s fixed split (normalised) and their labels; None when it holds none."""
    _, val_idx = split_indices(config)
    if len(val_idx) == 0:
        return None
    return normalize(data.train_images[val_idx], data.mean, data.std), data.train_labels[val_idx]


def calibrate(model: nn.Module, config, data: Dataset) -> Calibration | None:
    """Fit T on the validation split of `config`; None when the run held no images out (val_size 0)."""
    held_out = validation_set(config, data)
    if held_out is None:
        return None
    images, labels = held_out
    logits = logits_of(model, images.to(next(model.parameters()).device))
    temperature = fit_temperature(logits, labels)
    labels = labels.to(logits.device)
    return Calibration(temperature, len(labels), float(F.cross_entropy(logits, labels)),
                       float(F.cross_entropy(logits / temperature, labels)), fit_typicality(model, images, labels))


def calibrate_weights_file(path: Path, data: Dataset | None = None) -> Calibration | None:
    """Fit the temperature of the model in a weights file and store it in the file's metadata (all tensors and
    other metadata unchanged). None, and the file untouched, when there is no validation split to fit on."""
    loaded = load_model(path)
    data = data or load_dataset(loaded.config.dataset)
    result = calibrate(loaded.model, loaded.config, data)
    if result is not None:
        details = (f"fitted on {result.images} validation images: cross-entropy {result.nll_before:.4f} at T=1, "
                   f"{result.nll_after:.4f} at T={result.temperature:.4f}")
        typicality = result.typicality.to_metadata() if result.typicality is not None else {}
        update_metadata(path, {TEMPERATURE_KEY: repr(result.temperature), DETAILS_KEY: details, **typicality})
    return result


def calibrate_finished_run(path: Path, data: Dataset) -> Calibration | None:
    """What a finished run does after its weights are saved (execution.execute_run): calibrate them. A failure here
    must not fail a run that trained fine: it is logged and the model stays uncalibrated."""
    try:
        return calibrate_weights_file(path, data)
    except (WeightsError, OSError, RuntimeError, ValueError):
        log.exception("could not calibrate %s; its probabilities stay uncalibrated", path)
        return None


@dataclass(frozen=True)
class TestSetCheck:
    """How calibrated a model is on the 10,000 test images (never used to fit T), before and after scaling."""

    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float


def check_on_test_set(model: nn.Module, temperature: float, data: Dataset) -> TestSetCheck:
    images = normalize(data.test_images, data.mean, data.std)
    logits, labels = logits_of(model, images), data.test_labels
    return TestSetCheck(
        ece_before=expected_calibration_error(torch.softmax(logits, 1), labels),
        ece_after=expected_calibration_error(torch.softmax(logits / temperature, 1), labels),
        nll_before=float(F.cross_entropy(logits, labels)),
        nll_after=float(F.cross_entropy(logits / temperature, labels)),
    )
