"""Every page in a real Chromium: each opens by its URL path without a traceback, and bad input gives a message
(the Draw page's bad upload is in test_browser_draw.py)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from browser_support import fill_field, main, nav_to, open_page, screenshot, wait_for_idle

pytestmark = pytest.mark.browser

PAGES = {"/": "MNIST Playground", "/train": "Train a network", "/draw": "Draw a digit", "/compare": "Compare runs"}


@pytest.mark.parametrize("path", list(PAGES))
def test_each_page_opens_by_its_url_without_a_traceback(page, path: str) -> None:
    open_page(page, path, PAGES[path])  # waits for the script run to end, then checks for a traceback
    if path == "/":
        expect(main(page).locator('[data-testid="stImage"] img')).to_have_count(20)  # the samples, loaded
    screenshot(page, "pages", path.strip("/") or "home")  # checks once more, as the page looks now


def test_home_shows_real_samples_and_links_to_every_page(page, run_store) -> None:
    open_page(page, "/", "MNIST Playground")
    images = main(page).locator('[data-testid="stImage"]')
    expect(images).to_have_count(20)
    # Each link is one step in the browser's history: one press of Back returns Home. Streamlit drops the query
    # string on a page change; the language rides along in every link, so no page has to write it back (each write
    # would be one more step to go back through). Who the student is never does: it stays in a cookie.
    for link, heading in (("Train a network", "Train a network"), ("Draw a digit", "Draw a digit"),
                          ("Compare runs", "Compare runs")):
        main(page).get_by_role("link", name=link).click()
        expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
        wait_for_idle(page)
        expect(page).to_have_url(re.compile(r"[?&]lang=en"))
        assert "me=" not in page.url and "who=" not in page.url
        page.go_back()
        expect(page.get_by_role("heading", name="MNIST Playground", exact=True).first).to_be_visible()
    # The sidebar's menu too: Train, Draw, then Back twice.
    for link, heading in (("Train", "Train a network"), ("Draw", "Draw a digit")):
        nav_to(page, link, heading)
    page.go_back()
    expect(page.get_by_role("heading", name="Train a network", exact=True).first).to_be_visible()
    page.go_back()
    expect(page.get_by_role("heading", name="MNIST Playground", exact=True).first).to_be_visible()


def test_bad_training_settings_give_a_message_not_a_traceback(page) -> None:
    open_page(page, "/train", "Train a network")
    fill_field(page, "Hidden layers", "256, lots")
    page.get_by_role("button", name="Start training").click()  # no "Update preview" any more: widgets are live
    problems = main(page).locator('[data-testid="stAlertContentError"]')
    expect(problems).to_contain_text("Training did not start. Fix these settings first")
    expect(problems).to_contain_text("Hidden layers")
    screenshot(page, "pages", "train-bad-settings", show=problems)
