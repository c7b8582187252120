"""What a network computes between the pixels and the probabilities, as plain images for the Draw page.

- An MLP's first layer: each hidden unit has one weight per pixel, so its 784 weights form a 28x28 picture of the
  pattern it responds to (bright: ink there raises its input; dark: ink there lowers it). With a drawing, each unit
  also gets its activation: how strongly the drawing matches it.
- A CNN: its first layer's 5x5 kernels, and for a drawing the feature maps each convolution block outputs (after
  its activation and pooling: 14x14 after the first, 7x7 after the second), one grey image per channel.

Images are uint8 0-255 so any UI can show them; nothing here draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from mnist_core.preprocess import Drawing, image_to_tensor
from mnist_core.weights import LoadedModel

DEFAULT_UNITS = 16


@dataclass(frozen=True)
class WeightPicture:
    index: int  # the unit's (or kernel's) number, from 0
    image: np.ndarray  # uint8; mid-grey 128 = weight 0, white = the largest positive weight, black = most negative
    activation: float | None  # the unit's output for the drawing (MLP), None without a drawing


@dataclass(frozen=True)
class BlockMaps:
    block: int  # 1 for the first convolution block
    maps: list[np.ndarray]  # one uint8 image per channel, 0 = black (see _block for the scaling)
    size: int  # each map is size x size


def first_layer(loaded: LoadedModel) -> nn.Module:
    """The network's first Linear or Conv2d layer."""
    for module in loaded.model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            return module
    raise ValueError(f"{loaded.label} has no linear or convolution layer")


def first_layer_pictures(loaded: LoadedModel, count: int = DEFAULT_UNITS,
                         drawing: Drawing | None = None) -> list[WeightPicture]:
    """The first `count` units' (MLP: 28x28) or kernels' (CNN: 5x5) weights as images, with each MLP unit's
    activation for `drawing` when one is given. Softmax regression's "units" are the ten class templates."""
    layer = first_layer(loaded)
    weights = layer.weight.detach().float().cpu()
    count = max(0, min(count, weights.shape[0]))
    shape = (28, 28) if isinstance(layer, nn.Linear) else tuple(weights.shape[-2:])
    activations = _first_activations(loaded, drawing) if drawing is not None and isinstance(layer, nn.Linear) else None
    return [WeightPicture(index, _diverging(weights[index].reshape(shape).numpy()),
                          None if activations is None else float(activations[index]))
            for index in range(count)]


def feature_maps(loaded: LoadedModel, drawing: Drawing) -> list[BlockMaps]:
    """For a CNN, each convolution block's output for the drawing (after the block's pooling); [] for an MLP."""
    if drawing.empty:
        raise ValueError("nothing is drawn: there are no feature maps to show")
    x = image_to_tensor(drawing.image, loaded.mean, loaded.std)
    blocks: list[BlockMaps] = []
    seen_conv = False
    with torch.inference_mode():
        for layer in loaded.model.children():
            x = layer(x)
            seen_conv = seen_conv or isinstance(layer, nn.Conv2d)
            if seen_conv and isinstance(layer, nn.MaxPool2d):
                blocks.append(_block(len(blocks) + 1, x[0]))
    return blocks


def _first_activations(loaded: LoadedModel, drawing: Drawing) -> np.ndarray:
    """The first hidden layer's output (after its activation function) for the drawing."""
    x = image_to_tensor(drawing.image, loaded.mean, loaded.std)
    children = list(loaded.model.children())
    with torch.inference_mode():
        for position, layer in enumerate(children):
            x = layer(x)
            if isinstance(layer, nn.Linear):
                after = children[position + 1] if position + 1 < len(children) else None
                if after is not None and not isinstance(after, (nn.Linear, nn.Dropout)):
                    x = after(x)  # the activation function, so "how strongly it fires" is what the next layer sees
                return x[0].float().cpu().numpy()
    raise ValueError(f"{loaded.label} has no linear layer")


def _diverging(weights: np.ndarray) -> np.ndarray:
    scale = float(np.abs(weights).max()) or 1.0
    return np.clip(128.0 + 127.0 * weights / scale, 0, 255).astype(np.uint8)


def _block(number: int, output: torch.Tensor) -> BlockMaps:
    """Each map scaled by its own largest value, but never by less than a quarter of the block's: a channel that
    barely responds stays dark instead of having its noise blown up to full white."""
    values = output.float().cpu().numpy()
    floor = 0.25 * float(values.max()) or 1.0
    maps = [np.clip(255.0 * channel / max(float(channel.max()), floor), 0, 255).astype(np.uint8) for channel in values]
    return BlockMaps(number, maps, int(values.shape[-1]))
