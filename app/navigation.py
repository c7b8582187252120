"""The app's pages as st.Page objects: built here, so the entry script and the pages' links share them."""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from app.i18n import _
from app.lessons_catalog import LESSONS


def pages() -> dict[str, StreamlitPage]:
    """Every page by its short name ("home", "train", ...), in the order the navigation shows them."""
    return {
        "home": st.Page("app/pages/home.py", title=_("Home"), icon=":material/home:", default=True),
        "train": st.Page("app/pages/train.py", title=_("Train"), icon=":material/fitness_center:", url_path="train"),
        "draw": st.Page("app/pages/draw.py", title=_("Draw"), icon=":material/draw:", url_path="draw"),
        "compare": st.Page("app/pages/compare.py", title=_("Compare"), icon=":material/monitoring:",
                           url_path="compare"),
        "learn": st.Page("app/pages/learn.py", title=_("Learn"), icon=":material/school:", url_path="learn"),
        **lesson_pages(),
    }


def lesson_pages() -> dict[str, StreamlitPage]:
    """One page per /learn lesson ("learn-batch", ...): hidden from the menu, reached from the Learn page's cards."""
    return {lesson.url_path: st.Page(lesson.page_file, title=_(lesson.title), icon=lesson.icon,
                                     url_path=lesson.url_path, visibility="hidden") for lesson in LESSONS}
