"""The Draw page in a real Chromium: genuine MNIST test digits traced with the mouse, hand-drawn strokes, clearing
the canvas, and uploads good and bad."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from browser_support import (
    UI_TIMEOUT_MS,
    digit_strokes,
    draw_strokes,
    main,
    mnist_test_digit,
    open_page,
    screenshot,
    wait_until,
)

pytestmark = pytest.mark.browser

HINT = "Nothing drawn yet"
# A plain vertical bar, and a bar with a diagonal drawn without lifting the pen: how people write "1" and "7".
HAND_ONE = [[(140, 45), (140, 235)]]
HAND_SEVEN = [[(75, 60), (205, 60), (115, 235)]]


def prediction(page):
    return main(page).locator('[data-testid="stMetric"]').filter(has_text="Prediction")


def predicted_label(page) -> str | None:
    metric = prediction(page)
    if metric.count() == 0:
        return None
    try:
        return metric.locator('[data-testid="stMetricValue"]').inner_text(timeout=2000).strip()
    except Exception:  # redrawn by a rerun between count() and inner_text(): ask again on the next poll
        return None


def expect_prediction(page, label: str) -> None:
    """The Prediction metric shows `label` on two reads a second apart: each stroke's mouse-up starts a rerun,
    so an early read may still show the guess for a half-drawn digit."""
    seen: list[str | None] = []

    def settled() -> bool:
        seen.append(predicted_label(page))
        return seen[-2:] == [label, label]

    wait_until(settled, UI_TIMEOUT_MS / 1000, lambda: f"expected the prediction {label!r}; the page showed "
               f"{seen[-5:]} (last reads)", interval_s=1.0)
    chart = main(page).locator('[data-testid="stPlotlyChart"]').filter(has_text="Softmax probabilities")
    expect(chart).to_be_visible()
    # Ten bars, one per class: plotly draws each as a path inside the chart's bar layer.
    expect(chart.locator(".barlayer .point")).to_have_count(10)


def canvas(page):
    return page.locator("canvas.upper-canvas")


def clear_canvas(page) -> None:
    """The canvas toolbar's bin ("Reset canvas & history"); it shows when the pointer is over the canvas."""
    canvas(page).hover()
    page.get_by_role("button", name="Reset canvas & history").click()
    expect(main(page).get_by_text(HINT)).to_be_visible()
    expect(prediction(page)).to_have_count(0)


def expect_hint(page) -> None:
    expect(main(page).get_by_text(HINT)).to_be_visible()
    expect(prediction(page)).to_have_count(0)


@pytest.mark.parametrize("label", [1, 7])
def test_tracing_a_genuine_mnist_digit_predicts_its_label(page, label: int) -> None:
    open_page(page, "/draw", "Draw a digit")
    expect_hint(page)
    draw_strokes(page, canvas(page), digit_strokes(mnist_test_digit(label)))
    expect_prediction(page, str(label))
    screenshot(page, "draw", f"traced-{label}")
    clear_canvas(page)
    screenshot(page, "draw", f"cleared-after-{label}")


def test_hand_drawn_one_and_seven(page) -> None:
    open_page(page, "/draw", "Draw a digit")
    draw_strokes(page, canvas(page), HAND_ONE)
    expect_prediction(page, "1")
    clear_canvas(page)
    draw_strokes(page, canvas(page), HAND_SEVEN)
    expect_prediction(page, "7")
    screenshot(page, "draw", "hand-7")
    clear_canvas(page)


def png_of(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_uploads_a_photo_and_refuses_a_file_that_is_not_an_image(page) -> None:
    open_page(page, "/draw", "Draw a digit")
    uploader = main(page).locator('[data-testid="stFileUploaderDropzoneInput"]')
    # Text saved under an image's name: what a student gets by renaming notes.txt, or a broken download.
    uploader.set_input_files(files=[{"name": "digit.png", "mimeType": "image/png",
                                     "buffer": b"these are my lecture notes, not a picture\n"}])
    error = main(page).locator('[data-testid="stAlertContentError"]')
    expect(error).to_contain_text("Could not read the uploaded file", timeout=UI_TIMEOUT_MS)
    expect(prediction(page)).to_have_count(0)
    screenshot(page, "draw", "bad-upload")

    # A "photo" of a digit on paper: a genuine MNIST 3, dark ink on a light background, 4x larger.
    three = 255 - np.kron(mnist_test_digit(3), np.ones((4, 4), np.uint8))
    uploader.set_input_files(files=[{"name": "three.png", "mimeType": "image/png", "buffer": png_of(three)}])
    expect(main(page).get_by_text("Reading the uploaded image")).to_be_visible()
    expect(error).to_have_count(0)
    expect_prediction(page, "3")
    screenshot(page, "draw", "photo-upload")
