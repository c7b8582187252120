"""Two students and a teacher on one real server, each in their own Chromium context: A's run is A's (B gets no
button for it, and B's forged core call is refused), the teacher may delete it; a reload keeps A's run and form;
a shared settings link fills B's form without starting anything.

This module starts its own app server, with MNIST_PLAYGROUND_TEACHER_KEY set (the shared one has no teacher mode).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from app.identity import COOKIE, owner_id_of
from app.teacher import COOKIE as TEACHER_COOKIE
from mnist_core.runs.permissions import Actor, NotPermitted
from mnist_core.runs.store import RunStore

from browser_support import (
    AppServer,
    fill_field,
    heading,
    main,
    open_page,
    own_app_server,
    screenshot,
    sidebar,
    wait_for_heading,
    wait_for_idle,
    wait_until,
)

pytestmark = pytest.mark.browser

TEACHER_KEY = "browser-test teacher key 4821"
FINISH_TIMEOUT_S = 300
# A run that trains in a few seconds on 2 busy cores: 2,000 images, one epoch, a 32-unit hidden layer.
QUICK_FORM = {"Hidden layers": "32", "Epochs": "1", "Training images (0 = all)": "2000", "Validation images": "500"}


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """This module's own server, in teacher mode (overrides the session-wide `app_server`)."""
    yield from own_app_server(tmp_path_factory, "owners_app", {"MNIST_PLAYGROUND_TEACHER_KEY": TEACHER_KEY})


def token_of(page) -> str:
    """The student's secret token, as the browser keeps it in the app's cookie (never in the URL)."""
    return wait_until(lambda: next((c["value"] for c in page.context.cookies() if c["name"] == COOKIE), None), 30,
                      "the page never stored the student's token in its cookie")


def show_run_value(page):
    return page.get_by_label("Show run", exact=True)


def test_students_own_their_runs_and_the_teacher_may_delete_any(new_page, app_server: AppServer) -> None:
    store = RunStore(app_server.runs_dir)
    a, b, teacher = new_page(), new_page(), new_page()

    # Student A trains a small run.
    open_page(a, "/train?lang=en", "Train a network")
    for label, value in QUICK_FORM.items():
        fill_field(a, label, value)
    fill_field(a, "Run name (optional)", "A's run")
    wait_for_idle(a)
    a.get_by_role("button", name="Start training").click()
    expect(show_run_value(a)).to_have_value(re.compile("^A's run — "))
    expect(main(a).locator('[data-testid="stMetric"]').filter(has_text="Test accuracy")).to_be_visible(
        timeout=FINISH_TIMEOUT_S * 1000)
    (a_run,) = [r for r in store.list_runs() if r.name == "A's run"]
    assert a_run.status == "completed" and a_run.owner_id == owner_id_of(token_of(a))
    screenshot(a, "owners", "A-finished", show=heading(a, "Runs"))

    # A reloads: the same run is shown and the form keeps A's values (the URL carries both; the cookie, who A is).
    a.reload()
    wait_for_heading(a, "Train a network")
    wait_for_idle(a)
    expect(show_run_value(a)).to_have_value(re.compile("^A's run — "))
    expect(a.get_by_label("Hidden layers", exact=True)).to_have_value("32")
    expect(a.get_by_label("Training images (0 = all)", exact=True)).to_have_value("2000")
    screenshot(a, "owners", "A-reloaded", show=heading(a, "Runs"))

    # A shares the settings; B opens the link in B's own browser: the form is filled, nothing starts.
    a.get_by_text("Share these settings").click()
    link = main(a).locator('[data-testid="stCode"]').filter(has_text="/train?").inner_text().strip()
    assert "me=" not in link and "who=" not in link and "hidden=32" in link
    open_page(b, "/draw?lang=en", "Draw a digit")  # B has been here before: B's identity, kept in a cookie
    b_token = token_of(b)  # the page's script writes it after drawing
    open_page(b, link.removeprefix(app_server.url) + "&lang=en", "Train a network")
    expect(b.get_by_label("Hidden layers", exact=True)).to_have_value("32")
    expect(b.get_by_label("Epochs", exact=True)).to_have_value("1")
    # B is still B: the link carried no identity, B's browser remembered B's (in its cookie, not in the URL).
    assert "me=" not in b.url and b_token not in b.url
    assert token_of(b) == b_token != token_of(a)
    screenshot(b, "owners", "B-shared-link", show=heading(b, "Train a network"))
    assert [r.name for r in store.list_runs()] == ["A's run"]  # the link started nothing

    # B on Compare: A's run is listed (Everyone's) but B gets no rename or delete for it.
    open_page(b, "/compare?lang=en", "Compare runs")
    expect(main(b).get_by_text("You can rename or delete only your own runs")).to_be_visible()
    expect(main(b).get_by_role("button", name="Delete run…")).to_have_count(0)
    screenshot(b, "owners", "B-compare-no-delete", show=heading(b, "Rename or delete a run"))
    # B's forged call to the core, acting as B: refused, nothing changed.
    with pytest.raises(NotPermitted):
        store.delete(a_run.id, actor=Actor(owner_id_of(token_of(b)), "B"))
    assert store.get(a_run.id).name == "A's run"

    # The teacher: a wrong key is refused, the right one unlocks deleting A's run.
    open_page(teacher, "/compare?lang=en", "Compare runs")
    panel = sidebar(teacher)
    panel.get_by_text("Teacher", exact=True).click()
    panel.get_by_label("Teacher key", exact=True).fill("not the key")
    panel.get_by_role("button", name="Unlock teacher mode").click()
    expect(panel.get_by_text("That is not the teacher key.")).to_be_visible()
    panel.get_by_label("Teacher key", exact=True).fill(TEACHER_KEY)
    panel.get_by_role("button", name="Unlock teacher mode").click()
    expect(panel.get_by_text("Teacher mode: you may stop, rename and delete any run.")).to_be_visible()
    expect(main(teacher).get_by_role("button", name="Delete run…")).to_be_visible()  # offered to the teacher
    wait_for_idle(teacher)
    screenshot(teacher, "owners", "teacher-mode", show=heading(teacher, "Rename or delete a run"))
    main(teacher).get_by_role("button", name="Delete run…").click()
    main(teacher).get_by_role("button", name="Yes, delete").click()
    expect(main(teacher).get_by_text(f"Run #{a_run.id} deleted.")).to_be_visible()
    wait_until(lambda: not store.list_runs(), 30, "the teacher's delete did not remove A's run")

    # Teacher mode outlasts a reload: a teacher session's id in a cookie (never the key, nothing derived from it).
    unlocked = "Teacher mode: you may stop, rename and delete any run."
    wait_until(lambda: [c for c in teacher.context.cookies() if c["name"] == TEACHER_COOKIE], 30,
               "unlocking stored no teacher session in a cookie")
    (teacher_pass,) = [c for c in teacher.context.cookies() if c["name"] == TEACHER_COOKIE]
    assert TEACHER_KEY not in teacher_pass["value"]  # a pass, never the key itself
    teacher.reload()
    wait_for_heading(teacher, "Compare runs")
    expect(sidebar(teacher).get_by_text(unlocked)).to_be_visible()  # its box opens by itself for a teacher
    # Leaving teacher mode ends the session and clears the cookie: the next reload is a student's...
    sidebar(teacher).get_by_role("button", name="Leave teacher mode").click()
    wait_until(lambda: not [c for c in teacher.context.cookies() if c["name"] == TEACHER_COOKIE], 30,
               "leaving teacher mode left its pass in the cookie")
    teacher.reload()
    wait_for_heading(teacher, "Compare runs")
    sidebar(teacher).get_by_text("Teacher", exact=True).click()
    expect(sidebar(teacher).get_by_label("Teacher key", exact=True)).to_be_visible()
    # ...and the left session's id is worth nothing elsewhere: B with it copied in is still a student.
    b.context.add_cookies([{"name": TEACHER_COOKIE, "value": teacher_pass["value"], "url": app_server.url}])
    open_page(b, "/compare?lang=en", "Compare runs")
    sidebar(b).get_by_text("Teacher", exact=True).click()
    expect(sidebar(b).get_by_label("Teacher key", exact=True)).to_be_visible()
    expect(sidebar(b).get_by_text(unlocked)).to_have_count(0)

    # The same page in Korean: the Teacher box and the class board in the course's words.
    teacher.goto("/compare?lang=ko")
    expect(main(teacher).get_by_role("heading", name="우리 반 순위표")).to_be_visible()
    wait_for_idle(teacher)
    screenshot(teacher, "owners", "teacher-korean", show=main(teacher).get_by_role("heading", name="우리 반 순위표"))
