"""The class's quotas and a diverged run in a real Chromium: a student hammering "Start training" gets at most the
quota of runs waiting and is told why; a run whose loss blew up is explained to its owner with its loss chart, and
harms no page of a new student (Train, Compare, Draw).

This module starts its own app server with one training worker: a long run holds it, so the quick Starts all stay
queued (none can finish and free a place while the student clicks) and the count is exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from app.identity import COOKIE, owner_id_of
from mnist_core.runs.class_rules import ClassRules
from mnist_core.runs.store import RunStore

from browser_support import (
    AppServer,
    assert_no_traceback,
    fill_field,
    heading,
    main,
    open_page,
    own_app_server,
    screenshot,
    select_option,
    wait_for_idle,
    wait_until,
)

pytestmark = pytest.mark.browser

QUOTA = ClassRules().max_active_runs  # a server without a teacher keeps the default quotas
CLICKS = 12
TINY_FORM = {"Hidden layers": "32", "Epochs": "1", "Training images (0 = all)": "2000", "Validation images": "500"}
BLOCKER = "quota blocker"
# Tens of minutes of training (batches of 10, 100 epochs): it holds the worker until the test stops it.
BLOCKER_FORM = {"Batch size": "10", "Epochs": "100", "Run name (optional)": BLOCKER}
DIVERGED = "lr 10 diverges"
FINISH_TIMEOUT_S = 300
EXCEPTION = '[data-testid="stException"]'


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """This module's own server with a single worker (overrides the session-wide `app_server`)."""
    yield from own_app_server(tmp_path_factory, "quotas_app", {"MNIST_PLAYGROUND_MAX_JOBS": "1"})


def owner_of(page) -> str:
    """The owner id of the student in this browser (the app keeps their secret token in a cookie)."""
    token = wait_until(lambda: next((c["value"] for c in page.context.cookies() if c["name"] == COOKIE), None), 30,
                       "the page never stored the student's token in its cookie")
    return owner_id_of(token)


def expect_shown_run(page, name: str) -> None:
    expect(page.get_by_label("Show run", exact=True)).to_have_value(re.compile("^" + re.escape(name) + " — "))


def no_exception(page, where: str) -> None:
    wait_for_idle(page)
    assert page.locator(EXCEPTION).count() == 0, f"{where}: {page.locator(EXCEPTION).first.inner_text()[:2000]}"
    assert_no_traceback(page, where)


def test_quick_starts_store_at_most_the_quota_and_say_why(new_page, run_store: RunStore) -> None:
    other, page = new_page(), new_page()
    # Another student's long run takes the only worker, so none of the quick runs can finish and free a place.
    open_page(other, "/train?lang=en", "Train a network")
    for label, value in BLOCKER_FORM.items():
        fill_field(other, label, value)
    wait_for_idle(other)
    other.get_by_role("button", name="Start training").click()
    expect_shown_run(other, BLOCKER)
    wait_until(lambda: [r for r in run_store.list_runs() if r.name == BLOCKER and r.status == "running"], 120,
               "the blocking run never started training")

    open_page(page, "/train?lang=en", "Train a network")
    for label, value in TINY_FORM.items():
        fill_field(page, label, value)
    wait_for_idle(page)
    start = page.get_by_role("button", name="Start training")
    for _ in range(CLICKS):  # as fast as the browser clicks, without waiting for the page in between
        start.click()
    wait_for_idle(page)
    no_exception(page, "train after quick starts")
    student = owner_of(page)

    def mine() -> list:
        return [r for r in run_store.list_runs() if r.owner_id == student]

    assert len(mine()) <= QUOTA, [(r.id, r.status) for r in mine()]
    # Streamlit merges the clicks that arrive while the page is still running into one rerun, so the quick
    # clicks may have started fewer than QUOTA + 1 runs: the student goes on clicking, one rerun at a time.
    refusal = main(page).get_by_text(f"At most {QUOTA} of your runs can be training or waiting at once")
    for _ in range(QUOTA + 1):
        if refusal.count():
            break
        start.click()
        wait_for_idle(page)
    expect(refusal).to_be_visible()
    no_exception(page, "train after the refusal")
    # None of them could train (the worker is busy), so every refused Start would have been one over the quota.
    assert len(mine()) == QUOTA and {r.status for r in mine()} == {"queued"}, [(r.id, r.status) for r in mine()]
    screenshot(page, "quotas", "quick-starts-refused", show=refusal)

    # The long run is stopped, so the queued runs (and the next test's) get the worker.
    main(other).get_by_role("button", name="Stop").click()
    wait_until(lambda: all(r.status == "stopped" for r in run_store.list_runs() if r.name == BLOCKER), 120,
               "the blocking run did not stop")


def select_in_multiselect(page, label: str, name: str) -> None:
    """Pick the option starting with `name` in the st.multiselect labelled `label`, as a student does: typed and
    clicked (taken out first when the page chose it by default, so the pick itself is what is tested)."""
    box = main(page).locator('[data-testid="stMultiSelect"]').filter(has=page.get_by_label(label, exact=True))
    expect(box).to_be_visible()
    chips = box.locator("[data-tag]")
    chosen = chips.filter(has_text=re.compile("^" + re.escape(name)))
    if chosen.count():
        chosen.get_by_role("button").click()
        wait_until(lambda: not chosen.count(), 30, f"{name!r} could not be taken out of {label!r}")
        wait_for_idle(page)
    field = page.get_by_label(label, exact=True)
    field.click()
    field.fill(name)
    page.get_by_role("option", name=re.compile("^" + re.escape(name))).first.click()
    page.keyboard.press("Escape")
    wait_for_idle(page)
    wait_until(lambda: any(t.startswith(name) for t in chips.all_inner_texts()), 30,
               lambda: f"{name!r} was not added to {label!r}: {chips.all_inner_texts()}")


def model_choices(page) -> list[str]:
    """The options of Draw's "Model" picker (a popover: opened, read, closed)."""
    page.get_by_label("Model", exact=True).click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    names = options.all_inner_texts()
    page.keyboard.press("Escape")
    return names


def test_a_diverged_run_is_explained_to_its_owner_and_breaks_no_page(new_page, run_store: RunStore) -> None:
    owner, newcomer = new_page(), new_page()
    open_page(owner, "/train?lang=en", "Train a network")
    select_option(owner, "Preset", "mlp-3")
    select_option(owner, "Optimizer", "momentum")
    for label, value in {"Learning rate": "10", "Epochs": "1", "Run name (optional)": DIVERGED}.items():
        fill_field(owner, label, value)
    wait_for_idle(owner)
    owner.get_by_role("button", name="Start training").click()
    expect_shown_run(owner, DIVERGED)
    failed = wait_until(lambda: next((r for r in run_store.list_runs() if r.name == DIVERGED and not r.is_active),
                                     None), FINISH_TIMEOUT_S, "the lr 10 run never ended")
    assert failed.status == "failed" and failed.failure.kind == "diverged", (failed.status, failed.failure)
    assert (failed.config.optimizer, failed.config.lr, failed.config.hidden) == ("momentum", 10.0, (256, 256))

    # Its owner: why it failed, in words, and the loss chart up to where the loss stopped being a number.
    expect(main(owner).get_by_text("no longer a number")).to_be_visible(timeout=FINISH_TIMEOUT_S * 1000)
    loss_chart = main(owner).locator('[data-testid="stPlotlyChart"]').filter(has_text="Training loss per iteration")
    expect(loss_chart).to_be_visible()
    expect(main(owner).get_by_text("ended before its first epoch did")).to_be_visible()
    assert "appears when the first epoch ends" not in main(owner).inner_text()
    no_exception(owner, "owner's train")
    screenshot(owner, "quotas", "diverged-owner", show=heading(owner, "Runs"))

    # A new student: Train shows them the class's newest run (Everyone's), this one, without an exception.
    open_page(newcomer, "/train?lang=en", "Train a network")
    expect_shown_run(newcomer, DIVERGED)
    expect(main(newcomer).get_by_text("no longer a number")).to_be_visible()
    no_exception(newcomer, "newcomer's train")
    screenshot(newcomer, "quotas", "diverged-newcomer", show=heading(newcomer, "Runs"))

    open_page(newcomer, "/compare?lang=en", "Compare runs")
    select_in_multiselect(newcomer, "Runs to compare", DIVERGED)
    no_exception(newcomer, "newcomer's compare")
    screenshot(newcomer, "quotas", "diverged-compare", show=heading(newcomer, "Runs"))

    # Draw offers only runs with trained weights: a failed run's (NaN) weights are never a model to draw with.
    open_page(newcomer, "/draw?lang=en", "Draw a digit")
    choices = model_choices(newcomer)
    assert choices and not [c for c in choices if c.startswith(DIVERGED)], choices
    assert DIVERGED not in main(newcomer).inner_text()
    no_exception(newcomer, "newcomer's draw")
