"""MNIST Playground: `streamlit run streamlit_app.py`. Sets up the page, the navigation and the shared sidebar."""

from __future__ import annotations

import streamlit as st

from app import navigation, sidebar

st.set_page_config(page_title="MNIST Playground", page_icon="🔢", layout="wide")

current = st.navigation(list(navigation.pages().values()))
sidebar.show()
current.run()
