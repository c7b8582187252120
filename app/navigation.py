"""The app's pages as st.Page objects: built here, so the entry script and the pages' links share them."""

from __future__ import annotations

import streamlit as st
from streamlit.navigation.page import StreamlitPage


def pages() -> dict[str, StreamlitPage]:
    """Every page by its short name ("home", "train", ...), in the order the navigation shows them."""
    return {
        "home": st.Page("app/pages/home.py", title="Home", icon=":material/home:", default=True),
        "train": st.Page("app/pages/train.py", title="Train", icon=":material/fitness_center:", url_path="train"),
        "draw": st.Page("app/pages/draw.py", title="Draw", icon=":material/draw:", url_path="draw"),
        "compare": st.Page("app/pages/compare.py", title="Compare", icon=":material/monitoring:",
                           url_path="compare"),
    }
