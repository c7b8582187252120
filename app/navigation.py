"""The app's pages as st.Page objects, the links between them, and the query parameters every page keeps.

The language (`?lang=`) belongs to the browser session, not to a page, and Streamlit drops the query string when
the page changes. Writing it back after each change of page would add history entries (the browser's Back then
lands on the same page without it, which writes it again: one press of Back could never leave a page). So every
link between pages carries it, the sidebar's menu included (Streamlit's own menu cannot), and
`keep_session_params` writes it only when it is missing or changed, in one change of the URL.

Who the student is never travels in a URL or a link (app.identity keeps it in a cookie): `keep_session_params`
removes an old bookmark's `?me=` and `?who=` from the address bar, in that same change, once app.identity has read
them.
"""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from app import i18n, identity
from app.i18n import _
from app.lessons.catalog import LESSONS

# The sidebar's menu, in this order; lessons open from Learn.
MENU = ("home", "train", "draw", "class_set", "compare", "learn")
_PAGES_KEY = "navigation_pages"


def pages() -> dict[str, StreamlitPage]:
    """Every page by its short name ("home", "train", ...), in the order the navigation shows them: built once per
    browser session and language. st.Page resolves its file on disk (a realpath and a stat per page); building the
    25 pages again for the navigation, the menu and each link cost a class's server ~15% of its CPU. Kept per
    session, not per process: st.navigation marks the page it picked as runnable on the object itself."""
    language = i18n.language()
    cached = st.session_state.get(_PAGES_KEY)
    if cached is None or cached[0] != language:
        cached = st.session_state[_PAGES_KEY] = (language, _build_pages())
    return cached[1]


def _build_pages() -> dict[str, StreamlitPage]:
    return {
        "home": st.Page("app/pages/home.py", title=_("Home"), icon=":material/home:", default=True),
        "train": st.Page("app/pages/train.py", title=_("Train"), icon=":material/fitness_center:", url_path="train"),
        "draw": st.Page("app/pages/draw.py", title=_("Draw"), icon=":material/draw:", url_path="draw"),
        "class_set": st.Page("app/pages/class_set.py", title=_("Class set"), icon=":material/groups:",
                             url_path="class-set"),
        "compare": st.Page("app/pages/compare.py", title=_("Compare"), icon=":material/monitoring:",
                           url_path="compare"),
        "learn": st.Page("app/pages/learn/index.py", title=_("Learn"), icon=":material/school:", url_path="learn"),
        **lesson_pages(),
    }


def lesson_pages() -> dict[str, StreamlitPage]:
    """One page per /learn lesson ("learn-batch", ...): hidden from the menu, reached from the Learn page's cards."""
    return {lesson.url_path: st.Page(lesson.page_file, title=_(lesson.title), icon=lesson.icon,
                                     url_path=lesson.url_path, visibility="hidden") for lesson in LESSONS}


def session_params() -> dict[str, str]:
    """The query parameters of the browser session: its language only (never who the student is)."""
    return {i18n.QUERY_KEY: i18n.language()}


def keep_session_params() -> None:
    """Put the session's parameters into the URL when they are missing or changed (a first visit, the language
    switch) and take an old bookmark's identity out of it, in one change; a page's own parameters stay."""
    identity.owner_id()  # reads an old bookmark's ?me= and ?who= (once per session) before they are dropped
    current = st.query_params.to_dict()
    owned = (i18n.QUERY_KEY, *identity.LEGACY_PARAMS)
    updated = {name: value for name, value in current.items() if name not in owned} | session_params()
    if updated != current:
        st.query_params.from_dict(updated)


def link(page: str, label: str) -> None:
    """A link to one of the app's pages that keeps the session's language."""
    _link(pages()[page], label, session_params())


def menu() -> None:
    """The sidebar's menu: the main pages, each link keeping the session's language (pages and parameters
    built once for all of them)."""
    found, params = pages(), session_params()
    with st.sidebar:
        for name in MENU:
            _link(found[name], found[name].title, params)
        st.divider()


def _link(page: StreamlitPage, label: str, params: dict[str, str]) -> None:
    st.page_link(page, label=label, icon=page.icon, query_params=params)
