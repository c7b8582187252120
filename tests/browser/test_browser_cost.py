"""Train in a real Chromium: a run too big for the server is refused on screen, in words naming the setting to
change, before and after Start, and Start stores no run."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from mnist_core.runs.store import RunStore

from browser_support import fill_field, main, open_page, screenshot, select_option, wait_for_idle

pytestmark = pytest.mark.browser


def test_a_run_too_big_for_the_server_is_refused_on_screen_and_not_started(page, run_store: RunStore) -> None:
    open_page(page, "/train", "Train a network")
    select_option(page, "Preset", "lenet")
    fill_field(page, "Batch size", "55000")  # full-batch gradient descent
    fill_field(page, "Convolution channels", "256, 256")  # the widest convolutions allowed
    wait_for_idle(page)
    errors = main(page).locator('[data-testid="stAlertContentError"]')
    refusal = errors.filter(has_text=re.compile("^This run needs about"))
    expect(refusal).to_contain_text(re.compile(r"This run needs about [\d,.]+ GB of memory, more than the [\d,.]+ "
                                               r"[GM]B one run may use on this server: make Batch size smaller\."))
    expect(refusal.locator("strong")).to_have_text("Batch size")  # the setting, as its box is labelled
    screenshot(page, "cost", "refused-before-start", show=refusal)

    runs_before = len(run_store.list_runs())
    page.get_by_role("button", name="Start training").click()
    wait_for_idle(page)
    refused_start = errors.filter(has_text="Could not start the run")
    expect(refused_start).to_contain_text("make Batch size smaller")
    screenshot(page, "cost", "refused-at-start", show=refused_start)
    assert len(run_store.list_runs()) == runs_before  # nothing stored, nothing queued
    expect(main(page).get_by_role("progressbar")).to_have_count(0)  # no live run view either
