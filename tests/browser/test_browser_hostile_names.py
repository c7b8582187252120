"""User text is text, in a real Chromium: student A names runs with a link, an image, display math, a colour
directive and a 60 px HTML link (and has a name full of markup, as an older database may hold); classmate B sees
them as typed in the sidebar, on Train, Compare (legend, table, class board) and Draw, and none of them acts:
no link to A's site, no image from another host, no KaTeX, no 60 px text. B's uploaded file's name is text too.

A's runs are made in the server's own store (A needs no browser); B is a fresh browser, so B sees everyone's runs.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from app.user_text import WORD_JOINER
from mnist_core.runs.permissions import Actor
from mnist_core.runs.store import RunStore

from app_harness import QUICK, hold_in_line, train_run
from browser_support import AppServer, main, mnist_test_digit, open_page, screenshot, sidebar, wait_for_idle, wait_until

pytestmark = pytest.mark.browser

# The name, in two runs: a run name has at most 120 characters (mnist_core.runs.names).
RUN_NAMES = (r"[prize](http://example.invalid) <img src=http://127.0.0.1:9/x.png> $$\int_0^1 x^2 dx$$ :red[red]",
             '<a href="http://example.invalid" target=_blank style="font-size:60px">big</a> =1+1')
OWNER = "[A](http://example.invalid) :blue[A] $x$ **A**"
UPLOAD_NAME = "[photo](http://example.invalid) :smile: $$y$$.png"
# Everything on the page that would mean a name acted as markup; each query finds them in an unescaped page.
MARKUP_FOUND = """() => ({
    links: [...document.querySelectorAll('a')].filter(a => ((a.getAttribute('href') || '')
        + (a.getAttribute('xlink:href') || '')).includes('example.invalid')).length,
    images: document.querySelectorAll('img[src*="127.0.0.1:9"]').length,
    katex: document.querySelectorAll('.katex').length,
    colored: document.querySelectorAll('.stMarkdownColoredText').length,
    big: [...document.querySelectorAll('body *')].filter(e => parseFloat(getComputedStyle(e).fontSize) >= 60).length,
})"""
NO_MARKUP = {"links": 0, "images": 0, "katex": 0, "colored": 0, "big": 0}


@pytest.fixture
def a_runs(app_server: AppServer) -> Iterator[list[int]]:
    """A's two finished runs (two optimizers: two curves), then a race of A's under the same names: one racer
    running, one queued (nothing trains them: they show in every sidebar until the test ends; the queued one is held
    in line, or the server would train it)."""
    store = RunStore(app_server.runs_dir)
    a = Actor("hostile-names-student-a", OWNER)
    finished = [train_run(store, app_server.data_dir, config, name=name, owner=a)
                for config, name in zip((QUICK, QUICK.replace(optimizer="sgd", lr=0.1)), RUN_NAMES, strict=True)]
    racers = [store.create_run(QUICK.replace(optimizer=o), name=name, group_id="hostile-race", owner=a)
              for o, name in zip(("sgd", "momentum"), RUN_NAMES, strict=True)]
    store.set_status(racers[0], "running")
    hold_in_line(store, racers[1])
    yield finished
    for run_id in racers:
        store.set_status(run_id, "stopped")


def shown(locator) -> str:
    """A part of the page as the reader sees it (the word joiners that break autolinks are invisible). A table is
    drawn on a canvas: its text is in the grid's accessible copy of its cells, which is not laid out."""
    is_table = locator.get_attribute("data-testid") == "stDataFrame"
    return (locator.text_content() if is_table else locator.inner_text()).replace(WORD_JOINER, "")


def assert_no_markup(page, where: str) -> None:
    found = page.evaluate(MARKUP_FOUND)
    assert found == NO_MARKUP, f"{where}: a name acted as markup: {found}"


def expect_literal(locator, *texts: str) -> None:
    wait_until(lambda: all(t in shown(locator) for t in texts), 30,
               lambda: f"not shown as typed: {[t for t in texts if t not in shown(locator)]} in {shown(locator)!r}")


def png_of(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_classmates_hostile_names_show_as_typed_and_act_as_nothing(new_page, a_runs: list[int]) -> None:
    b = new_page()
    first, second = a_runs

    open_page(b, f"/train?lang=en&train_scope=everyone&train_selected_run={first}", "Train a network")
    expect_literal(sidebar(b), *RUN_NAMES, OWNER)  # the race's title, its running and its queued run
    expect(b.get_by_label("Show run", exact=True)).to_have_value(RUN_NAMES[0] + " — MNIST, mlp/adam")
    expect_literal(main(b), f"A run of {OWNER}.")
    assert_no_markup(b, "Train")

    open_page(b, f"/compare?lang=en&compare_scope=everyone&compare_runs={first},{second}", "Compare runs")
    legend = main(b).locator(".legendtext")
    expect(legend).to_have_count(4)  # two charts, two runs each
    assert [t.replace(WORD_JOINER, "") for t in legend.all_text_contents()] == [*RUN_NAMES, *RUN_NAMES]
    chart = main(b).locator(".js-plotly-plot").first
    box = chart.locator(".nsewdrag").first.bounding_box()
    b.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # the hover label names the runs too
    tables = main(b).locator('[data-testid="stDataFrame"]')
    expect_literal(tables.first, *RUN_NAMES)  # the comparison table (the grid's accessible copy of its cells)
    expect_literal(tables.last, OWNER)  # the class board
    assert_no_markup(b, "Compare")
    screenshot(b, "hostile_names", "compare-as-b", show=main(b).get_by_text("Loss x axis", exact=True))

    open_page(b, f"/draw?lang=en&draw_scope=everyone&draw_ask_models=default,{first}", "Draw a digit")
    uploader = main(b).locator('[data-testid="stFileUploaderDropzoneInput"]')
    three = 255 - np.kron(mnist_test_digit(3, nth=1), np.ones((4, 4), np.uint8))
    uploader.set_input_files(files=[{"name": UPLOAD_NAME, "mimeType": "image/png", "buffer": png_of(three)}])
    expect_literal(main(b), f"Reading the uploaded image {UPLOAD_NAME}")
    metric_labels = main(b).locator('[data-testid="stMetricLabel"]')
    wait_until(lambda: RUN_NAMES[0] in [t.replace(WORD_JOINER, "").strip() for t in metric_labels.all_inner_texts()],
               60, lambda: f"no answer labelled with the run's name: {metric_labels.all_inner_texts()}")
    b.get_by_label("Model", exact=True).click()  # the picker's options: plain text, the names as typed
    for name in RUN_NAMES:
        expect(b.get_by_role("option").filter(has_text=name)).to_have_count(1)
    b.keyboard.press("Escape")
    wait_for_idle(b)
    assert_no_markup(b, "Draw")
