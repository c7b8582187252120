"""The app on a Korean student's phone (390x844, ko-KR, touch) and, for contrast, on an English laptop: the texts fit
the device (a finger is not told to release a mouse button, nor to drag a file), Streamlit's own uploader texts are
in the student's language, the Draw page's answer stays in view beside Clear and Undo while drawing, and plotly's
toolbar does not lie over a chart's title or legend on a small screen. Screenshots of the phone pages go to
artifacts/screenshots/phone-*.png (copied to docs/screenshots for the README)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app_harness import QUICK, train_run
from browser_support import (
    UI_TIMEOUT_MS,
    digit_strokes,
    draw_strokes,
    main,
    mnist_test_digit,
    screenshot,
    wait_for_heading,
    wait_for_idle,
    wait_until,
)

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "ko-KR", "has_touch": True, "is_mobile": True}
LAPTOP = {"viewport": {"width": 1400, "height": 1000}, "locale": "en-US"}
# Any of Streamlit's own uploader texts, which are English whatever the page's language.
STREAMLIT_UPLOADER_TEXTS = ("Upload", "Browse files", "Drag and drop file here", "per file")
MODEBARS_SHOWN = """() => [...document.querySelectorAll('.modebar-container')]
                        .filter(bar => getComputedStyle(bar).display !== 'none').length"""


@pytest.fixture
def device(chromium, app_server):
    """A page in a fresh browser context for a device (PHONE, LAPTOP); the contexts close after the test."""
    contexts = []

    def make(settings: dict):
        context = chromium.new_context(base_url=app_server.url, **settings)
        context.set_default_timeout(UI_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def finished_run(app_server) -> int:
    """A real finished run, so Train and Compare have charts to show."""
    from mnist_core.runs.store import RunStore

    return train_run(RunStore(app_server.runs_dir), app_server.data_dir, QUICK.replace(optimizer="adam"),
                     name="폰 실행 (Adam)")


def visible_text(locator) -> str:
    """What the reader sees of an element, CSS-generated text (::after) included."""
    return locator.evaluate("""element => [element, ...element.querySelectorAll('*')].map(e => {
        const after = getComputedStyle(e, '::after').content;
        const own = [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('');
        const shown = e.checkVisibility ? e.checkVisibility() : true;
        return (shown ? own : '') + (shown && after && after !== 'none' ? after.replace(/^"|"$/g, '') : '');
    }).join(' ')""")


def in_view(page, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= page.viewport_size["height"]


def test_drawing_on_a_korean_phone_keeps_the_answer_in_view_in_words_for_a_finger(device) -> None:
    page = device(PHONE)
    page.goto("/draw")
    wait_for_heading(page, "숫자 그리기")
    wait_for_idle(page)
    assert page.evaluate("matchMedia('(pointer: coarse)').matches")  # the emulated phone has a finger
    # The empty canvas's hint speaks of a finger; the mouse's wording is not shown.
    expect(main(page).get_by_text("손가락으로 숫자를 크게 쓰고 손가락을 떼세요", exact=False)).to_be_visible()
    expect(main(page).get_by_text("마우스 버튼을 떼세요", exact=False)).to_be_hidden()
    # Streamlit's uploader: its English texts hidden, the page's Korean ones shown (no dragging on a phone).
    uploader = main(page).locator('[data-testid="stFileUploaderDropzone"]')
    uploader.scroll_into_view_if_needed()
    shown = visible_text(uploader)
    assert "사진 올리기" in shown and "파일 하나에 최대 5MB" in shown, shown
    assert not any(text in shown for text in STREAMLIT_UPLOADER_TEXTS), shown
    assert "끌어다" not in shown, shown
    screenshot(page, "phone", "draw-empty", show=main(page).get_by_role("heading", name="숫자 그리기"))

    # A real MNIST 7, drawn: the answer beside Clear and Undo is on screen with the canvas, no scrolling.
    canvas = page.locator("canvas.upper-canvas")
    draw_strokes(page, canvas, digit_strokes(mnist_test_digit(7)))
    answer = main(page).locator(".st-key-phone_draw_answer")
    expect(answer).to_contain_text("예측: 7", timeout=UI_TIMEOUT_MS)
    assert in_view(page, answer) and in_view(page, canvas), (answer.bounding_box(), canvas.bounding_box())
    # Further down, the softmax chart: no toolbar over its title on a phone.
    chart = main(page).locator('[data-testid="stPlotlyChart"]').first
    chart.scroll_into_view_if_needed()
    wait_until(lambda: page.locator(".modebar-container").count() > 0, 30, "the softmax chart was not drawn")
    chart.hover()
    assert page.evaluate(MODEBARS_SHOWN) == 0
    page.evaluate("document.querySelector('.st-key-draw_clear').scrollIntoView({block: 'end'})")
    screenshot(page, "phone", "draw-seven")


def test_a_laptop_keeps_the_mouse_wording_and_the_chart_toolbar(device) -> None:
    page = device(LAPTOP)
    page.goto("/draw")
    wait_for_heading(page, "Draw a digit")
    wait_for_idle(page)
    expect(main(page).get_by_text("and lift the mouse", exact=False)).to_be_visible()
    expect(main(page).get_by_text("with your finger", exact=False)).to_be_hidden()
    expect(main(page).locator(".st-key-phone_draw_answer")).to_be_hidden()  # the full answer is beside the canvas
    shown = visible_text(main(page).locator('[data-testid="stFileUploaderDropzone"]'))
    assert "Upload" in shown and "Drag and drop a file here · at most 5 MB per file" in shown, shown
    draw_strokes(page, page.locator("canvas.upper-canvas"), digit_strokes(mnist_test_digit(7)))
    chart = main(page).locator('[data-testid="stPlotlyChart"]').first
    expect(chart).to_be_visible()
    wait_until(lambda: page.locator(".modebar-container").count() > 0, 30, "the softmax chart was not drawn")
    assert page.evaluate(MODEBARS_SHOWN) > 0  # a laptop keeps zoom and download


@pytest.mark.parametrize(("path", "title"), [("/", "MNIST Playground"), ("/train", "신경망 학습하기"),
                                             ("/compare", "실행 비교")])
def test_the_phone_pages_show_no_chart_toolbar(device, finished_run: int, path: str, title: str) -> None:
    page = device(PHONE)
    page.goto(path)
    wait_for_heading(page, title)
    wait_for_idle(page)
    if path == "/":  # Home's way into Draw speaks of a finger on a phone
        expect(main(page).get_by_text("손가락으로 숫자를 쓰고", exact=False)).to_be_visible()
        expect(main(page).get_by_text("마우스로 숫자를 쓰고", exact=False)).to_be_hidden()
    else:  # Train shows the finished run's curves, Compare the runs' curves: charts to check
        expect(main(page).locator(".js-plotly-plot").first).to_be_visible()
        wait_until(lambda: page.locator(".modebar-container").count() > 0, 30, "no plotly chart was drawn")
        wait_for_idle(page)
    for chart in main(page).locator('[data-testid="stPlotlyChart"]').all()[:3]:
        chart.scroll_into_view_if_needed()
        chart.tap()
    assert page.evaluate(MODEBARS_SHOWN) == 0
    name = path.strip("/") or "home"
    screenshot(page, "phone", name, show=main(page).get_by_role("heading", name=title).first)
    if path != "/":  # the first chart whole, its title and legend clear of any toolbar
        main(page).locator('[data-testid="stPlotlyChart"]').first.evaluate(
            "chart => chart.scrollIntoView({block: 'center'})")
        screenshot(page, "phone", f"{name}-chart")
