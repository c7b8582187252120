"""MNIST Playground: `streamlit run streamlit_app.py`. Sets up the page, the navigation and the shared sidebar."""

from __future__ import annotations

import streamlit as st

from app import navigation, page_style, sidebar

st.set_page_config(page_title="MNIST Playground", page_icon="🔢", layout="wide")
page_style.add_page_style()  # phone and touch rules every page needs (app/page_style.py)

# Streamlit's own menu is hidden: its links drop the language and identity parameters (see app/navigation.py).
current = st.navigation(list(navigation.pages().values()), position="hidden")
sidebar.show()
current.run()
