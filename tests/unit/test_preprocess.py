"""preprocess_drawing on genuine MNIST test digits drawn onto canvases and "photos" at many sizes and places."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mnist_core.preprocess import (
    MAX_STROKE_PX,
    MIN_STROKE_PX,
    MNIST_MEAN,
    MNIST_STD,
    SIZE,
    TOO_SMALL,
    TOO_THIN,
    Drawing,
    image_to_tensor,
    preprocess_drawing,
)

import hand_drawn
from conftest import CANVAS, on_canvas, raw_test_set

DIGITS = 60  # how many genuine digits each comparison uses


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return raw_test_set("MNIST")[0][:DIGITS]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


def shift_tolerant_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Best correlation over shifts of up to 1 px: centring by rounding the centre of mass is exact to +-0.5 px,
    and for a 2-px-wide stroke one pixel of shift alone drops the plain correlation a lot."""
    return max(correlation(np.roll(a, (dy, dx), (0, 1)), b) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def images(arrays: list[np.ndarray], **kwargs) -> list[np.ndarray]:
    drawings = [preprocess_drawing(array, **kwargs) for array in arrays]
    assert not any(d.empty for d in drawings)
    return [d.image for d in drawings]


def ink_box(image: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    mass = image.astype(np.float64)
    total = mass.sum()
    return float(mass.sum(1) @ np.arange(SIZE) / total), float(mass.sum(0) @ np.arange(SIZE) / total)


# -- the MNIST layout ------------------------------------------------------------------------------------


def test_a_genuine_mnist_digit_comes_back_as_itself(digits: np.ndarray) -> None:
    # MNIST digits are already 20 px boxes centred by mass: preprocessing must leave them (nearly) unchanged.
    for digit in digits:
        image = preprocess_drawing(digit).image
        assert shift_tolerant_correlation(image, digit) > 0.98


@pytest.mark.parametrize(
    "placement",
    [
        pytest.param((112, 0, 0), id="small-x4-top-left-corner"),
        pytest.param((112, 168, 168), id="small-x4-bottom-right-corner"),
        pytest.param((252, 14, 14), id="large-x9-centred"),
        pytest.param((140, 0, 140), id="x5-off-centre-top-right"),
        pytest.param((84, 190, 20), id="tiny-x3-bottom-left"),
    ],
)
def test_size_and_position_on_the_canvas_do_not_matter(digits: np.ndarray, placement: tuple[int, int, int]) -> None:
    size, top, left = placement
    drawn = images([on_canvas(d, size, top, left) for d in digits])
    reference = images([on_canvas(d, 196, 42, 42) for d in digits])  # x7, centred
    scores = [shift_tolerant_correlation(a, d) for a, d in zip(drawn, digits, strict=False)]
    assert np.mean(scores) > 0.95 and min(scores) > 0.8
    differences = [float(np.abs(a.astype(float) - b.astype(float)).mean())
                   for a, b in zip(drawn, reference, strict=False)]
    assert np.mean(differences) < 6.0  # mean |difference| per pixel, of 255
    assert np.mean([correlation(a, b) for a, b in zip(drawn, reference, strict=False)]) > 0.9


def test_every_output_is_a_20_px_box_centred_by_mass(digits: np.ndarray) -> None:
    for digit in digits[:20]:
        image = preprocess_drawing(on_canvas(digit, 150, 100, 30)).image
        assert max(ink_box(image)) in (19, 20, 21)  # 20 px, give or take Lanczos' faint fringe
        cy, cx = centre_of_mass(image)
        assert abs(cy - 14) <= 0.75 and abs(cx - 14) <= 0.75


def test_lopsided_ink_is_shifted_only_as_far_as_fits() -> None:
    # A bar with a heavy block at its right end: its centre of mass lies ~16 px into the 20-px box, so centring
    # the mass at 14 would push the bar's left end out of the field; it must stop at the edge instead.
    canvas = np.zeros((CANVAS, CANVAS), np.uint8)
    canvas[130:140, 40:210] = 255
    canvas[60:210, 210:240] = 255
    image = preprocess_drawing(canvas).image
    columns = np.flatnonzero(image.any(axis=0))
    assert columns[0] == 0 and columns[-1] in (19, 20)  # all 20 px kept, flush with the left edge
    assert centre_of_mass(image)[1] > 14.5


# -- inputs the app and the CLI receive ----------------------------------------------------------------------


def test_paper_with_dark_ink_reads_like_the_canvas(digits: np.ndarray) -> None:
    canvases = [on_canvas(d, 180, 50, 60) for d in digits]
    paper = [255 - c[..., :3] for c in canvases]  # white paper, black ink, RGB
    for on_paper, on_screen in zip(images(paper), images(canvases), strict=False):
        np.testing.assert_array_equal(on_paper, on_screen)


def test_a_photo_with_uneven_light_and_grain_reads_like_the_canvas(digits: np.ndarray) -> None:
    rng = np.random.default_rng(7)
    columns = np.linspace(0.0, 1.0, CANVAS)[None, :]
    rows = np.linspace(0.0, 1.0, CANVAS)[:, None]
    paper = 190.0 + 40.0 * columns + 15.0 * rows  # lit from the lower right: 190 to 245
    photos, canvases = [], []
    for digit in digits:
        canvas = on_canvas(digit, 200, 30, 50)
        ink = canvas[..., 0] / 255.0
        photo = paper * (1.0 - 0.7 * ink) + rng.normal(0.0, 4.0, paper.shape)  # pencil, not pure black
        photos.append(np.repeat(np.clip(photo, 0, 255).astype(np.uint8)[..., None], 3, axis=2))
        canvases.append(canvas)
    from_photos, from_canvases = images(photos), images(canvases)
    scores = [correlation(a, b) for a, b in zip(from_photos, from_canvases, strict=False)]
    assert np.mean(scores) > 0.9 and min(scores) > 0.75
    # Pencil strokes come out as strong as the canvas's white ones, not greyer.
    differences = [a.astype(float).mean() - b.astype(float).mean()
                   for a, b in zip(from_photos, from_canvases, strict=False)]
    assert abs(np.mean(differences)) < 1.5  # mean grey level, of 255


def test_transparent_canvas_with_black_ink_is_read_from_alpha(digits: np.ndarray) -> None:
    # st_canvas's default background is transparent: RGB 0 everywhere, ink only visible in the alpha channel.
    canvas = on_canvas(digits[0], 200, 40, 40)
    transparent = np.zeros_like(canvas)
    transparent[..., 3] = canvas[..., 0]
    np.testing.assert_array_equal(preprocess_drawing(transparent).image, preprocess_drawing(canvas).image)


def test_grey_float_and_single_channel_inputs_match_uint8_rgba(digits: np.ndarray) -> None:
    canvas = on_canvas(digits[1], 224, 20, 36)
    expected = preprocess_drawing(canvas).image
    grey = canvas[..., 0]
    for variant in (grey, grey[..., None], grey / 255.0, (canvas / 255.0).astype(np.float32), canvas[..., :3]):
        assert np.abs(preprocess_drawing(variant).image.astype(int) - expected).max() <= 1


def test_tensor_is_the_image_normalised(digits: np.ndarray) -> None:
    drawing = preprocess_drawing(on_canvas(digits[2], 150, 60, 60), mean=0.2860, std=0.3530)
    assert isinstance(drawing, Drawing) and not drawing.empty
    assert drawing.image.dtype == np.uint8 and drawing.image.shape == (SIZE, SIZE)
    assert drawing.tensor.dtype == torch.float32 and drawing.tensor.shape == (1, 1, SIZE, SIZE)
    expected = (torch.from_numpy(drawing.image.astype(np.float32)) / 255 - 0.2860) / 0.3530
    torch.testing.assert_close(drawing.tensor[0, 0], expected)
    same = preprocess_drawing(on_canvas(digits[2], 150, 60, 60))
    torch.testing.assert_close(same.tensor, image_to_tensor(drawing.image, MNIST_MEAN, MNIST_STD))


def test_fashion_layout_fills_the_frame_as_fashion_mnist_did() -> None:
    items = raw_test_set("FashionMNIST")[0][:DIGITS]
    drawn = images([on_canvas(item, 252, 14, 14) for item in items], layout="fashion")
    scores = [shift_tolerant_correlation(a, item) for a, item in zip(drawn, items, strict=False)]
    assert np.mean(scores) > 0.93
    assert all(max(ink_box(a)) >= 27 for a in drawn)


# -- nothing drawn ----------------------------------------------------------------------------------------


def opaque(rgb: tuple[int, int, int]) -> np.ndarray:
    canvas = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    canvas[..., :3], canvas[..., 3] = rgb, 255
    return canvas


def with_dot(canvas: np.ndarray, size: int) -> np.ndarray:
    canvas = canvas.copy()
    canvas[150 : 150 + size, 90 : 90 + size, :3] = 255
    return canvas


@pytest.mark.parametrize(
    "array",
    [
        pytest.param(opaque((0, 0, 0)), id="black-canvas"),
        pytest.param(np.zeros((CANVAS, CANVAS, 4), np.uint8), id="transparent-canvas"),
        pytest.param(opaque((255, 255, 255)), id="all-white"),
        pytest.param(np.full((CANVAS, CANVAS), 128, np.uint8), id="uniform-grey"),
        pytest.param(with_dot(opaque((0, 0, 0)), 3), id="tiny-dot-3px"),
        pytest.param(with_dot(opaque((0, 0, 0)), 8), id="dot-8px"),
        pytest.param(np.random.default_rng(1).normal(235, 3, (CANVAS, CANVAS)).clip(0, 255).astype(np.uint8),
                     id="blank-paper-grain"),
        pytest.param(np.zeros((SIZE, SIZE)), id="black-28x28-float"),
    ],
)
def test_nothing_drawn_is_empty(array: np.ndarray) -> None:
    drawing = preprocess_drawing(array)
    assert drawing.empty and drawing.tensor is None
    np.testing.assert_array_equal(drawing.image, np.zeros((SIZE, SIZE), np.uint8))


def test_a_short_deliberate_stroke_is_not_empty() -> None:
    canvas = opaque((0, 0, 0))
    canvas[60:220, 135:145, :3] = 255  # a "1": thin but long
    drawing = preprocess_drawing(canvas)
    assert not drawing.empty and ink_box(drawing.image)[0] >= 19


# -- bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros(784, np.uint8), "HxW"),
        (np.zeros((28, 28, 5), np.uint8), "HxW"),
        (np.zeros((0, 28), np.uint8), "empty"),
        (np.full((28, 28), 2.0), "0-1"),
        (np.full((28, 28), np.nan), "NaN"),
        (np.full((28, 28), 300, np.int32), "0-255"),
        (np.full((28, 28), "x"), "uint8"),
    ],
)
def test_bad_arrays_get_a_specific_message(array: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        preprocess_drawing(array)


def test_bad_options_get_a_specific_message() -> None:
    with pytest.raises(ValueError, match="layout"):
        preprocess_drawing(np.zeros((28, 28), np.uint8), layout="cifar")
    with pytest.raises(ValueError, match="std"):
        preprocess_drawing(np.zeros((28, 28), np.uint8), std=0.0)


# -- marks too small or too thin to be a digit ------------------------------------------------------------


def test_a_dot_drawn_with_the_pen_is_too_small_to_read() -> None:
    """A tap with the default 22 px pen is not nothing (it is ink), but it is as wide as it is long: no digit."""
    for pen in (hand_drawn.PEN, 50):
        drawing = preprocess_drawing(hand_drawn.render(hand_drawn.DOT, pen))
        assert not drawing.empty
        assert drawing.unreadable == TOO_SMALL and drawing.stroke_px >= MAX_STROKE_PX


def test_a_digit_far_too_small_for_the_pen_is_too_small_to_read() -> None:
    # A "7" whose strokes span 13x18 px, written with the 22 px pen: one blob, the 7 is gone.
    seven = [[(140 + (x - 140) * 0.1, 140 + (y - 140) * 0.1) for x, y in [(75, 60), (205, 60), (115, 235)]]]
    assert preprocess_drawing(hand_drawn.render(seven)).unreadable == TOO_SMALL
    readable = [[(140 + (x - 140) * 0.6, 140 + (y - 140) * 0.6) for x, y in [(75, 60), (205, 60), (115, 235)]]]
    assert preprocess_drawing(hand_drawn.render(readable)).unreadable is None


def test_hair_thin_strokes_are_too_thin_to_read() -> None:
    drawing = preprocess_drawing(hand_drawn.render(hand_drawn.HAIRLINE_ONE, pen=5))
    assert drawing.unreadable == TOO_THIN and drawing.stroke_px < MIN_STROKE_PX
    assert preprocess_drawing(hand_drawn.render(hand_drawn.HAIRLINE_ONE)).unreadable is None  # default pen


def test_genuine_digits_drawn_at_any_size_are_never_unreadable() -> None:
    images = raw_test_set("MNIST")[0]
    rng = np.random.default_rng(7)
    widths = []
    for index in rng.choice(len(images), size=500, replace=False):
        size = int(rng.integers(84, CANVAS + 1))
        top, left = (int(v) for v in rng.integers(0, CANVAS - size + 1, size=2))
        drawing = preprocess_drawing(on_canvas(images[index], size, top, left))
        assert drawing.unreadable is None, (index, size, drawing.stroke_px)
        widths.append(drawing.stroke_px)
    # MNIST's own strokes, scaled into the 20 px box, are 2-8 px wide: far from both limits.
    assert MIN_STROKE_PX * 3 < min(widths) and max(widths) < MAX_STROKE_PX


def test_fashion_items_are_solid_shapes_not_unreadable_marks() -> None:
    coat = np.zeros((CANVAS, CANVAS), np.uint8)
    coat[40:240, 60:220] = 255  # a filled shape, as wide as it is long
    drawing = preprocess_drawing(coat, layout="fashion")
    assert drawing.unreadable is None and not drawing.empty
