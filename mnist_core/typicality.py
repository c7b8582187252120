"""Does a drawing look like the images the model learned from? A softmax always sums to 1 over the ten classes, so a
letter "A" or a scribble still gets a confident digit; calibration (calibration.py) cannot change that, because it
only rescales how sure the model is about images like its training data.

The check (Lee et al., 2018, "A Simple Unified Framework for Detecting Out-of-Distribution Samples"): the
features the model's last layer reads (for LeNet the 128 units of its dense layer) are modelled, per class, as a
Gaussian with one shared covariance, fitted on the validation split. A drawing's score is its Mahalanobis distance
to the nearest class. The threshold is the QUANTILE of the validation digits' own scores: a drawing farther from
every class than 97.5% of genuine held-out digits is "unlike the digits it learned". Means, precision matrix and
threshold are stored in the weights file's metadata (base64 float32, never pickled).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

QUANTILE = 0.975
MAX_FEATURES = 512  # a 784-wide softmax regression would need a 784x784 matrix per file: it is not checked
SHRINKAGE = 0.01  # of the mean variance added to the covariance's diagonal, so it can be inverted
KEYS = ("typicality_means", "typicality_precision", "typicality_threshold", "typicality_quantile")


@dataclass(frozen=True)
class Typicality:
    means: torch.Tensor  # [10, D] class means of the features
    precision: torch.Tensor  # [D, D] inverse of the shared covariance
    threshold: float  # scores above it are less typical than QUANTILE of the validation digits
    quantile: float

    def to_metadata(self) -> dict[str, str]:
        return {"typicality_means": _encode(self.means), "typicality_precision": _encode(self.precision),
                "typicality_threshold": repr(self.threshold), "typicality_quantile": repr(self.quantile)}

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        """Squared Mahalanobis distance of each feature row to its nearest class mean."""
        diff = features.float()[:, None, :] - self.means[None]
        return torch.einsum("nkd,de,nke->nk", diff, self.precision, diff).min(1).values


def feature_extractor(model: nn.Module) -> nn.Module | None:
    """Everything before the final linear layer (for the project's Sequential networks), or None if that is not
    a network of that shape or its features are wider than MAX_FEATURES."""
    children = list(model.children())
    if not children or not isinstance(children[-1], nn.Linear) or children[-1].in_features > MAX_FEATURES:
        return None
    return nn.Sequential(*children[:-1])


@torch.inference_mode()
def fit_typicality(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> Typicality | None:
    """Fit the class means, shared covariance and threshold on held-out images; None when the model's features
    cannot be checked (see feature_extractor) or a class has no image."""
    body = feature_extractor(model)
    if body is None:
        return None
    body.eval()
    device = next(model.parameters()).device
    features = torch.cat([body(images[i : i + 2000].to(device)).float().cpu() for i in range(0, len(images), 2000)])
    labels = labels.cpu()
    classes = list(model.children())[-1].out_features
    if any(int((labels == k).sum()) == 0 for k in range(classes)):
        return None
    means = torch.stack([features[labels == k].mean(0) for k in range(classes)])
    centred = features - means[labels]
    covariance = centred.T @ centred / len(centred)
    covariance += SHRINKAGE * float(covariance.diagonal().mean()) * torch.eye(len(covariance))
    precision = torch.linalg.inv(covariance.double()).float()
    fitted = Typicality(means, precision, 0.0, QUANTILE)
    threshold = float(torch.quantile(fitted.scores(features), QUANTILE))
    return Typicality(means, precision, threshold, QUANTILE)


def typicality_from_metadata(metadata: dict[str, str]) -> Typicality | None:
    """The stored check, or None when the file has none (an older or uncalibrated file) or it is damaged."""
    if not all(key in metadata for key in KEYS):
        return None
    try:
        means, precision = _decode(metadata["typicality_means"]), _decode(metadata["typicality_precision"])
        width = precision.shape[0] if precision.ndim == 2 else -1
        if means.ndim != 2 or means.shape[1] != width or precision.shape != (width, width):
            return None
        return Typicality(means, precision, float(metadata["typicality_threshold"]),
                          float(metadata["typicality_quantile"]))
    except (ValueError, TypeError, KeyError):
        return None


@torch.inference_mode()
def is_unlike_training(model: nn.Module, typicality: Typicality, inputs: torch.Tensor) -> bool | None:
    """True when the normalised [1,1,28,28] input is farther from every class than the threshold; None when the
    model's features do not fit the stored check."""
    body = feature_extractor(model)
    if body is None:
        return None
    features = body(inputs).float()
    if features.shape[1] != typicality.means.shape[1]:
        return None
    return bool(typicality.scores(features)[0] > typicality.threshold)


def _encode(tensor: torch.Tensor) -> str:
    array = tensor.detach().cpu().float().numpy().astype("<f4")
    return f"{'x'.join(map(str, array.shape))}:{base64.b64encode(array.tobytes()).decode('ascii')}"


def _decode(text: str) -> torch.Tensor:
    shape_text, data = text.split(":", 1)
    shape = tuple(int(v) for v in shape_text.split("x"))
    array = np.frombuffer(base64.b64decode(data, validate=True), dtype="<f4")
    return torch.from_numpy(array.reshape(shape).copy())
