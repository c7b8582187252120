"""The /learn lessons in a real Chromium against the real app (one server for all): each lesson opens by its URL,
its main widget is used, and the page is photographed; lesson 1 trains its three runs on MNIST to the end."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.lessons.catalog import LESSONS

from browser_support import main, open_page, screenshot, select_option, wait_for_idle

pytestmark = pytest.mark.browser
TITLES = {lesson.slug: lesson.title for lesson in LESSONS}


def use_batch(page) -> None:
    box = page.get_by_label("Batch size", exact=True)
    box.fill("32")
    box.press("Tab")
    expect(main(page).get_by_text("1,875", exact=True)).to_be_visible()  # 60,000 / 32 = 1,875 iterations


def use_descent(page) -> None:
    main(page).get_by_role("slider", name="Epochs").press("End")  # 20 epochs: GD 20 steps, SGD 2,000
    expect(main(page).get_by_text("What to notice: in 20 epochs GD takes 20 smooth steps")).to_be_visible()


def use_optimizers(page) -> None:
    main(page).get_by_text("Rosenbrock's banana valley", exact=True).click()
    main(page).get_by_role("slider", name="Steps").press("End")
    expect(main(page).get_by_text("After 500 steps", exact=True)).to_be_visible()


def use_perceptron(page) -> None:
    main(page).get_by_text("AND", exact=True).first.click()
    expect(main(page).get_by_text("Best accuracy in 20 epochs: 100%")).to_be_visible()


def use_neuron(page) -> None:
    main(page).get_by_text("It is not raining", exact=True).click()  # all inputs off: the bias alone decides
    expect(main(page).get_by_text("A stays home.", exact=True)).to_be_visible()


def use_softmax(page) -> None:
    box = page.get_by_label("logit 0", exact=True)
    box.fill("4")
    box.press("Tab")
    expect(main(page).get_by_text("0.148471", exact=True)).to_have_count(3)  # CE of [4, 2, 0.3], class 0, three ways


def use_init(page) -> None:
    main(page).get_by_text("random normal N(0, 0.01²)", exact=True).click()
    expect(main(page).get_by_text("What to notice: with random normal")).to_be_visible()


def use_params(page) -> None:
    select_option(page, "Course preset", "softmax-sgd")
    expect(main(page).get_by_text("7,850", exact=True).first).to_be_visible()  # 784 x 10 + 10


def use_course(page) -> None:
    main(page).get_by_role("button", name="Train the six experiments").click()
    expect(main(page).get_by_role("button", name="Stop these runs")).to_be_visible()
    expect(main(page).locator('[data-testid="stProgress"]')).to_have_count(6)


USES = {"batch": use_batch, "descent": use_descent, "optimizers": use_optimizers, "perceptron": use_perceptron,
        "neuron": use_neuron, "softmax": use_softmax, "init": use_init, "params": use_params, "course": use_course}


@pytest.mark.parametrize("slug", list(USES))
def test_each_lesson_answers_its_main_widget(page, slug: str) -> None:
    open_page(page, f"/learn-{slug}?lang=en", TITLES[slug])
    USES[slug](page)
    wait_for_idle(page)
    screenshot(page, "learn", slug)
    if slug == "course":  # leave the server's cores to the other tests
        main(page).get_by_role("button", name="Stop these runs").click()
        expect(main(page).get_by_role("button", name="Stop these runs")).to_have_count(0, timeout=120_000)


def test_the_index_in_korean_leads_to_a_lesson(page) -> None:
    open_page(page, "/learn?lang=ko", "배우기")
    expect(main(page).get_by_role("link", name="1번 수업 열기")).to_be_visible()
    screenshot(page, "learn", "index-ko")
    main(page).get_by_role("link", name="4번 수업 열기").click()
    expect(page.get_by_role("heading", name="퍼셉트론과 다층 퍼셉트론", exact=True).first).to_be_visible()
    wait_for_idle(page)
    screenshot(page, "learn", "perceptron-ko")


def test_batch_lesson_trains_three_batch_sizes_on_mnist(page, run_store) -> None:
    open_page(page, "/learn-batch?lang=en", TITLES["batch"])
    main(page).get_by_role("slider", name="Epochs (each run)").press("Home")  # 1 epoch each
    main(page).get_by_role("button", name="Train the three runs").click()
    expect(main(page).get_by_role("button", name="Stop these runs")).to_be_visible()
    expect(main(page).get_by_role("button", name="Stop these runs")).to_have_count(0, timeout=300_000)
    chart = main(page).get_by_text("Validation loss against samples seen", exact=True).first
    expect(chart).to_be_visible()
    runs = [r for r in run_store.list_runs() if r.name.startswith("learn · batch")]
    assert sorted((r.config.batch_size, r.status) for r in runs) == [(1, "completed"), (32, "completed"),
                                                                     (1000, "completed")], [r.error for r in runs]
    wait_for_idle(page)
    screenshot(page, "learn", "batch-trained", show=chart)
