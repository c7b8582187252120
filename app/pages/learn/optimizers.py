"""Lesson 3: six optimizers step by step on the same surface, paths overlaid, with a step slider."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app import resources
from app.errors import failure_text
from app.i18n import N_, _, number, percent
from app.lessons import charts as lessons_charts
from app.lessons import runs as lessons_runs
from app.run.texts import status_word
from mnist_core.lessons.optimizers import (
    LEARNING_RATES_ON_MNIST,
    SURFACES,
    UPDATE_RULES,
    learning_rate_comparison,
    optimize,
    path_losses,
)
from mnist_core.runs.record import RunRecord

LESSON = "optimizers"

SURFACE_NAMES = {"bowl": N_("Elongated bowl"), "rosenbrock": N_("Rosenbrock's banana valley"),
                 "saddle": N_("Saddle point")}
IDEAS = {
    "sgd": N_("SGD: a step against the gradient, lr × gradient."),
    "momentum": N_("Momentum: keeps 90% of the last step's velocity, like a ball rolling downhill."),
    "nesterov": N_("Nesterov: momentum that looks ahead to where the velocity is taking it."),
    "adagrad": N_("Adagrad: divides by the root of all past squared gradients: steep directions slow down."),
    "rmsprop": N_("RMSprop: Adagrad with a moving average, so the steps do not shrink for ever."),
    "adam": N_("Adam: momentum and RMSprop together, with bias correction."),
}

st.title(_("Optimizers"))
st.markdown(_("An **optimizer** decides how the weights move once the gradient is known. The course's picture: "
              "plain SGD goes straight down the slope and zigzags in narrow valleys; the later methods remember "
              "past steps (momentum) or adapt the step size per direction (Adagrad, RMSprop), and Adam does both. "
              "Here each one walks on the same surface from the same start."))
for name in UPDATE_RULES:
    st.markdown(f"- {_(IDEAS[name])}")

surface_labels = {name: _(label) for name, label in SURFACE_NAMES.items()}  # fixed now: AppTest formats later
surface_key = st.radio(_("Surface"), list(SURFACES), format_func=surface_labels.get, horizontal=True,
                       key="learn_optimizers_surface")
surface = SURFACES[surface_key]
chosen = st.multiselect(_("Optimizers"), UPDATE_RULES, default=list(UPDATE_RULES), key="learn_optimizers_chosen")
with st.expander(_("Learning rates (each optimizer has its own sensible default)")):
    columns = st.columns(len(UPDATE_RULES))
    rates = {name: column.number_input(name, min_value=1e-5, max_value=10.0, value=surface.default_lr[name],
                                       format="%g", key=f"learn_optimizers_lr_{surface_key}_{name}")
             for name, column in zip(UPDATE_RULES, columns, strict=False)}
total = 500
shown = st.slider(_("Steps"), 0, total, 100, key="learn_optimizers_steps")

paths = {name: optimize(surface, name, rates[name], total) for name in chosen}
x = np.linspace(*surface.x_range, 120)
y = np.linspace(*surface.y_range, 120)
xx, yy = np.meshgrid(x, y)
minimum = {"bowl": (0.0, 0.0), "rosenbrock": (1.0, 1.0), "saddle": None}[surface_key]
st.plotly_chart(lessons_charts.contour_paths(_("After {steps} steps", steps=shown), x, y, surface.loss(xx, yy),
                                             {n: p[: shown + 1] for n, p in paths.items()}, "x", "y",
                                             target=minimum, log_levels=surface_key == "rosenbrock"),
                key="learn_optimizers_surface_chart")
losses = {name: path_losses(surface, p) for name, p in paths.items()}
if surface_key == "saddle":
    st.plotly_chart(lessons_charts.lines(_("Loss per step"), _("step"), _("loss"),
                                         {n: (range(shown + 1), v[: shown + 1]) for n, v in losses.items()}),
                    key="learn_optimizers_loss")
else:
    st.plotly_chart(lessons_charts.lines(_("Loss per step"), _("step"), _("loss (log scale)"),
                                         {n: (range(shown + 1), np.maximum(v[: shown + 1], 1e-12))
                                          for n, v in losses.items()}, log_y=True), key="learn_optimizers_loss")
rows = {_("optimizer"): list(paths), _("learning rate"): [rates[n] for n in paths],
        _("loss after {steps} steps", steps=shown): [number(float(losses[n][shown]), 5) for n in paths]}
st.dataframe(rows, hide_index=True)
st.info(_("What to notice: on the elongated bowl SGD needs a small learning rate not to bounce across the steep "
          "direction, so it crawls along the flat one; momentum and Adam keep moving along the valley floor."))

st.subheader(_("On real MNIST: a learning rate that is too large"))
st.markdown(_("The same idea on the real network: a {layers} network trained with momentum on {samples} MNIST "
              "images, three times, identical except for the learning rate: {rates}. The largest is too large on "
              "purpose: watch what happens to its loss.",
              layers="-".join(str(u) for u in (784, 256, 256, 10)), samples=number(6000),
              rates=", ".join(number(lr) for lr in LEARNING_RATES_ON_MNIST)))
run_labels = {lr: _("learning rate {lr}", lr=number(lr)) for lr in LEARNING_RATES_ON_MNIST}
run_names = {run_labels[lr]: f"learn · momentum lr {lr:g}" for lr in LEARNING_RATES_ON_MNIST}


def start_learning_rate_runs() -> None:
    lessons_runs.start_runs(LESSON, {run_labels[lr]: c for lr, c in learning_rate_comparison().items()}, run_names)


st.button(_("Train the three runs"), type="primary", icon=":material/play_arrow:", on_click=start_learning_rate_runs,
          key="learn_optimizers_mnist_start")


def learning_rate_results(records: dict[str, RunRecord]) -> None:
    store, series, outcomes, why = resources.store(), {}, [], []
    for label, record in records.items():
        points = store.losses(record.id)
        series[label] = (points.iterations, points.losses)
        failure = record.failure
        if record.status == "completed":
            outcomes.append(_("test accuracy {accuracy}", accuracy=percent(record.test_accuracy or 0.0, 2)))
        elif failure is not None and failure.kind == "diverged":
            outcomes.append(_("diverged: stopped at iteration {iteration}", iteration=failure.facts.get("iteration")))
            why.append(_("{run}: {why}", run=label, why=failure_text(failure)))
        else:
            outcomes.append(status_word(record.status))
    st.plotly_chart(lessons_charts.lines(_("Training loss per iteration"), _("iteration"), _("loss (log scale)"),
                                         series, log_y=True), key="learn_optimizers_mnist_loss")
    st.dataframe({_("run"): list(records), _("outcome"): outcomes}, hide_index=True)
    for text in why:
        st.warning(text, icon=":material/trending_up:")


lessons_runs.runs_panel(LESSON, run_names, learning_rate_results)
