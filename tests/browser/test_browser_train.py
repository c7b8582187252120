"""Train and Compare in a real Chromium: a run trains live (the page redraws itself, no reload), survives a visit
to another page, finishes with test results; a second run is stopped midway; the finished runs are overlaid on
Compare, and an optimizer race runs there.

The tests run in file order and Compare uses the runs the Train tests made; run alone, it trains its own two
small runs through the command line first (the app and the CLI share the run store)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from app.run.texts import run_label
from mnist_core.runs.store import RunStore

from app_harness import mnist_test_digits
from browser_support import (
    PROJECT_DIR,
    UI_TIMEOUT_MS,
    fill_field,
    heading,
    main,
    nav_to,
    open_page,
    screenshot,
    select_option,
    sidebar,
    wait_for_idle,
    wait_until,
)

pytestmark = pytest.mark.browser

LIVE_RUN = "e2e live run"
STOPPED_RUN = "e2e stopped run"
# The course's mlp-3 for a few epochs: long enough to watch (about 15 s on an idle 2-core machine), and made of
# big matrix products, so its duration depends less on how busy the machine is than a small network's
# many tiny iterations do (those vary tenfold with the load).
LIVE = {"Epochs": "8"}
# The run to stop: small batches of a small network, stopped long before its 24,000 iterations.
LONG = {"Hidden layers": "32", "Batch size": "10", "Training images (0 = all)": "8000", "Epochs": "30"}
FINISH_TIMEOUT_S = 400
STOP_AFTER = 300  # iterations


def start_training(page, settings: dict[str, str], name: str) -> None:
    select_option(page, "Preset", "mlp-3")
    for label, value in settings.items():
        fill_field(page, label, value)
    fill_field(page, "Run name (optional)", name)
    page.get_by_role("button", name="Start training").click()
    expect_shown_run(page, name)  # the new run is selected in "Show run"


def expect_shown_run(page, name: str) -> None:
    expect(page.get_by_label("Show run", exact=True)).to_have_value(re.compile("^" + re.escape(name) + " — "))


def loss_chart(page):
    return main(page).locator('[data-testid="stPlotlyChart"]').filter(has_text="Training loss per iteration")


def live_state(page) -> dict | None:
    """What the live view shows now: progress bar value and text, and the loss chart's raw trace (its SVG path
    grows as points arrive). None while the run has not reported an iteration yet."""
    bars = main(page).get_by_role("progressbar")
    if bars.count() == 0 or loss_chart(page).count() == 0:
        return None
    try:
        text = main(page).locator('[data-testid="stProgress"]').first.inner_text(timeout=2000)
        value = int(bars.first.get_attribute("aria-valuenow", timeout=2000) or 0)
        path = loss_chart(page).locator(".scatterlayer path.js-line").first.get_attribute("d", timeout=2000)
    except PlaywrightError:  # the fragment redrew between two reads: read again on the next poll
        return None
    iteration = re.search(r"iteration ([\d,]+)/", text)
    if not iteration or not path:
        return None
    return {"text": text, "value": value, "iteration": int(iteration.group(1).replace(",", "")), "path": path}


def in_view(page, locator) -> bool:
    """Whether the element's top edge is inside the browser window now (not above it, not below the fold)."""
    box = locator.bounding_box()
    return box is not None and 0 <= box["y"] < page.viewport_size["height"] - 100


def test_a_run_trains_live_survives_a_page_change_and_finishes(page) -> None:
    open_page(page, "/train", "Train a network")
    screenshot(page, "train", "form")
    assert not in_view(page, heading(page, "Runs"))  # the run view starts below the settings
    start_training(page, LIVE, LIVE_RUN)
    page.evaluate("window.__e2eNotReloaded = true")  # gone if anything reloads the page
    # Start brings the student down to the run: its heading at the top, the progress and loss chart under it.
    wait_until(lambda: in_view(page, heading(page, "Runs")), 15,
               lambda: f"after Start the run view is not in sight: {heading(page, 'Runs').bounding_box()}")
    wait_until(lambda: loss_chart(page).count() and in_view(page, loss_chart(page).first), 90,
               "the live loss chart never appeared in sight after Start")
    screenshot(page, "train", "landed-on-live-run")

    first = wait_until(lambda: live_state(page), 90, "the live view never showed a progress bar and a loss chart")
    screenshot(page, "train", "live-1", show=heading(page, "Runs"))
    second = wait_until(lambda: (s := live_state(page)) and s["iteration"] > first["iteration"]
                        and s["path"] != first["path"] and s, 60,
                        lambda: f"the live view did not move on from {first['text']!r}; now {live_state(page)}")
    screenshot(page, "train", "live-2", show=heading(page, "Runs"))
    assert second["value"] >= first["value"]
    assert page.evaluate("window.__e2eNotReloaded === true"), "the page reloaded to show the progress"

    # Draw while it trains: the sidebar keeps showing the run's progress on every page.
    nav_to(page, "Draw", "Draw a digit")
    running = sidebar(page).locator('[data-testid="stProgress"]').filter(has_text=LIVE_RUN)
    expect(running).to_be_visible()
    screenshot(page, "train", "sidebar-while-drawing")
    nav_to(page, "Train", "Train a network")
    expect_shown_run(page, LIVE_RUN)

    accuracy = main(page).locator('[data-testid="stMetric"]').filter(has_text="Test accuracy")
    expect(accuracy).to_be_visible(timeout=FINISH_TIMEOUT_S * 1000)
    value = float(accuracy.locator('[data-testid="stMetricValue"]').inner_text().strip().rstrip("%"))
    assert 90 <= value <= 100, f"test accuracy {value}% after {LIVE}"
    expect(main(page).get_by_text("completed", exact=True)).to_be_visible()
    expect(main(page).locator('[data-testid="stPlotlyChart"]').filter(has_text="Accuracy per epoch")).to_be_visible()
    expect(main(page).get_by_text("Misclassified test images")).to_be_visible()
    assert page.evaluate("window.__e2eNotReloaded === true"), "the page reloaded"
    screenshot(page, "train", "finished", show=heading(page, "Runs"))


def test_a_second_run_is_stopped_midway(page, run_store: RunStore) -> None:
    open_page(page, "/train", "Train a network")
    start_training(page, LONG, STOPPED_RUN)
    # Midway: far enough to show on the charts, far from its 24,000 iterations.
    wait_until(lambda: (s := live_state(page)) and s["iteration"] >= STOP_AFTER, 180,
               lambda: f"the second run did not reach iteration {STOP_AFTER}: {live_state(page)}")
    stop = main(page).get_by_role("button", name="Stop")
    stop.click()
    expect(main(page).get_by_text("You stopped this run early")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(main(page).get_by_text("stopped", exact=True)).to_be_visible()
    stopped = next(r for r in run_store.list_runs() if r.name == STOPPED_RUN)
    progress = stopped.progress or {}
    assert stopped.status == "stopped" and stopped.test_accuracy is not None, stopped
    assert 0 < progress.get("iteration", 0) < progress.get("total_iterations", 0), progress
    screenshot(page, "train", "stopped", show=heading(page, "Runs"))


# --- Compare ---------------------------------------------------------------------------------------------


def ensure_two_finished_runs(server, runs: RunStore) -> list[str]:
    """The names of the two newest finished runs; trains two tiny ones through the command line when there are
    fewer (this test run on its own)."""
    finished = runs.list_runs(statuses=("completed", "stopped"))
    env = {**os.environ, "MNIST_PLAYGROUND_DATA": str(server.data_dir), "MNIST_PLAYGROUND_RUNS": str(server.runs_dir)}
    for name in ("cli run a", "cli run b")[:max(0, 2 - len(finished))]:
        subprocess.run([sys.executable, "-m", "mnist_core", "train", "--hidden", "32", "--epochs", "1",
                        "--train-limit", "2000", "--name", name], cwd=PROJECT_DIR, env=env, check=True,
                       capture_output=True, timeout=300)
    return [r.name for r in runs.list_runs(statuses=("completed", "stopped"))[:2]]


def legend(chart) -> list[str]:
    """The run names in a plotly chart's legend (SVG text, so textContent rather than innerText)."""
    return [t.strip() for t in chart.locator(".legendtext").evaluate_all("els => els.map(e => e.textContent)")]


def test_compare_overlays_the_finished_runs(page, app_server, run_store: RunStore) -> None:
    names = ensure_two_finished_runs(app_server, run_store)
    open_page(page, "/compare", "Compare runs")
    losses = main(page).locator('[data-testid="stPlotlyChart"]').filter(has_text="Training loss (smoothed)")
    expect(losses).to_be_visible()
    wait_until(lambda: set(names) <= set(legend(losses)), 30,
               lambda: f"the loss chart's legend {legend(losses)} lacks the runs {names}")
    assert losses.locator(".scatterlayer .trace").count() >= 2
    expect(main(page).locator('[data-testid="stDataFrame"]').first).to_be_visible()  # then the class board's
    screenshot(page, "compare", "overlay", show=heading(page, "Runs"))


def test_an_optimizer_race_of_two_optimizers(page, run_store: RunStore) -> None:
    open_page(page, "/compare", "Compare runs")
    select_option(page, "Network", "mlp-3")
    # Long enough (~10 s on 2 cores) to be seen racing: the live view refreshes every few seconds (LIVE_REFRESH_S).
    fill_field(page, "Epochs", "6")
    for optimizer in ("momentum", "rmsprop"):
        main(page).get_by_role("button", name=f"Remove {optimizer}").click()
        expect(main(page).get_by_role("button", name=f"Remove {optimizer}")).to_have_count(0)
    # Until the rerun ends, the boxes of the old layout (one column per optimizer) linger beside the new ones.
    wait_for_idle(page)
    # Each optimizer from its own sensible learning rate, shown and editable: SGD's is 100 times Adam's.
    expect(page.get_by_label("sgd learning rate", exact=True)).to_have_value("0.1")
    expect(page.get_by_label("adam learning rate", exact=True)).to_have_value("0.001")
    screenshot(page, "compare", "race-settings", show=heading(page, "Optimizer race"))
    page.get_by_role("button", name="Start the race").click()
    expect(main(page).get_by_text("The race is on: 2 runs")).to_be_visible()
    expect(main(page).get_by_text("Learning rates: sgd 0.1, adam 0.001.")).to_be_visible()

    racers = ["race · sgd", "race · adam"]
    bars = main(page).locator('[data-testid="stProgress"]')
    for racer in racers:
        expect(bars.filter(has_text=racer)).to_be_visible()
    losses = main(page).locator('[data-testid="stPlotlyChart"]').filter(has_text="Training loss (smoothed)")
    expect(losses).to_be_visible()
    screenshot(page, "compare", "race-live", show=heading(page, "Runs"))

    expect(bars).to_have_count(0, timeout=FINISH_TIMEOUT_S * 1000)  # both finished: no progress bar left
    wait_until(lambda: set(racers) <= set(legend(losses)), 30,
               lambda: f"the loss chart's legend {legend(losses)} lacks the racers {racers}")
    accuracy = main(page).locator('[data-testid="stPlotlyChart"]').filter(has_text="Validation accuracy per epoch")
    wait_until(lambda: set(racers) <= set(legend(accuracy)), 30,
               lambda: f"the accuracy chart's legend {legend(accuracy)} lacks the racers {racers}")
    statuses = {r.name: r.status for r in run_store.list_runs() if r.name in racers}
    assert statuses == {name: "completed" for name in racers}, statuses
    rates = {r.config.optimizer: r.config.lr for r in run_store.list_runs() if r.name in racers}
    assert rates == {"sgd": 0.1, "adam": 0.001}, rates
    screenshot(page, "compare", "race-finished", show=heading(page, "Runs"))


def test_bad_numbers_are_worded_when_start_is_pressed(page, run_store: RunStore) -> None:
    # A min on a number box made the browser keep the old value and mark the box with a "!" only on hover.
    open_page(page, "/train", "Train a network")
    before = len(run_store.list_runs())
    fill_field(page, "Batch size", "0")
    fill_field(page, "Epochs", "0")
    fill_field(page, "Learning rate", "-1")
    page.get_by_role("button", name="Start training").click()
    problems = main(page).locator('[data-testid="stAlertContentError"]').filter(has_text="Training did not start")
    expect(problems).to_contain_text("Training did not start. Fix these settings first")
    for text in ("Batch size: 0 is not allowed", "Epochs: 0 is not allowed", "Learning rate: -1 is not allowed"):
        expect(problems).to_contain_text(text)
    assert len(run_store.list_runs()) == before
    screenshot(page, "train", "bad-numbers", show=problems)


def test_enter_in_new_name_renames(page, run_store: RunStore) -> None:
    # A run of this browser's own student (only its owner may rename it): a tiny one, started on the Train page.
    open_page(page, "/train", "Train a network")
    start_training(page, {"Hidden layers": "32", "Training images (0 = all)": "2000", "Epochs": "1"}, "to rename")
    nav_to(page, "Compare", "Compare runs")
    select_option(page, "Run", run_label(next(r for r in run_store.list_runs() if r.name == "to rename")))
    box = page.get_by_label("New name", exact=True)
    box.fill("renamed with Enter")
    box.press("Enter")  # no click on Rename
    expect(main(page).get_by_text("is now called “renamed with Enter”")).to_be_visible()
    assert [r.name for r in run_store.list_runs() if r.name in ("to rename", "renamed with Enter")] == [
        "renamed with Enter"]


def test_a_click_on_a_confusion_cell_shows_its_test_images(page, app_server, run_store: RunStore) -> None:
    """A click on an off-diagonal cell of the confusion matrix shows that cell's test images, with confidences."""
    name = ensure_two_finished_runs(app_server, run_store)[0]
    run = next(r for r in run_store.list_runs() if r.name == name)
    open_page(page, "/train?train_scope=everyone", "Train a network")  # another student's (the CLI's) run
    select_option(page, "Show run", run_label(run))
    labels = mnist_test_digits(10_000)[1].astype(np.int64)
    predicted = run_store.test_predictions(run.id).numpy()
    matrix = main(page).locator('[data-testid="stPlotlyChart"]').filter(has_text="Confusion matrix")
    matrix.scroll_into_view_if_needed()
    counts = np.bincount(labels * 10 + predicted, minlength=100).reshape(10, 10)
    np.fill_diagonal(counts, 0)
    true_class, predicted_class = map(int, np.unravel_index(np.argmax(counts), counts.shape))
    area = matrix.locator(".nsewdrag").first.bounding_box()
    page.mouse.click(area["x"] + (predicted_class + 0.5) / 10 * area["width"],
                     area["y"] + (true_class + 0.5) / 10 * area["height"])
    gallery = main(page).get_by_text(re.compile(rf"^{true_class} → {predicted_class} · \d+%$"))
    expect(gallery.first).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(gallery).to_have_count(min(24, int(counts[true_class, predicted_class])))
    expect(page.get_by_label("True class", exact=True)).to_have_value(str(true_class))
    screenshot(page, "train", "confusion-cell", show=main(page).get_by_text("Misclassified test images"))
