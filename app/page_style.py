"""The page's own CSS, added once per run by streamlit_app.py: what a phone and a Korean page need that Streamlit's
and plotly's options do not give.

- Plotly's toolbar (modebar) lies over a chart's title and legend on a small screen, and a finger cannot hover it
  away: hidden on narrow screens and on touch screens (a laptop keeps it, shown on hover).
- Texts for the device: the server cannot know whether a finger or a mouse draws, but the browser can. An element
  in a container keyed `touch_...` shows only where the main pointer is coarse (a finger), one keyed `mouse_...`
  only where it is fine (`st.container(key=...)` gives the element the class `st-key-<key>`; its wrapper is hidden
  too, so the hidden one leaves no gap).
- Elements keyed `phone_...` show only on a narrow screen (where Streamlit stacks columns), e.g. the Draw page's
  compact prediction right under the canvas.
- Streamlit's own hints under text boxes are English only: hidden on a page in another language.
- Streamlit's file uploader writes "Upload", "Drag and drop file here" and "Limit 5MB per file" in English, with
  no option to change them: the texts are hidden and the page's own translated ones shown in their place.
"""

from __future__ import annotations

import json

import streamlit as st

from app.i18n import SOURCE_LANGUAGE, _, language

PHONE_MAX_WIDTH_PX = 640  # Streamlit stacks columns below this width


def css_string(text: str) -> str:
    """`text` as a CSS string literal: quoted and escaped, and no "<" that could end the style element."""
    return json.dumps(text, ensure_ascii=False).replace("<", "\\3c ")


def _hidden(media: str, prefix: str) -> str:
    """Under `media`, hide each container keyed `prefix...` and the wrapper around it (else its gap stays)."""
    keyed = f'[class*="st-key-{prefix}"]'
    hide = "{ display: none !important; }"
    return f'@media {media} {{ {keyed}, [data-testid="stLayoutWrapper"]:has(> {keyed}) {hide} }}'


def page_css() -> str:
    phone = f"(max-width: {PHONE_MAX_WIDTH_PX}px)"
    modebar = ".js-plotly-plot .modebar-container { display: none !important; }"
    rules = [f"@media {phone}, (pointer: coarse) {{ {modebar} }}",
             _hidden("(pointer: coarse)", "mouse_"), _hidden("not (pointer: coarse)", "touch_"),
             _hidden(f"not {phone}", "phone_")]
    return "<style>\n" + "\n".join(rules) + "\n</style>"


# Streamlit's hints under a text box ("Press Enter to apply", "Press Enter to submit form") are English only: a
# page in another language hides them (Enter still does what they say).
_HIDE_INPUT_HINTS = '<style>[data-testid="InputInstructions"] { display: none; }</style>'


def add_page_style() -> None:
    """The CSS every page shares (streamlit_app.py adds it on every run)."""
    st.html(page_css() + ("" if language() == SOURCE_LANGUAGE else _HIDE_INPUT_HINTS))


def uploader_css(key: str, upload: str, drop: str, limit: str) -> str:
    box = f".st-key-{key} [data-testid=\"stFileUploaderDropzone\"]"
    return f"""<style>
{box} button [data-testid="stMarkdownContainer"] p {{ display: none; }}
{box} button [data-testid="stMarkdownContainer"]::after {{ content: {upload}; }}
{box} [data-testid="stFileUploaderDropzoneInstructions"] > div > * {{ display: none; }}
{box} [data-testid="stFileUploaderDropzoneInstructions"] > div::after {{ content: {limit}; font-size: 0.875rem; }}
@media not (pointer: coarse) {{
  {box} [data-testid="stFileUploaderDropzoneInstructions"] > div::after {{ content: {drop} " · " {limit}; }}
}}
</style>"""


def translate_uploader(key: str, limit_mb: int) -> None:
    """Streamlit's texts in the uploader keyed `key`, in the session's language (a finger is not told to drag)."""
    st.html(uploader_css(key, upload=css_string(_("Upload")), drop=css_string(_("Drag and drop a file here")),
                         limit=css_string(_("at most {size} MB per file", size=limit_mb))))
