"""Lesson 7: initialisation (what random-normal, Xavier and Kaiming pass to deep layers) and dropout."""

from __future__ import annotations

import streamlit as st

from app import resources
from app.errors import error_text
from app.i18n import N_, _, number
from app.lessons import charts as lessons_charts
from app.lessons import runs as lessons_runs
from mnist_core.config import TrainConfig
from mnist_core.data import DatasetUnavailable, normalize
from mnist_core.lessons.initialisation import DROPOUT_BASE, LAYERS, SCHEMES, UNITS, activation_stats, dropout_comparison
from mnist_core.runs.record import RunRecord

LESSON = "init"
SCHEME_NAMES = {"normal": N_("random normal N(0, 0.01²)"), "xavier": N_("Xavier"), "kaiming": N_("Kaiming (He)")}
IMAGES = 500

st.title(_("Initialisation and dropout"))
st.markdown(_("Before training, every weight gets a random start. The course's first experiments use random "
              "weights; the later ones switch to **Xavier initialisation** and gain accuracy (0.94 → 0.9791). "
              "Why: each layer multiplies what it receives. Too small weights and the signal shrinks to 0 layer "
              "after layer; too large and it explodes or saturates. Xavier (for tanh, sigmoid) and Kaiming (for "
              "ReLU) scale the weights by the number of inputs so every layer passes on about as much as it got."))

c1, c2 = st.columns(2)
scheme_labels = {name: _(label) for name, label in SCHEME_NAMES.items()}
scheme = c1.radio(_("Initialisation"), SCHEMES, format_func=scheme_labels.get, horizontal=True,
                  index=1, key="learn_init_scheme")
activation = c2.radio(_("Activation"), ["tanh", "relu"], horizontal=True, key="learn_init_activation")


@st.cache_data(show_spinner=False, max_entries=12)
def layer_stats(scheme: str, activation: str):
    data = resources.dataset("mnist")
    images = normalize(data.test_images[:IMAGES], data.mean, data.std)
    return activation_stats(images, scheme, activation)


try:
    stats = layer_stats(scheme, activation)
except DatasetUnavailable as exc:
    st.warning(_("This part needs the MNIST files: {error}", error=error_text(exc)))
    stats = None
if stats is not None:
    value_range = (-1.0, 1.0) if activation == "tanh" else (0.0, max(1e-3, max(float(s.values.max()) for s in stats)))
    st.plotly_chart(lessons_charts.layer_histograms(
        _("Activations of each of {layers} hidden layers ({units} units) for {images} MNIST test images",
          layers=LAYERS, units=UNITS, images=IMAGES),
        [(_("layer {n}", n=s.layer), s.values) for s in stats], value_range), key="learn_init_histograms")
    st.dataframe({_("layer"): [s.layer for s in stats], _("mean"): [round(s.mean, 5) for s in stats],
                  _("standard deviation"): [f"{s.std:.2e}" for s in stats]}, hide_index=True)
    st.info(_("What to notice: with {scheme}, the last layer's activations have a standard deviation of {last} "
              "(the first layer: {first}).", scheme=_(SCHEME_NAMES[scheme]), last=f"{stats[-1].std:.2e}",
              first=f"{stats[0].std:.2e}"))

st.subheader(_("Dropout against overfitting"))
st.markdown(_("**Overfitting**: the network learns the training data by heart and does worse on data it has not "
              "seen. **Dropout** switches off a random part of the hidden units at every iteration while training "
              "(the course uses p = 0.3), so no unit can rely on another. Here: a {layers} network on only "
              "{samples} training images, once without and once with dropout, validated on {val} other images.",
              layers="-".join(str(u) for u in (784, *DROPOUT_BASE.hidden, 10)),
              samples=number(DROPOUT_BASE.train_limit), val=number(DROPOUT_BASE.val_size)))
c1, c2 = st.columns(2)
epochs = c1.slider(_("Epochs (each run)"), 5, 50, 20, key="learn_init_epochs")
rate = c2.select_slider(_("Dropout p"), options=[0.2, 0.3, 0.5, 0.7], value=0.5, key="learn_init_dropout")


def lesson_runs(epochs: int, rate: float) -> tuple[dict[str, TrainConfig], dict[str, str]]:
    """The two runs by their label, and the name each is stored under."""
    configs = dropout_comparison(epochs, rate)
    return ({_("dropout {p}", p=p): c for p, c in configs.items()},
            {_("dropout {p}", p=p): f"learn · dropout {p}" for p in configs})


names = lesson_runs(epochs, rate)[1]


def start() -> None:
    # A callback: read the widgets from the session, which may hold newer values than this run's `configs`.
    chosen, chosen_names = lesson_runs(st.session_state["learn_init_epochs"], st.session_state["learn_init_dropout"])
    lessons_runs.start_runs(LESSON, chosen, chosen_names)


st.button(_("Train both runs"), type="primary", icon=":material/play_arrow:", on_click=start, key="learn_init_start")


def results(records: dict[str, RunRecord]) -> None:
    series, gaps = {}, []
    for label, record in records.items():
        metrics = resources.store().epochs(record.id)
        numbers = [m.epoch for m in metrics]
        series[_("{run}: training", run=label)] = (numbers, [m.train_loss for m in metrics])
        series[_("{run}: validation", run=label)] = (numbers, [m.val_loss for m in metrics])
        if metrics:
            gaps.append((label, metrics[-1].val_loss - metrics[-1].train_loss, min(m.val_loss for m in metrics),
                         metrics[-1].val_loss))
    st.plotly_chart(lessons_charts.lines(_("Training and validation loss per epoch"), _("epoch"), _("loss"), series),
                    key="learn_init_curves")
    st.dataframe({_("run"): [g[0] for g in gaps], _("validation − training loss"): [round(g[1], 3) for g in gaps],
                  _("best validation loss"): [round(g[2], 3) for g in gaps],
                  _("last validation loss"): [round(g[3], 3) for g in gaps]}, hide_index=True)
    if len(gaps) == 2:
        st.info(_("What to notice: without dropout the training loss falls to almost 0 (the {samples} images are "
                  "learned by heart) while the validation loss stops falling: overfitting. The gap between the two "
                  "at the end: {gap0} without dropout, {gap1} with it.", samples=number(DROPOUT_BASE.train_limit),
                  gap0=number(gaps[0][1], 3), gap1=number(gaps[1][1], 3)))


lessons_runs.runs_panel(LESSON, names, results)
