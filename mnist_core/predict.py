"""Classify one drawing with a trained model: the built-in LeNet or any stored run's weights.

Models are loaded on the CPU in eval mode (a single 28x28 image is far too small for a GPU to pay off). Nothing is
cached here: the app keeps loaded models with st.cache_resource, the CLI loads one per command.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mnist_core.calibration import temperature_of
from mnist_core.data import DATASET_INFO
from mnist_core.preprocess import Drawing, image_to_tensor, preprocess_drawing
from mnist_core.typicality import is_unlike_training, typicality_from_metadata
from mnist_core.weights import LoadedModel, ModelUnavailable, load_model

DEFAULT_MODEL_PATH = Path(__file__).resolve().parent / "default_model" / "lenet.safetensors"


@dataclass(frozen=True)
class Prediction:
    probabilities: list[float]  # softmax over the 10 classes, in class order
    label: str  # the most likely class's name
    index: int
    confidence: float  # its probability
    top: list[tuple[str, float]]  # the top_k (name, probability), most likely first
    temperature: float | None = None  # the calibration the probabilities were divided by; None: uncalibrated
    # True: the input is farther from every class than 97.5% of the validation digits (a letter, a scribble), so
    # the answer is a guess whatever its probability; None: the model has no such check (see typicality.py).
    unlike_training: bool | None = None


def load_default_model(path: Path = DEFAULT_MODEL_PATH) -> LoadedModel:
    """The LeNet that ships with the app, so predicting works before anything has been trained."""
    if not Path(path).is_file():
        raise ModelUnavailable(
            f"the built-in model {path} is missing; it ships with the repository (restore it with git checkout)",
            {"builtin": str(path)},
        )
    loaded = load_model(path)
    return dataclasses.replace(loaded, label=f"Built-in LeNet ({DATASET_INFO[loaded.config.dataset].title})")


def predict(loaded: LoadedModel, drawing_or_tensor: Drawing | torch.Tensor, top_k: int = 3) -> Prediction:
    """Softmax probabilities of the 10 classes for one preprocessed drawing or normalised [1,1,28,28] tensor.

    A Drawing is normalised anew from its image with the model's own mean/std, so a drawing preprocessed with
    MNIST's statistics still reads right for a Fashion-MNIST model. The logits are divided by the model's fitted
    temperature (see calibration.py) before the softmax, so the probabilities are calibrated where it has one.
    """
    if not isinstance(top_k, int) or not 1 <= top_k <= len(loaded.class_names):
        raise ValueError(f"top_k must be 1 to {len(loaded.class_names)}, not {top_k!r}")
    inputs = _input_tensor(loaded, drawing_or_tensor)
    with torch.inference_mode():
        logits = loaded.model(inputs)
        if logits.shape != (1, len(loaded.class_names)):
            raise ValueError(f"model gave logits of shape {tuple(logits.shape)}, "
                             f"expected (1, {len(loaded.class_names)})")
        temperature = temperature_of(loaded)
        probabilities = torch.softmax(logits.to(torch.float32) / (temperature or 1.0), dim=1)[0].tolist()
    order = sorted(range(len(probabilities)), key=lambda i: -probabilities[i])
    best = order[0]
    return Prediction(
        probabilities=probabilities,
        label=loaded.class_names[best],
        index=best,
        confidence=probabilities[best],
        top=[(loaded.class_names[i], probabilities[i]) for i in order[:top_k]],
        temperature=temperature,
        unlike_training=_unlike_training(loaded, inputs),
    )


def _unlike_training(loaded: LoadedModel, inputs: torch.Tensor) -> bool | None:
    typicality = typicality_from_metadata(loaded.metadata)
    return None if typicality is None else is_unlike_training(loaded.model, typicality, inputs)


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
