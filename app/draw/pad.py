"""The Draw page's input: the canvas with visible Clear and Undo buttons, and the photo upload.

streamlit-drawable-canvas 0.13.0 has its own toolbar, but it shows only while a mouse hovers over the canvas: on a
phone or tablet it is invisible, yet its buttons still lie over the canvas's top edge, so a stroke started there
taps "Reset canvas" or the "Edit" toggle (which then moves strokes instead of drawing). The page hides that
toolbar and gives the two actions a student needs as ordinary buttons below the canvas:

- Clear: the canvas is reloaded with an empty `initial_drawing`;
- Undo: it is reloaded with the drawing's objects minus the last stroke.

The canvas reloads only when `initial_drawing` changes, so each reload carries a new `revision` number (two Clears
in a row must both act). Until the canvas sends its redrawn picture back, the picture from before the click is
stale and is not read.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from app.errors import byte_size
from app.i18n import _
from app.ui_settings import CANVAS_SIZE
from app.user_text import markdown_text
from mnist_core.image_files import MAX_BYTES, ImageFileError, read_image_file

CANVAS_KEY = "canvas_draw"
DRAWING_KEY = "draw_initial_drawing"  # what the canvas is (re)loaded with; changes only on Clear and Undo
STALE_KEY = "draw_stale_picture"  # the canvas's picture at the last Clear/Undo, ignored until a new one comes
UPLOAD_KEY = "draw_upload_read"  # the last upload's (sha256, name) and what reading it gave: pixels or the error
UPLOAD_LIMIT_MB = MAX_BYTES // 2**20  # the uploader's own limit: the browser refuses bigger files before sending
decodes = 0  # uploads decoded by this process: once per file, however often the page reruns (a test counts them)
# The canvas lives in a shadow root, out of reach of the page's CSS: this script adds the rule inside it.
_HIDE_TOOLBAR = """
<script>
(() => {
  const hide = () => document.querySelectorAll("*").forEach((host) => {
    const root = host.shadowRoot;
    // Into every shadow root, whether the toolbar is drawn in it yet or not: the component fills its root after
    // adding it to the page, and changes inside a shadow root never reach the observer below. The rule only
    // matches the canvas's toolbar.
    if (!root || root.querySelector("style[data-hide-toolbar]")) return;
    const style = document.createElement("style");
    style.dataset.hideToolbar = "1";
    style.textContent = ".dc-toolbar { display: none !important; }";
    root.appendChild(style);
  });
  hide();
  // Throttled, not debounced: a page that keeps changing (live refreshes, a busy server) must not postpone it.
  let pending = null;
  new MutationObserver(() => {
    pending = pending || setTimeout(() => { pending = null; hide(); }, 50);
  }).observe(document.body, {childList: true, subtree: true});
})();
</script>
"""


def _canvas_state() -> dict[str, Any]:
    """What the canvas last sent: {"raw": fabric.js JSON, "data": PNG data URL or None}."""
    state = st.session_state.get(CANVAS_KEY) or {}
    return state.get("drawing") or {}


def strokes() -> list[dict[str, Any]]:
    """The objects (strokes) on the canvas as it last reported them."""
    return list((_canvas_state().get("raw") or {}).get("objects") or [])


def _reload(objects: list[dict[str, Any]]) -> None:
    revision = int(st.session_state.get(DRAWING_KEY, {}).get("revision", 0)) + 1
    st.session_state[DRAWING_KEY] = {"objects": objects, "revision": revision}
    st.session_state[STALE_KEY] = _canvas_state().get("data")


def clear() -> None:
    _reload([])


def undo() -> None:
    _reload(strokes()[:-1])


def canvas(stroke_width: int, answer_slot: list[Any] | None = None) -> np.ndarray | None:
    """Draw the canvas and its buttons; the drawing's RGB pixels, or None while there is nothing (new) to read.
    `answer_slot`, when given, gets an empty place beside the buttons for a compact answer (`compact_answer`)."""
    initial = st.session_state.setdefault(DRAWING_KEY, {"objects": [], "revision": 0})
    result = st_canvas(stroke_width=stroke_width, stroke_color="#FFFFFF", background_color="#000000",
                       width=CANVAS_SIZE, height=CANVAS_SIZE, drawing_mode="freedraw", initial_drawing=initial,
                       return_image_data=True, key=CANVAS_KEY)
    st.html(_HIDE_TOOLBAR, unsafe_allow_javascript=True)
    drawn = bool(strokes())
    with st.container(horizontal=True):  # side by side on a phone too, where columns would stack
        st.button(_("Clear"), key="draw_clear", on_click=clear, icon=":material/delete:", disabled=not drawn,
                  help=_("Wipe the canvas and start again."))
        st.button(_("Undo"), key="draw_undo", on_click=undo, icon=":material/undo:", disabled=not drawn,
                  help=_("Take back the last stroke."))
        if answer_slot is not None:
            answer_slot.append(st.container(key="phone_draw_answer"))
    picture = _canvas_state().get("data")
    stale = st.session_state.get(STALE_KEY)
    if stale is not None and picture == stale:
        return None  # the canvas has not sent its redrawn picture yet
    st.session_state[STALE_KEY] = None
    if picture is None:
        return None
    return np.asarray(result.image_data)[:, :, :3]  # RGB: the canvas's alpha says nothing about the ink


def read_upload(data: bytes, name: str) -> np.ndarray:
    """An uploaded photo's pixels, decoded once per upload: the page reruns on every stroke and widget change, and
    decoding a phone photo again each time cost the server up to a second. Kept in this session, keyed by the
    bytes' sha256 and the name the messages show; a file that cannot be read raises its ImageFileError each time."""
    global decodes
    key = (hashlib.sha256(data).hexdigest(), name)
    kept = st.session_state.get(UPLOAD_KEY)
    if kept is None or kept[0] != key:
        decodes += 1
        try:
            kept = (key, read_image_file(data, name), None)
        except ImageFileError as exc:
            kept = (key, None, exc)
        st.session_state[UPLOAD_KEY] = kept
    if kept[2] is not None:
        raise kept[2]
    return kept[1]


def forget_upload() -> None:
    """The upload was removed: its pixels need not stay in the session."""
    st.session_state.pop(UPLOAD_KEY, None)


def upload_problem(exc: ImageFileError) -> str:
    """Why an uploaded file cannot be read, in words (Markdown)."""
    messages = {
        "empty": _("{name} is empty (0 bytes). Choose a PNG or JPEG photo of a digit."),
        "file_too_large": _("{name} is {detail}, more than the {limit} a photo may have. Upload a smaller photo."),
        "format": _("{name} is a {detail} image. Upload a PNG or JPEG instead."),
        "too_large": _("{name} is {detail} pixels, too large to read. Upload a smaller photo."),
        "damaged": _("{name} is damaged or cut short and cannot be read. Save it again and upload the new file."),
    }
    message = messages.get(getattr(exc, "reason", ""),
                           _("{name} is not an image. Upload a photo of a digit saved as PNG or JPEG."))
    name = getattr(exc, "name", "")  # the file's name on the student's computer, shown as it is
    detail = getattr(exc, "detail", "")
    if getattr(exc, "reason", "") == "file_too_large" and detail.isdigit():
        detail = byte_size(int(detail))
    return message.format(name=markdown_text(name) if name else _("The file"), detail=detail,
                          limit=byte_size(MAX_BYTES))


def compact_answer(slot: Any, label: str | None, confidence: str | None) -> None:
    """The answer in one line beside Clear and Undo, for a phone: there the full answer lies below the canvas, out of
    view while the student draws (page_style shows a `phone_` element only on a narrow screen)."""
    with slot:
        if label is None:
            st.markdown(_("**Prediction:** –"))
        else:
            st.markdown(_("**Prediction: {label}** · {confidence}", label=label, confidence=confidence))

