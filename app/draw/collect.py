"""Draw's "Add it to the class set" box: after seeing the prediction, one click on the digit the student meant
stores the drawing (the 28x28 image the model read and the stroke image) in the class set, with a digit to draw
next that keeps the student's own collection balanced."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import streamlit as st
from PIL import Image

from app import identity, resources
from app.class_set_texts import refusal_text
from app.i18n import _, ngettext
from mnist_core.class_set.samples import DIGITS, ClassSet, ClassSetRefused
from mnist_core.preprocess import Drawing
from mnist_core.weights import LoadedModel

RAW_SIDE = 280  # the canvas's size: larger photos are kept at this size
_ADDED_KEY = "class_set_added"  # (image hash, label, sample id) of the drawing last added in this session
_PENDING_KEY = "class_set_pending"  # the drawing on screen, for the buttons' callback
_MESSAGE_KEY = "class_set_message"  # ("error", text) from the last click
_PROMPT_KEY = "class_set_prompt"


def raw_picture(pixels: np.ndarray) -> Image.Image:
    """The stroke image in grey, at most RAW_SIDE pixels a side."""
    picture = Image.fromarray(np.asarray(pixels, np.uint8)).convert("L")
    picture.thumbnail((RAW_SIDE, RAW_SIDE))
    return picture


def raw_png(picture: Image.Image) -> bytes:
    """`raw_picture` as PNG: encoded when the student adds the drawing, not on every rerun that offers it."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _image_hash(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


def next_digit(class_set: ClassSet, owner_id: str) -> int:
    """A random digit among those the student has drawn fewest of, so their samples stay balanced."""
    counts = class_set.per_digit(owner_id)
    fewest = [d for d in range(DIGITS) if counts[d] == min(counts)]
    return int(np.random.default_rng().choice(fewest))


def _add(label: int) -> None:
    image, picture = st.session_state[_PENDING_KEY]
    png = raw_png(picture)
    class_set = ClassSet(resources.store())
    actor = identity.current_actor()
    try:
        sample_id = class_set.add(actor, label, image, png)
    except ClassSetRefused as exc:
        st.session_state[_MESSAGE_KEY] = refusal_text(exc)
        return
    st.session_state[_MESSAGE_KEY] = None
    st.session_state[_ADDED_KEY] = (_image_hash(image), label, sample_id)
    st.session_state[_PROMPT_KEY] = next_digit(class_set, actor.owner_id)


def offer(loaded: LoadedModel, drawing: Drawing, pixels: np.ndarray) -> None:
    """The box under the prediction (for a legible drawing read by a model of handwritten digits)."""
    if loaded.config.dataset != "mnist" or drawing.empty or drawing.unreadable:
        return
    class_set = ClassSet(resources.store())
    owner = identity.current_actor().owner_id
    st.session_state[_PENDING_KEY] = (drawing.image, raw_picture(pixels))
    added = st.session_state.get(_ADDED_KEY)
    with st.container(border=True, key="class_set_collect"):
        if added is not None and added[0] == _image_hash(drawing.image):
            st.success(_("Added to the class set as {digit}. Next, clear the canvas and draw: {next}.",
                         digit=added[1], next=st.session_state.get(_PROMPT_KEY, 0)))
        elif class_set.frozen():
            st.caption(_("The teacher has closed the class set: no drawings can be added now."))
        else:
            st.markdown(_("**Add it to the class set**: click the digit you meant to write, whatever the model "
                          "read."))
            with st.container(horizontal=True):
                for digit in range(DIGITS):
                    st.button(str(digit), key=f"class_set_add_{digit}", on_click=_add, args=(digit,))
            prompt = st.session_state.setdefault(_PROMPT_KEY, next_digit(class_set, owner))
            st.caption(_("Collecting for the class? Next digit to draw: {digit} (the one you have drawn "
                         "least).", digit=prompt))
        if st.session_state.get(_MESSAGE_KEY):
            st.error(st.session_state[_MESSAGE_KEY])
        mine = class_set.count(owner)
        st.caption(ngettext("You have added {n} drawing to the class set.",
                            "You have added {n} drawings to the class set.", mine))
