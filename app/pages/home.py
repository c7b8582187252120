"""Home: what the playground is, real sample images with their labels, and the way into each page."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import navigation, resources
from app.errors import error_text
from app.i18n import _
from app.run.texts import class_name
from mnist_core.data import DATASET_INFO, DatasetUnavailable

SAMPLE_COLUMNS = 10
SAMPLE_ROWS = 2


st.title("MNIST Playground")
st.markdown(_(
    "Train a neural network on handwritten digits (MNIST) or clothes (Fashion-MNIST) and **watch it learn**: "
    "pick the batch size, epochs, optimizer, learning rate, layers, dropout and initialisation, see the loss "
    "fall live, compare your runs, then draw a digit and see what your network thinks it is."
))

links = st.columns(3)
with links[0], st.container(border=True):
    st.markdown(_("**1. Train**: choose hyperparameters (or a course preset) and watch the loss live."))
    navigation.link("train", _("Train a network"))
with links[1], st.container(border=True):
    # The browser shows the wording for its pointer (app/page_style.py): a phone's student draws with a finger.
    st.container(key="mouse_home_draw").markdown(_("**2. Draw**: write a digit with the mouse; see the softmax "
                                                   "probabilities."))
    st.container(key="touch_home_draw").markdown(_("**2. Draw**: write a digit with your finger; see the softmax "
                                                   "probabilities."))
    navigation.link("draw", _("Draw a digit"))
with links[2], st.container(border=True):
    st.markdown(_("**3. Compare**: overlay runs, or race SGD against Momentum, RMSprop and Adam."))
    navigation.link("compare", _("Compare runs"))
with st.container(border=True):
    st.markdown(_("**Learn**: every idea of the course as something to play with, from the mock exam of 100 "
                  "questions (batch size) to the course's own results table."))
    navigation.link("learn", _("Open the lessons"))

st.subheader(_("What the network sees"))
controls = st.columns([3, 1])
name = controls[0].radio(_("Dataset"), list(DATASET_INFO), horizontal=True, key="home_dataset", persist_state="session",
                         format_func=lambda n: DATASET_INFO[n].title)
if controls[1].button(_("Show other samples"), key="home_shuffle"):
    st.session_state["home_sample_seed"] = st.session_state.get("home_sample_seed", 0) + 1

try:
    data = resources.dataset(name)
except DatasetUnavailable as exc:
    st.warning(_("The sample images need the dataset. {reason}", reason=error_text(exc)))
else:
    rng = np.random.default_rng(st.session_state.get("home_sample_seed", 0))
    picks = rng.choice(len(data.test_images), SAMPLE_COLUMNS * SAMPLE_ROWS, replace=False)
    st.caption(_("Random images from the {dataset} test set, 28×28 pixels each, with their labels.",
                 dataset=DATASET_INFO[name].title))
    pictures = resources.test_image_pngs(name, picks, 4)
    for row in range(SAMPLE_ROWS):
        columns = st.columns(SAMPLE_COLUMNS)
        for column, index, picture in zip(columns, picks[row * SAMPLE_COLUMNS:(row + 1) * SAMPLE_COLUMNS],
                                          pictures[row * SAMPLE_COLUMNS:(row + 1) * SAMPLE_COLUMNS], strict=False):
            label = class_name(data.class_names[int(data.test_labels[index])])
            column.image(picture, caption=label, width="stretch", output_format="PNG")
