"""The app in a Korean browser (Chromium with locale ko-KR): every page comes up in Korean without ?lang, with the
course's words; the sidebar's switch to English survives a reload (it is kept in the URL). Screenshots of each
Korean page go to artifacts/screenshots/korean-*.png (README's Korean tour)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app_harness import QUICK, train_run
from browser_support import main, screenshot, sidebar, wait_for_heading, wait_for_idle, wait_until

pytestmark = pytest.mark.browser

# Each page's URL path, its Korean title, and a sentence of its own that must be in Korean.
KOREAN_PAGES = {
    "/": ("MNIST Playground", "신경망이 보는 것"),
    "/train": ("신경망 학습하기", "이 설정의 의미"),
    "/draw": ("숫자 그리기", "여러 모델에게 물어보기"),
    "/compare": ("실행 비교", "옵티마이저 경주"),
}
KOREAN_NAVIGATION = ("홈", "학습", "그리기", "비교")
SAMPLES_LOADED = """() => [...document.querySelectorAll('[data-testid="stImage"] img')]
                         .every(image => image.complete && image.naturalWidth > 0)"""


@pytest.fixture(scope="module")
def finished_runs(app_server) -> list[int]:
    """Two real finished runs with Korean names, so Train shows a run's results and Compare a table and charts."""
    from mnist_core.runs.store import RunStore

    store = RunStore(app_server.runs_dir)
    return [train_run(store, app_server.data_dir, QUICK.replace(optimizer=optimizer), name=name)
            for optimizer, name in (("sgd", "첫 실행 (SGD)"), ("adam", "두 번째 실행 (Adam)"))]


@pytest.mark.parametrize("path", list(KOREAN_PAGES))
def test_each_page_comes_up_in_korean_in_a_korean_browser(new_page, finished_runs: list[int], path: str) -> None:
    page = new_page(locale="ko-KR")
    title, sentence = KOREAN_PAGES[path]
    page.goto(path)  # no ?lang: the browser's language decides
    wait_for_heading(page, title)
    wait_for_idle(page)
    expect(main(page).get_by_text(sentence, exact=True).first).to_be_visible()
    navigation = page.locator('[data-testid="stSidebar"]')
    for link in KOREAN_NAVIGATION:
        expect(navigation.get_by_role("link", name=link, exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(r"[?&]lang=ko(&|$)"))  # written into the URL, so a shared link keeps it
    if path == "/":
        expect(main(page).locator('[data-testid="stImage"] img')).to_have_count(20)
        wait_until(lambda: page.evaluate(SAMPLES_LOADED), 30, lambda: "the sample images did not load")
    screenshot(page, "korean", path.strip("/") or "home")
    if path == "/train":  # what the settings mean (the course's arithmetic), then the finished run's results
        screenshot(page, "korean", "train-meaning", show=main(page).get_by_role("heading", name="이 설정의 의미"))
        screenshot(page, "korean", "train-finished", show=main(page).get_by_role("heading", name="실행 목록"))


def test_switching_to_english_is_kept_after_a_reload(new_page) -> None:
    page = new_page(locale="ko-KR")
    page.goto("/train")
    wait_for_heading(page, "신경망 학습하기")
    wait_for_idle(page)
    sidebar(page).get_by_text("English", exact=True).click()
    wait_for_heading(page, "Train a network")
    wait_for_idle(page)
    expect(page).to_have_url(re.compile(r"[?&]lang=en(&|$)"))
    page.reload()
    wait_for_heading(page, "Train a network")
    wait_for_idle(page)
    expect(main(page).get_by_text("What these settings mean", exact=True)).to_be_visible()
    expect(page.locator('[data-testid="stSidebar"]').get_by_role("link", name="Train", exact=True)).to_be_visible()
    screenshot(page, "korean", "switched-to-english")


def test_an_english_browser_gets_english_and_can_switch_to_korean(new_page) -> None:
    page = new_page(locale="en-US")
    page.goto("/compare")
    wait_for_heading(page, "Compare runs")
    wait_for_idle(page)
    sidebar(page).get_by_text("한국어", exact=True).click()
    wait_for_heading(page, "실행 비교")
    wait_for_idle(page)
    expect(page).to_have_url(re.compile(r"[?&]lang=ko(&|$)"))
