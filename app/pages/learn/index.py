"""Learn: the course's ideas as small lessons to play with, one card per lesson."""

from __future__ import annotations

import streamlit as st

from app import navigation
from app.i18n import _
from app.lessons.catalog import LESSONS

COLUMNS = 3

st.title(_("Learn"))
st.markdown(_("Every idea of the course as something to play with: a short explanation in the course's words, a "
              "control to move, a chart that answers at once, and one sentence on what to notice. Lessons 1, 7 and "
              "9 train on real MNIST in the background, like the Train page."))
for start in range(0, len(LESSONS), COLUMNS):
    numbered = enumerate(LESSONS[start:start + COLUMNS], start + 1)
    for column, (number, lesson) in zip(st.columns(COLUMNS), numbered, strict=False):
        with column, st.container(border=True, height="stretch"):
            st.markdown(f"**{number}. {_(lesson.title)}**")
            st.caption(_(lesson.summary))
            navigation.link(lesson.url_path, _("Open lesson {number}", number=number))
