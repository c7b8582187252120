"""Turn a canvas drawing or a photo of a digit into the 28x28 input an MNIST model expects, made the way MNIST was.

MNIST (LeCun et al.): each NIST digit was scaled, keeping its aspect ratio and anti-aliased, so its longer side is
20 px, then placed in a 28x28 field with its centre of mass at the centre (pixel index 14, 14). A model trained on
that data sees every digit at that size and place, so a drawing must be brought into the same form first.
Fashion-MNIST was made differently (longer side 28, centred by bounding box): `layout="fashion"` does that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

SIZE = 28
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
LAYOUTS = ("mnist", "fashion")

# Ink is "anything differing from the background"; below these limits the input counts as nothing drawn.
MIN_CONTRAST = 0.10  # brightest ink must differ from the background by 10% of full scale (all-white, all-black)
NOISE_FLOOR = 0.15  # ink weaker than 15% of the strongest ink is paper texture or shading, not a stroke
MIN_INK_FRACTION = 0.001  # fewer than 0.1% of the pixels inked: a stray tap, not a digit
MIN_EXTENT = 0.04  # ink bounding box shorter than 4% of the image's longer side (and < 2 px): a dot
# A mark's stroke width, in pixels of the 20 px box the model sees a digit in (MNIST's strokes are 2-3 px): at
# MAX_STROKE_PX or more the mark is about as wide as it is long (a dot, a blob, a digit far too small for the pen);
# under MIN_STROKE_PX the strokes all but vanish when scaled down. All 10,000 MNIST test digits measure 1.8-8.1 px
# (drawn 140 px large on the canvas); none reaches either limit.
MAX_STROKE_PX = 9.0
MIN_STROKE_PX = 0.6
TOO_SMALL, TOO_THIN = "too_small", "too_thin"
# Strokes are scaled so this percentile of the ink is full white: pencil in a photo looks like MNIST's saturated
# strokes, while a canvas stroke (already white) is unchanged.
FULL_INK_PERCENTILE = 95


@dataclass(frozen=True)
class Drawing:
    """A preprocessed drawing: `image` is the 28x28 uint8 the model sees, `tensor` its normalised [1,1,28,28]
    float32 form, or None when nothing was drawn (`empty`).

    `stroke_px` is the ink's stroke width scaled into the model's 20 px digit box (0.0 when empty); `unreadable`
    says why the mark cannot be a digit, whatever a model would answer: TOO_SMALL (a dot, or a digit far too small
    for the pen) or TOO_THIN (strokes that vanish when scaled down); None when it is legible (or for the
    Fashion-MNIST layout, whose items are solid shapes)."""

    tensor: torch.Tensor | None
    image: np.ndarray
    empty: bool
    stroke_px: float = 0.0
    unreadable: str | None = None


def preprocess_drawing(
    array: np.ndarray, mean: float = MNIST_MEAN, std: float = MNIST_STD, *, layout: str = "mnist"
) -> Drawing:
    """Crop a drawing to its ink, scale and centre it as MNIST was made, and normalise it with `mean`/`std`.

    Accepts HxW, HxWx1, HxWx3 or HxWx4 arrays, uint8 (0-255), bool or float (0-1), with light ink on a dark
    background (the canvas) or dark ink on a light background (a photo of paper); the border decides which.
    Nearly empty input (see MIN_* above) gives `Drawing(None, zeros, empty=True)`.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    if not std > 0:
        raise ValueError(f"std must be positive, not {std!r}")
    grey = _to_grey(array)
    ink = _ink(grey)
    box = _ink_box(ink)
    if box is None:
        return Drawing(tensor=None, image=np.zeros((SIZE, SIZE), np.uint8), empty=True)
    patch = _scaled_patch(ink, box)
    image = _place(patch, layout)
    tensor = image_to_tensor(image, mean, std)
    stroke = stroke_width_px(patch > 0)
    unreadable = _unreadable(stroke) if layout == "mnist" else None
    return Drawing(tensor=tensor, image=image, empty=False, stroke_px=stroke, unreadable=unreadable)


def stroke_width_px(mask: np.ndarray) -> float:
    """The mean stroke width of the inked `mask` (cropped to its ink), in pixels of a 20 px digit box.

    Twice the ink's area over its outline's length: exact for a long stroke of any width, half the diameter for a
    round dot. Divided by the mask's longer side, it does not depend on how large the mark was drawn."""
    area = int(mask.sum())
    if area == 0:
        return 0.0
    padded = np.pad(mask, 1)
    inside = (padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    outline = int((mask & ~inside).sum())
    return 2.0 * area / max(outline, 1) / max(mask.shape) * 20.0


def _unreadable(stroke_px: float) -> str | None:
    if stroke_px >= MAX_STROKE_PX:
        return TOO_SMALL
    if stroke_px < MIN_STROKE_PX:
        return TOO_THIN
    return None


def image_to_tensor(image: np.ndarray, mean: float, std: float) -> torch.Tensor:
    """A 28x28 uint8 image as the normalised [1,1,28,28] float32 tensor a model takes: (x/255 - mean) / std."""
    if image.shape != (SIZE, SIZE) or image.dtype != np.uint8:
        raise ValueError(f"expected a {SIZE}x{SIZE} uint8 image, got {image.dtype} {image.shape}")
    tensor = torch.from_numpy(image.astype(np.float32)).div_(255.0).sub_(mean).div_(std)
    return tensor.view(1, 1, SIZE, SIZE)


def _to_grey(array: np.ndarray) -> np.ndarray:
    """Validate the input and return it as float32 grey levels 0-255."""
    if not isinstance(array, np.ndarray):
        array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"expected an HxW, HxWx3 or HxWx4 image array, got shape {array.shape}")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"image array is empty (shape {array.shape})")
    pixels = _to_0_255(array)
    if pixels.ndim == 2:
        return pixels.astype(np.float32, copy=False)
    grey = _mean_of_rgb(pixels)
    if pixels.shape[2] == 4:
        alpha = pixels[:, :, 3]
        # A canvas with a background colour bakes it into RGB and is opaque: alpha changes nothing. A transparent
        # canvas (the default) leaves the background at RGB 0 with alpha 0, so black ink would vanish into it;
        # compositing onto the opposite of the ink's colour keeps the ink visible either way.
        if alpha.min() < 255:
            weight = alpha.astype(np.float32) / 255.0
            if not weight.any():
                return np.zeros(grey.shape, np.float32)
            ink_level = float((grey * weight).sum() / weight.sum())
            backdrop = 255.0 if ink_level < 128 else 0.0
            grey = grey * weight + backdrop * (1.0 - weight)
    return grey


def _mean_of_rgb(pixels: np.ndarray) -> np.ndarray:
    """Grey = mean of R, G, B. Channel by channel: numpy's mean over a 3-wide last axis is ~10x slower."""
    if pixels.dtype == np.uint8:
        total = pixels[:, :, 0].astype(np.uint16)
        total += pixels[:, :, 1]
        total += pixels[:, :, 2]
        return total.astype(np.float32) * np.float32(1.0 / 3.0)
    return (pixels[:, :, 0] + pixels[:, :, 1] + pixels[:, :, 2]) * np.float32(1.0 / 3.0)


def _to_0_255(array: np.ndarray) -> np.ndarray:
    """uint8 as is; bool and float 0-1 scaled to 0-255; other integers must already lie in 0-255."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("image array contains NaN or infinite values")
        low, high = float(array.min()), float(array.max())
        if low < 0.0 or high > 1.0 + 1e-6:
            raise ValueError(f"float image values must lie in 0-1, got {low:g} to {high:g} (uint8 for 0-255)")
        return (array.astype(np.float32) * 255.0).clip(0.0, 255.0)
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ValueError(f"integer image values must lie in 0-255, got {low} to {high}")
        return array.astype(np.uint8)
    raise ValueError(f"image array must be uint8, bool or float, not {array.dtype}")


def _ink(grey: np.ndarray) -> np.ndarray:
    """How much each pixel differs from the background, towards the ink (>= 0, 0-255 scale).

    The background is estimated from the medians of the four border strips, as a plane, so that a photo lit from
    one side (paper brighter at one edge) is not mistaken for ink. Its level decides the polarity: a light
    background means dark ink (a photo of paper), a dark one light ink (the canvas).
    """
    height, width = grey.shape
    frame = max(1, min(height, width) // 50)
    top = float(np.median(grey[:frame]))
    bottom = float(np.median(grey[-frame:]))
    left = float(np.median(grey[:, :frame]))
    right = float(np.median(grey[:, -frame:]))
    level = (top + bottom + left + right) / 4.0
    rows = (np.arange(height, dtype=np.float32) / max(height - 1, 1) - 0.5) * (bottom - top)
    cols = (np.arange(width, dtype=np.float32) / max(width - 1, 1) - 0.5) * (right - left)
    background = level + rows[:, None] + cols[None, :]
    ink = background - grey if level >= 127.5 else grey - background
    return np.maximum(ink, 0.0, out=ink)


def _ink_box(ink: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding box (top, bottom, left, right; inclusive-exclusive) of the ink, or None when nothing is drawn."""
    strongest = float(ink.max())
    if strongest < MIN_CONTRAST * 255.0:
        return None
    mask = ink >= NOISE_FLOOR * strongest
    if mask.sum() < MIN_INK_FRACTION * mask.size:
        return None
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    extent = max(bottom - top, right - left)
    if extent < max(2.0, MIN_EXTENT * max(ink.shape)):
        return None
    return top, bottom, left, right


def _scaled_patch(ink: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The ink inside `box` as uint8 0-255: texture below the noise floor removed, strokes scaled to full white."""
    top, bottom, left, right = box
    patch = ink[top:bottom, left:right]
    strokes = patch >= NOISE_FLOOR * float(patch.max())
    full = float(np.percentile(patch[strokes], FULL_INK_PERCENTILE))
    scaled = np.where(strokes, patch * (255.0 / full), 0.0)
    return np.clip(scaled, 0.0, 255.0).astype(np.uint8)


def _place(patch: np.ndarray, layout: str) -> np.ndarray:
    """Scale the patch so its longer side fills the layout's box and paste it into a 28x28 field."""
    box = 20 if layout == "mnist" else SIZE
    height, width = patch.shape
    scale = box / max(height, width)
    new_height, new_width = max(1, round(height * scale)), max(1, round(width * scale))
    # Lanczos anti-aliases when shrinking a big canvas stroke and stays smooth when enlarging a small one.
    resized = Image.fromarray(patch).resize((new_width, new_height), Image.Resampling.LANCZOS)
    small = np.asarray(resized)
    if layout == "mnist":
        top = _offset(small.sum(axis=1, dtype=np.float64), new_height)
        left = _offset(small.sum(axis=0, dtype=np.float64), new_width)
    else:
        top, left = (SIZE - new_height) // 2, (SIZE - new_width) // 2
    image = np.zeros((SIZE, SIZE), np.uint8)
    image[top : top + new_height, left : left + new_width] = small
    return image


def _offset(mass: np.ndarray, length: int) -> int:
    """Where to paste a profile so its centre of mass lands on pixel 14 (MNIST's convention), never cutting ink."""
    total = float(mass.sum())
    centre = float(mass @ np.arange(length)) / total if total > 0 else (length - 1) / 2.0
    return int(min(max(round(SIZE / 2 - centre), 0), SIZE - length))
