"""Who you are lives in a cookie, never in an address: in a real Chromium, two students' tokens appear in no URL, link
or page; a link from A's address bar (even one with A's old `?me=`) leaves B as B; an old bookmark still opens its
student in a browser that is nobody yet; a recovery code moves a student to another browser; "give me a new one"
shuts every old copy of the token out."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import expect

from mnist_core.runs.identities import Identities, legacy_owner_id
from mnist_core.runs.permissions import Actor
from mnist_core.runs.store import RunStore

from browser_support import AppServer, fill_field, nav_to, open_page, sidebar, wait_for_idle, wait_until
from conftest import TINY

pytestmark = pytest.mark.browser

COOKIE = "mnist_playground_me"  # app.identity.COOKIE, spelled out: the test checks what the browser really holds
PAGES = (("Train", "Train a network"), ("Draw", "Draw a digit"), ("Compare", "Compare runs"),
         ("Home", "MNIST Playground"))


def cookie(page, name: str = COOKIE) -> str | None:
    values = [c["value"] for c in page.context.cookies() if c["name"] == name]
    return values[0] if values else None


def settled_token(page) -> str:
    """The token the page's script stored in the browser's cookie (it runs once the first page is drawn)."""
    return wait_until(lambda: cookie(page), 30, "the page never stored an identity in its cookie")


def run_of(store: RunStore, owner: str, name: str) -> int:
    """A run belonging to `owner`, listed but with nothing to train (stopped before it began)."""
    run_id = store.create_run(TINY, name=name, owner=Actor(owner, name))
    store.set_status(run_id, "stopped")
    return run_id


def name_box(page):
    return sidebar(page).get_by_label("Your name", exact=True)


def show_run(page):
    return page.get_by_label("Show run", exact=True)


def assert_token_nowhere(page, token: str, where: str) -> None:
    """Not in the address, not in any link's href, not anywhere in the page's HTML."""
    assert token not in page.url, f"{where}: the token is in the address {page.url}"
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(link => link.href)")
    assert hrefs and not [h for h in hrefs if token in h], f"{where}: a link holds the token"
    assert token not in page.content(), f"{where}: the token is in the page's HTML"


def open_move_box(page):
    sidebar(page).get_by_text("Move to another computer", exact=True).click()
    return sidebar(page)


def test_no_token_in_any_address_or_page_and_a_copied_link_leaves_b_as_b(new_page, run_store: RunStore) -> None:
    a, b = new_page(), new_page()
    open_page(a, "/train?lang=en", "Train a network")
    a_token = settled_token(a)
    assert_token_nowhere(a, a_token, "the first page, as the cookie was written")  # the script took itself out
    a_owner = Identities(run_store).resolve(a_token)
    assert a_owner is not None
    fill_field(a, "Your name", "Ann")
    wait_for_idle(a)
    for link, heading in PAGES:  # every page, by the sidebar's links, and the identity box opened
        nav_to(a, link, heading)
        assert_token_nowhere(a, a_token, link)
    open_move_box(a)
    expect(sidebar(a).get_by_text("••••-••••-••••")).to_be_visible()  # masked until asked for
    assert_token_nowhere(a, a_token, "Move to another computer")

    open_page(b, "/draw?lang=en", "Draw a digit")
    b_token = settled_token(b)
    b_owner = Identities(run_store).resolve(b_token)
    run_of(run_store, b_owner, "ben run")
    fill_field(b, "Your name", "Ben")
    wait_for_idle(b)

    # A copies the address bar into the class chat; B opens it: B stays B.
    nav_to(a, "Draw", "Draw a digit")
    assert "me=" not in a.url and "lang=en" in a.url
    open_page(b, a.url, "Draw a digit")
    nav_to(b, "Train", "Train a network")
    expect(name_box(b)).to_have_value("Ben")
    expect(show_run(b)).to_have_value(re.compile("^ben run — "))
    assert cookie(b) == b_token
    # Even an old-style link holding A's token: ignored in a browser that is already someone, and taken out.
    open_page(b, f"/train?lang=en&me={a_token}&who=Ann", "Train a network")
    wait_until(lambda: "me=" not in b.url and "who=" not in b.url, 30, lambda: f"the address kept them: {b.url}")
    expect(name_box(b)).to_have_value("Ben")
    expect(show_run(b)).to_have_value(re.compile("^ben run — "))
    assert cookie(b) == b_token and Identities(run_store).resolve(b_token) == b_owner
    b.reload()
    wait_for_idle(b)
    expect(name_box(b)).to_have_value("Ben")
    assert cookie(b) == b_token


def test_an_old_bookmark_opens_its_student_in_a_fresh_browser(new_page, run_store: RunStore) -> None:
    token = "old-bookmark-" + secrets.token_urlsafe(24)  # from the days the token lived in the URL
    run_of(run_store, legacy_owner_id(token), "bookmarked run")
    page = new_page()
    open_page(page, f"/train?lang=en&me={token}&who=Old+Timer", "Train a network")
    wait_until(lambda: "me=" not in page.url and "who=" not in page.url, 30,
               lambda: f"the old bookmark's identity stayed in the address: {page.url}")
    assert "lang=en" in page.url
    expect(name_box(page)).to_have_value("Old Timer")
    expect(show_run(page)).to_have_value(re.compile("^bookmarked run — "))
    assert settled_token(page) == token  # kept in the cookie from now on
    page.goto("/train?lang=en")  # the plain address now opens the same student
    wait_for_idle(page)
    expect(name_box(page)).to_have_value("Old Timer")
    assert_token_nowhere(page, token, "after the bookmark")


def test_a_recovery_code_moves_a_student_and_a_new_identity_shuts_the_old_one_out(
        new_page, run_store: RunStore, app_server: AppServer) -> None:
    a = new_page()
    open_page(a, "/train?lang=en", "Train a network")
    old_token = settled_token(a)
    a_owner = Identities(run_store).resolve(old_token)
    run_of(run_store, a_owner, "ann's run")
    fill_field(a, "Your name", "Ann")
    wait_for_idle(a)
    box = open_move_box(a)
    box.get_by_text("Show my recovery code", exact=True).click()
    code = box.locator('[data-testid="stCode"]').inner_text().strip()
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", code), code

    wrong = new_page()  # a wrong code changes nothing and says so
    open_page(wrong, "/train?lang=en", "Train a network")
    open_move_box(wrong).get_by_label("Code from your other computer", exact=True).fill("2222-3333-4444")
    sidebar(wrong).get_by_label("Code from your other computer", exact=True).press("Enter")
    expect(sidebar(wrong).get_by_text("That code is not right.", exact=False)).to_be_visible()

    home = new_page()  # the same student at home: the code typed in, Enter
    open_page(home, "/train?lang=en", "Train a network")
    field = open_move_box(home).get_by_label("Code from your other computer", exact=True)
    field.fill(code.lower())
    field.press("Enter")
    expect(sidebar(home).get_by_text("Welcome back, Ann", exact=False)).to_be_visible()
    expect(name_box(home)).to_have_value("Ann")
    expect(show_run(home)).to_have_value(re.compile("^ann's run — "))
    home_token = wait_until(lambda: cookie(home) not in (None, old_token) and
                            Identities(run_store).resolve(cookie(home)) == a_owner and cookie(home), 30,
                            "the recovered browser never stored a token of Ann's")
    assert home_token != old_token

    # "My identity may have leaked": a new token here, every other copy withdrawn, the runs still Ann's.
    sidebar(a).get_by_role("button", name="My identity may have leaked: give me a new one").click()
    expect(sidebar(a).get_by_text("Done: this browser has a new identity", exact=False)).to_be_visible()
    new_token = wait_until(lambda: cookie(a) != old_token and cookie(a), 30, "A's cookie kept the old token")
    assert Identities(run_store).resolve(new_token) == a_owner
    assert Identities(run_store).resolve(old_token) is None and Identities(run_store).resolve(home_token) is None
    a.reload()
    wait_for_idle(a)
    expect(name_box(a)).to_have_value("Ann")
    expect(show_run(a)).to_have_value(re.compile("^ann's run — "))

    # The old cookie value in a fresh browser (a copy someone kept) is nobody's now: a new student, not Ann.
    thief = new_page()
    thief.context.add_cookies([{"name": COOKIE, "value": old_token, "url": app_server.url}])
    open_page(thief, "/train?lang=en", "Train a network")
    expect(name_box(thief)).to_have_value("")
    thief_token = wait_until(lambda: cookie(thief) != old_token and cookie(thief), 30,
                             "the withdrawn token stayed in the cookie")
    assert Identities(run_store).resolve(thief_token) not in (None, a_owner)
    # The browser at home, still open, is told on its next step; a reload there is a new student too.
    sidebar(home).get_by_role("link", name="Draw", exact=True).click()
    expect(home.get_by_text("This browser's identity was replaced", exact=False)).to_be_visible()
