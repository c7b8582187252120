"""The Draw page in a real Chromium: genuine MNIST test digits traced with the mouse, hand-drawn strokes, clearing
the canvas, uploads good and bad, and the page on a 390x844 touch phone (Clear, Undo, where the prediction sits)."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

import hand_drawn
from browser_support import (
    UI_TIMEOUT_MS,
    digit_strokes,
    draw_strokes,
    main,
    mnist_test_digit,
    open_page,
    screenshot,
    wait_for_idle,
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
    except PlaywrightError:  # redrawn by a rerun between count() and inner_text(): ask again on the next poll
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
    # .first: while a rerun replaces the chart, the old one can linger a moment beside the new.
    chart = main(page).locator('[data-testid="stPlotlyChart"]').filter(has_text="Softmax probabilities").first
    expect(chart).to_be_visible()
    # Ten bars, one per class: plotly draws each as a path inside the chart's bar layer.
    expect(chart.locator(".barlayer .point")).to_have_count(10)


def canvas(page):
    return page.locator("canvas.upper-canvas")


def page_button(page, label: str):
    """The page's Clear or Undo button, by its widget key (the canvas's own hidden toolbar has an Undo too)."""
    return main(page).locator(f".st-key-draw_{label.lower()}").get_by_role("button", name=label, exact=True)


def clear_canvas(page) -> None:
    """The page's own Clear button below the canvas (the canvas's hover-only toolbar is hidden)."""
    page_button(page, "Clear").click()
    expect(main(page).locator(".st-key-mouse_draw_hint").get_by_text(HINT)).to_be_visible()  # a mouse: its wording
    expect(prediction(page)).to_have_count(0)


def expect_hint(page) -> None:
    # Two wordings, for a mouse and for a finger: the browser shows the one for its pointer (app/page_style.py).
    # Polled, not `expect`: while a page first renders, both can show a moment before the page's style applies,
    # and a locator matching two elements fails `expect` at once (Playwright's strict mode; seen in CI).
    shown = main(page).get_by_text(HINT).locator("visible=true")
    wait_until(lambda: shown.count() == 1, 30, lambda: f"{shown.count()} wordings of the hint shown, not one")
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

    # A "photo" of a digit on paper: a genuine MNIST 3, dark ink on a light background, 4x larger. The second 3
    # of the test set: the first is itself less typical than 97.5% of the validation digits, so the page rightly
    # calls its answer a guess (see mnist_core/typicality.py).
    three = 255 - np.kron(mnist_test_digit(3, nth=1), np.ones((4, 4), np.uint8))
    uploader.set_input_files(files=[{"name": "three.png", "mimeType": "image/png", "buffer": png_of(three)}])
    expect(main(page).get_by_text("Reading the uploaded image")).to_be_visible()
    expect(error).to_have_count(0)
    expect_prediction(page, "3")
    screenshot(page, "draw", "photo-upload")


# -- a phone ----------------------------------------------------------------------------------------------

PHONE = {"width": 390, "height": 844}
# The top bar of a 7, drawn after a "1": the two strokes read as 7, the bar undone reads as 1 again.
SEVEN_BAR = [[(75, 45), (140, 45)]]


@pytest.fixture
def phone(chromium, app_server):
    """A touch phone's browser (390x844, touch, mobile), English."""
    context = chromium.new_context(viewport=PHONE, has_touch=True, is_mobile=True, device_scale_factor=2,
                                   base_url=app_server.url, locale="en-US")
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    yield page
    context.close()


def touch_strokes(page, target, strokes) -> None:
    """Draw each stroke with a finger: real touch events (touchStart, touchMove..., touchEnd) through the DevTools
    protocol, as a phone's browser sends them. The canvas is first scrolled to the middle of the screen: the
    app's header floats over the top of the viewport and would take the touches there."""
    centre(target)
    box = target.bounding_box()
    assert box, "the drawing canvas is not on screen"
    session = page.context.new_cdp_session(page)
    for stroke in strokes:
        points = [(box["x"] + x, box["y"] + y) for x, y in stroke]
        session.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": points[0][0],
                                                                                          "y": points[0][1]}]})
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            for step in range(1, 9):
                x, y = x0 + (x1 - x0) * step / 8, y0 + (y1 - y0) * step / 8
                session.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    session.detach()


def centre(element) -> None:
    element.evaluate("element => element.scrollIntoView({block: 'center'})")


def toolbar_display(page) -> list[str]:
    """The computed display of the canvas's own toolbar, found inside the component's shadow root."""
    return page.evaluate("""() => [...document.querySelectorAll("*")].filter((el) => el.shadowRoot)
        .flatMap((el) => [...el.shadowRoot.querySelectorAll(".dc-toolbar")])
        .map((bar) => getComputedStyle(bar).display)""")


def test_on_a_phone_clear_and_undo_are_visible_and_the_prediction_sits_under_the_canvas(phone) -> None:
    open_page(phone, "/draw", "Draw a digit")
    pad = canvas(phone)
    clear, undo = page_button(phone, "Clear"), page_button(phone, "Undo")
    expect(clear).to_be_visible()
    expect(undo).to_be_visible()
    # The hover-only toolbar (invisible on touch, yet tappable over the canvas's top edge) is gone.
    wait_until(lambda: toolbar_display(phone) == ["none"], 20, lambda: f"toolbar display: {toolbar_display(phone)}")

    touch_strokes(phone, pad, HAND_ONE)
    expect_prediction(phone, "1")
    canvas_box, clear_box = pad.bounding_box(), clear.bounding_box()
    assert clear_box["y"] >= canvas_box["y"] + canvas_box["height"], "Clear overlaps the canvas"
    metric_box = prediction(phone).bounding_box()
    gap = metric_box["y"] - (canvas_box["y"] + canvas_box["height"])
    assert 0 <= gap <= 220, f"the prediction is {gap:.0f} px below the canvas"
    centre(pad)
    screenshot(phone, "draw", "phone-1")

    touch_strokes(phone, pad, SEVEN_BAR)
    expect_prediction(phone, "7")
    undo.tap()
    expect_prediction(phone, "1")  # the bar is gone, the 1 stays
    centre(pad)
    screenshot(phone, "draw", "phone-undone")
    clear.tap()
    expect_hint(phone)
    touch_strokes(phone, pad, HAND_SEVEN)  # the canvas still draws after a Clear
    expect_prediction(phone, "7")


def test_a_letter_is_not_shown_as_a_confident_digit_and_the_network_can_be_looked_into(page) -> None:
    open_page(page, "/draw", "Draw a digit")
    draw_strokes(page, canvas(page), hand_drawn.LETTER_A)
    value = prediction(page).locator('[data-testid="stMetricValue"]')
    expect(value).to_have_text("?")
    expect(main(page).get_by_text("This does not look like the digits the model learned from")).to_be_visible()
    screenshot(page, "draw", "letter-a")
    clear_canvas(page)
    draw_strokes(page, canvas(page), hand_drawn.DOT)
    expect(main(page).get_by_text("Too small to read")).to_be_visible()
    expect(prediction(page)).to_have_count(0)
    clear_canvas(page)
    draw_strokes(page, canvas(page), HAND_SEVEN)
    expect_prediction(page, "7")
    main(page).get_by_text("Look inside the network").click()
    expect(main(page).get_by_text("Convolution block 2: 32 feature maps of 7×7")).to_be_visible()
    wait_for_idle(page)
    inside = main(page).locator('[data-testid="stExpander"]').filter(has_text="Look inside the network")
    images = inside.locator("img")
    expect(images).to_have_count(16 + 16 + 32)  # the first layer's filters, block 1's and block 2's maps
    page.wait_for_function("""() => [...document.querySelectorAll('[data-testid="stExpander"] img')]
        .every((image) => image.complete && image.naturalWidth > 0)""")
    screenshot(page, "draw", "look-inside", show=main(page).get_by_text("Look inside the network"))


def test_a_text_file_upload_says_why_on_screen(page) -> None:
    open_page(page, "/draw", "Draw a digit")
    uploader = main(page).locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.set_input_files(files=[{"name": "notes.txt", "mimeType": "text/plain",
                                     "buffer": b"these are my lecture notes\n"}])
    error = main(page).locator('[data-testid="stAlertContentError"]')
    expect(error).to_contain_text("notes.txt is not an image. Upload a photo of a digit saved as PNG or JPEG.")
    screenshot(page, "draw", "text-upload", show=error)
