"""The teacher key on a real server, in real Chromium contexts, all from 127.0.0.1 (one address, as a class behind a
proxy is): a student's eight wrong keys slow the key for everyone but do not lock the teacher out; Enter submits
the key; a reload keeps teacher mode; after "Leave teacher mode" the old cookie unlocks nothing, anywhere.

This module starts its own app server, with MNIST_PLAYGROUND_TEACHER_KEY set (the shared one has no teacher mode).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from app.teacher import COOKIE
from mnist_core.runs.store import RunStore

from browser_support import (
    AppServer,
    open_page,
    own_app_server,
    screenshot,
    sidebar,
    wait_for_idle,
    wait_until,
)

pytestmark = pytest.mark.browser

TEACHER_KEY = "browser-test teacher key 7305"
UNLOCKED = "Teacher mode: you may stop, rename and delete any run."
WRONG = "That is not the teacher key."


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """This module's own server, in teacher mode (overrides the session-wide `app_server`)."""
    yield from own_app_server(tmp_path_factory, "teacher_app", {"MNIST_PLAYGROUND_TEACHER_KEY": TEACHER_KEY})


def open_teacher_box(page) -> None:
    open_page(page, "/compare?lang=en", "Compare runs")
    sidebar(page).get_by_text("Teacher", exact=True).click()
    expect(key_box(page)).to_be_visible()


def key_box(page):
    return sidebar(page).get_by_label("Teacher key", exact=True)


def type_key_and_press_enter(page, key: str) -> None:
    key_box(page).fill(key)
    key_box(page).press("Enter")


def tries(store: RunStore) -> list[int]:
    """Each try at the key so far, as the server recorded it: 1 for a right one."""
    return [row[0] for row in store.connection().execute("SELECT succeeded FROM login_attempts ORDER BY rowid")]


def teacher_cookie(page) -> str | None:
    values = [c["value"] for c in page.context.cookies() if c["name"] == COOKIE]
    return values[0] if values else None


def test_a_students_wrong_keys_never_lock_out_the_teacher_and_a_left_session_unlocks_nothing(
        new_page, app_server: AppServer) -> None:
    store = RunStore(app_server.runs_dir)
    student, teacher = new_page(), new_page()

    # A student presses Enter on eight wrong keys: each is a try (the box stays open, its message says so).
    open_teacher_box(teacher)  # the teacher's page is ready first, so the teacher's try follows the student's at once
    open_teacher_box(student)
    for number in range(1, 9):
        type_key_and_press_enter(student, f"is it {number}?")
        wait_until(lambda n=number: len(tries(store)) == n, 60, lambda n=number: f"try {n} was not recorded")
        expect(sidebar(student).get_by_text(WRONG)).to_be_visible()
        wait_for_idle(student)
        expect(key_box(student)).to_have_value("")  # the typed key is not kept on screen
    assert tries(store) == [0] * 8
    # The back-off, in words: each further try waits its turn (about 4 s now; the first five had no wait).
    expect(sidebar(student).get_by_text("Many wrong keys were typed in the last minute: a try now is checked "
                                        "after about")).to_be_visible()

    # The teacher, at another computer behind the same address, types the key and presses Enter: it waits for its
    # slot like any try, then unlocks.
    type_key_and_press_enter(teacher, TEACHER_KEY)
    expect(sidebar(teacher).get_by_text(UNLOCKED)).to_be_visible()
    assert tries(store) == [0] * 8 + [1]
    session_id = wait_until(lambda: teacher_cookie(teacher), 30, "unlocking stored no teacher session cookie")
    assert TEACHER_KEY not in session_id and len(session_id) == 43  # a random id, nothing derived from the key
    rows = store.connection().execute("SELECT session_hash, revoked FROM teacher_sessions").fetchall()
    assert rows == [(hashlib.sha256(session_id.encode()).hexdigest(), None)]  # its hash only, in the database
    wait_for_idle(teacher)
    screenshot(student, "teacher", "student-eight-wrong-keys", show=sidebar(student))
    screenshot(teacher, "teacher", "unlocked-after-wrong-keys", show=sidebar(teacher))

    # A reload keeps teacher mode (its box opens by itself for a teacher); the student is still a student.
    teacher.reload()
    expect(sidebar(teacher).get_by_text(UNLOCKED)).to_be_visible()
    student.reload()
    open_teacher_box(student)
    expect(sidebar(student).get_by_text(UNLOCKED)).to_have_count(0)

    # Leave: the session is revoked and the cookie cleared...
    sidebar(teacher).get_by_role("button", name="Leave teacher mode").click()
    wait_until(lambda: teacher_cookie(teacher) is None, 30, "leaving teacher mode left its cookie")
    wait_until(lambda: store.connection().execute("SELECT revoked FROM teacher_sessions").fetchone()[0], 30,
               "leaving teacher mode did not revoke the session")
    # ...and the old cookie value, put back into a new browser, unlocks nothing.
    thief = new_page()
    thief.context.add_cookies([{"name": COOKIE, "value": session_id, "url": app_server.url}])
    open_teacher_box(thief)
    expect(sidebar(thief).get_by_text(UNLOCKED)).to_have_count(0)
    teacher.context.add_cookies([{"name": COOKIE, "value": session_id, "url": app_server.url}])
    teacher.reload()
    open_teacher_box(teacher)
    expect(sidebar(teacher).get_by_text(UNLOCKED)).to_have_count(0)
    screenshot(thief, "teacher", "left-session-cookie-refused", show=sidebar(thief))


def test_on_a_korean_phone_enter_unlocks_teacher_mode_and_the_box_stays_open(chromium, app_server: AppServer) -> None:
    """Issue #22: the teacher types the key and presses Enter (the phone keyboard's Go), without touching the button:
    teacher mode comes on and its box stays open, in Korean."""
    context = chromium.new_context(base_url=app_server.url, viewport={"width": 390, "height": 844}, locale="ko-KR",
                                   has_touch=True, is_mobile=True)
    try:
        page = context.new_page()
        open_page(page, "/compare", "실행 비교")
        page.locator('[data-testid="stExpandSidebarButton"]').click()  # the phone's sidebar starts closed
        sidebar(page).get_by_text("선생님", exact=True).click()
        box = sidebar(page).get_by_label("선생님 키", exact=True)
        box.click()
        page.keyboard.type(TEACHER_KEY)
        expect(sidebar(page).get_by_text("Press Enter", exact=False)).to_be_hidden()  # Streamlit's English hint
        page.keyboard.press("Enter")
        expect(sidebar(page).get_by_text("선생님 모드", exact=False).first).to_be_visible()
        unlocked = sidebar(page).locator('[data-testid="stAlertContentSuccess"]')
        expect(unlocked).to_be_visible()
        expect(sidebar(page).get_by_role("button", name="선생님 모드 끄기")).to_be_visible()
        wait_for_idle(page)
        expect(unlocked).to_be_visible()  # still open once the page has settled
        screenshot(page, "phone", "teacher-enter-unlocked", show=sidebar(page))
    finally:
        context.close()
