"""Classify one drawing with a trained model: the built-in LeNet or any stored run's weights.

Models are loaded on the CPU in eval mode (a single 28x28 image is far too small for a GPU to pay off). Nothing is
cached here: the app keeps loaded models with st.cache_resource, the CLI loads one per command.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from mnist_core.config import TrainConfig
from mnist_core.data import DATASET_INFO
from mnist_core.preprocess import Drawing, image_to_tensor, preprocess_drawing
from mnist_core.weights import WeightsError, load_model

if TYPE_CHECKING:
    from mnist_core.store import RunStore

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "default_model" / "lenet.safetensors"


class ModelUnavailable(WeightsError):
    """There is no weights file to load (a run still training, a failed run, or a missing built-in model)."""


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to predict, with what it needs to read a drawing: its normalisation and class names."""

    model: nn.Module  # on the CPU, eval mode
    config: TrainConfig
    mean: float
    std: float
    class_names: tuple[str, ...]
    label: str  # what the UI calls it, e.g. "Built-in LeNet (MNIST)" or a run's name
    run_id: int | None  # None for the built-in model


@dataclass(frozen=True)
class Prediction:
    probabilities: list[float]  # softmax over the 10 classes, in class order
    label: str  # the most likely class's name
    index: int
    confidence: float  # its probability
    top: list[tuple[str, float]]  # the top_k (name, probability), most likely first


def load_default_model(path: Path = DEFAULT_MODEL_PATH) -> LoadedModel:
    """The LeNet that ships with the app, so predicting works before anything has been trained."""
    if not Path(path).is_file():
        raise ModelUnavailable(
            f"the built-in model {path} is missing; it ships with the repository (restore it with git checkout)"
        )
    weights = load_model(path)
    label = f"Built-in LeNet ({DATASET_INFO[weights.config.dataset].title})"
    return _loaded(weights.model, weights.config, weights.mean, weights.std, label, run_id=None)


def load_run_model(store: RunStore, run_id: int) -> LoadedModel:
    """A stored run's trained model. RunNotFound for an unknown run, ModelUnavailable when it has no weights yet."""
    record = store.get(run_id)
    path = store.weights_path(run_id)
    if not path.is_file():
        why = {
            "queued": "it has not started yet",
            "running": "it is still training; weights are saved when it finishes or is stopped",
            "failed": f"it failed ({record.error})" if record.error else "it failed",
            "interrupted": "it was interrupted before finishing",
        }.get(record.status, f"its weights file {path} is missing")
        raise ModelUnavailable(f"run {run_id} ({record.name}) has no trained weights to predict with: {why}")
    weights = load_model(path)
    return _loaded(weights.model, weights.config, weights.mean, weights.std, record.name, run_id=run_id)


def predict(loaded: LoadedModel, drawing_or_tensor: Drawing | torch.Tensor, top_k: int = 3) -> Prediction:
    """Softmax probabilities of the 10 classes for one preprocessed drawing or normalised [1,1,28,28] tensor.

    A Drawing is normalised anew from its image with the model's own mean/std, so a drawing preprocessed with
    MNIST's statistics still reads right for a Fashion-MNIST model.
    """
    if not isinstance(top_k, int) or not 1 <= top_k <= len(loaded.class_names):
        raise ValueError(f"top_k must be 1 to {len(loaded.class_names)}, not {top_k!r}")
    inputs = _input_tensor(loaded, drawing_or_tensor)
    with torch.inference_mode():
        logits = loaded.model(inputs)
        if logits.shape != (1, len(loaded.class_names)):
            raise ValueError(f"model gave logits of shape {tuple(logits.shape)}, expected (1, {len(loaded.class_names)})")
        probabilities = torch.softmax(logits.to(torch.float32), dim=1)[0].tolist()
    order = sorted(range(len(probabilities)), key=lambda i: -probabilities[i])
    best = order[0]
    return Prediction(
        probabilities=probabilities,
        label=loaded.class_names[best],
        index=best,
        confidence=probabilities[best],
        top=[(loaded.class_names[i], probabilities[i]) for i in order[:top_k]],
    )


def preprocess_for(loaded: LoadedModel, array: np.ndarray) -> Drawing:
    """A raw drawing or photo as this model reads it: its dataset's statistics and layout (Fashion-MNIST items
    fill the frame; digits sit in a 20 px box centred by mass)."""
    layout = "fashion" if loaded.config.dataset == "fashion" else "mnist"
    return preprocess_drawing(array, loaded.mean, loaded.std, layout=layout)


def predict_image(loaded: LoadedModel, array: np.ndarray, top_k: int = 3) -> Prediction | None:
    """Preprocess a raw drawing or photo (see preprocess_for) and predict; None when nothing is drawn."""
    drawing = preprocess_for(loaded, array)
    if drawing.empty:
        return None
    return predict(loaded, drawing, top_k)


def _loaded(model: nn.Module, config: TrainConfig, mean: float, std: float, label: str, run_id: int | None) -> LoadedModel:
    model = model.cpu().eval()
    return LoadedModel(model, config, mean, std, DATASET_INFO[config.dataset].class_names, label, run_id)


def _input_tensor(loaded: LoadedModel, drawing_or_tensor: Drawing | torch.Tensor) -> torch.Tensor:
    if isinstance(drawing_or_tensor, Drawing):
        if drawing_or_tensor.empty:
            raise ValueError("nothing is drawn: an empty drawing has no prediction (predict_image returns None)")
        return image_to_tensor(drawing_or_tensor.image, loaded.mean, loaded.std)
    if not isinstance(drawing_or_tensor, torch.Tensor):
        raise TypeError(
            f"predict takes a Drawing or a normalised tensor, not {type(drawing_or_tensor).__name__}; "
            "use predict_image for a raw image array"
        )
    tensor = drawing_or_tensor
    if tensor.shape not in ((28, 28), (1, 28, 28), (1, 1, 28, 28)):
        raise ValueError(f"expected one 28x28 image as a [1,1,28,28] tensor, got shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        raise ValueError(f"expected a normalised float tensor, got {tensor.dtype}; use predict_image for raw pixels")
    return tensor.detach().to("cpu", torch.float32).reshape(1, 1, 28, 28)
