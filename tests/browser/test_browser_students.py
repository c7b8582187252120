"""Two students at once: two browser contexts (two separate Streamlit sessions) train their own runs at the same
time on the one app; neither's widgets change the other's, both see their own run finish."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from mnist_core.runs.store import RunStore

from browser_support import fill_field, heading, main, open_page, screenshot, select_option, wait_until

pytestmark = pytest.mark.browser

FINISH_TIMEOUT_S = 400  # generous: on a machine busy with other work, in-app training slows down a lot
# Each student's own choice, trained on all 55,000 images for a few seconds each: a narrower mlp-3 for one,
# softmax regression (the softmax-sgd preset) for the other, for long enough (15 epochs, ~8 s in CI) to outlast a
# worker process starting cold for the first (~4 s in CI).
STUDENTS = {
    "student A": {"preset": "mlp-3", "Hidden layers": "128", "Epochs": "2", "architecture": "MLP 784-128-10"},
    "student B": {"preset": "softmax-sgd", "Hidden layers": "", "Epochs": "15",
                  "architecture": "softmax regression 784-10"},
}


def accuracy_metric(page):
    return main(page).locator('[data-testid="stMetric"]').filter(has_text="Test accuracy")


def shown_run(page, name: str):
    return expect(page.get_by_label("Show run", exact=True)).to_have_value(re.compile("^" + re.escape(name) + " — "))


def test_two_students_train_at_once_without_touching_each_other(new_page, run_store: RunStore) -> None:
    pages = {name: new_page() for name in STUDENTS}
    for page in pages.values():
        open_page(page, "/train", "Train a network")

    # Each fills in the form of their own session, one after the other, before either starts.
    for name, page in pages.items():
        choice = STUDENTS[name]
        select_option(page, "Preset", choice["preset"])
        if choice["Hidden layers"]:
            fill_field(page, "Hidden layers", choice["Hidden layers"])
        fill_field(page, "Epochs", choice["Epochs"])
        fill_field(page, "Run name (optional)", name)
    a, b = pages["student A"], pages["student B"]
    # B picked another preset (a rerun of B's session that refilled B's form): A's form is as A left it.
    expect(a.get_by_label("Preset", exact=True)).to_have_value("mlp-3")
    expect(a.get_by_label("Hidden layers", exact=True)).to_have_value("128")
    expect(b.get_by_label("Preset", exact=True)).to_have_value("softmax-sgd")
    expect(b.get_by_label("Hidden layers", exact=True)).to_have_value("")

    for page in pages.values():
        page.get_by_role("button", name="Start training").click()
    for name, page in pages.items():
        shown_run(page, name)

    def both_started() -> bool:
        started = {r.name: r.started for r in run_store.list_runs() if r.name in STUDENTS}
        return len(started) == len(STUDENTS) and None not in started.values()

    wait_until(both_started, 90, lambda: f"the two runs never started: "
               f"{[(r.name, r.status) for r in run_store.list_runs()[:4]]}", interval_s=0.25)
    for name, page in pages.items():
        # The page catches up within a refresh: its run's loss curve, drawn (or, on a fast machine, its results).
        losses = main(page).locator('[data-testid="stPlotlyChart"]').filter(has_text="Training loss per iteration")
        expect(losses.or_(accuracy_metric(page)).first).to_be_visible()
        screenshot(page, "students", f"{name.replace(' ', '-')}-training", show=heading(page, "Runs"))

    for name, page in pages.items():
        expect(accuracy_metric(page)).to_be_visible(timeout=FINISH_TIMEOUT_S * 1000)
        shown_run(page, name)  # each still watches their own run, not the other's
        expect(main(page).get_by_text(STUDENTS[name]["architecture"] + " ·")).to_be_visible()
        screenshot(page, "students", f"{name.replace(' ', '-')}-finished", show=heading(page, "Runs"))

    runs = {r.name: r for r in run_store.list_runs() if r.name in STUDENTS}
    finished = {name: (run.status, run.config.hidden) for name, run in runs.items()}
    assert finished == {"student A": ("completed", (128,)), "student B": ("completed", ())}, finished
    # Both were submitted before either ended: neither student waited for the other to finish to press Start (when
    # their training overlaps depends on how fast a cold worker starts, ~4 s in CI, so it is not asserted).
    ra, rb = runs["student A"], runs["student B"]
    assert ra.created < rb.finished and rb.created < ra.finished, (ra.created, ra.finished, rb.created, rb.finished)
    # Their forms still hold their own choices after both runs.
    expect(a.get_by_label("Hidden layers", exact=True)).to_have_value("128")
    expect(b.get_by_label("Hidden layers", exact=True)).to_have_value("")
    # Widget state is per session; "My runs" lists a student's own, and with "Everyone's" each student can pick the
    # other's run to look at.
    for page in pages.values():
        main(page).get_by_role("radio", name="Everyone's", exact=True).click()
        page.get_by_label("Show run", exact=True).click()
        for name in STUDENTS:
            expect(page.get_by_role("option", name=re.compile("^" + re.escape(name) + " — "))).to_be_visible()
        page.keyboard.press("Escape")
