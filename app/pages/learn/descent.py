"""Lesson 2: gradient descent, SGD and mini-batch SGD as paths down the same 2-D loss surface."""

from __future__ import annotations

import streamlit as st

from app.i18n import _, number
from app.lessons import charts as lessons_charts
from mnist_core.lessons.descent import POINTS, descend, least_squares, loss_grid, make_points

st.title(_("GD, SGD and mini-batch"))
st.markdown(_("**Gradient descent (GD, BGD)** computes the gradient on all the training data before each step: "
              "the best step, but slow (the course: one hour per step, 6 steps = 6 hours). **Stochastic gradient "
              "descent (SGD)** steps after each sample: quick steps that wander (5 minutes per step, 10 steps = 50 "
              "minutes: it wanders a little but gets there fast). **Mini-batch** SGD is in between: the mean "
              "gradient of a mini-batch per step, the usual way in deep learning."))
st.caption(_("Here the model is a line y = w·x + b fitted to {points} generated points; its loss (mean squared "
             "error) over every (w, b) is the bowl below, and each method walks down it from the same start.",
             points=POINTS))

c1, c2, c3 = st.columns(3)
lr = c1.select_slider(_("Learning rate"), options=[0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5], value=0.1,
                      key="learn_descent_lr")
batch = c2.select_slider(_("Mini-batch size"), options=[2, 5, 10, 20, 50], value=10, key="learn_descent_batch")
epochs = c3.slider(_("Epochs"), 1, 20, 3, key="learn_descent_epochs")

points = make_points()
paths = {_("GD (all {n})", n=POINTS): descend(points, POINTS, lr, epochs),
         _("mini-batch ({batch})", batch=batch): descend(points, batch, lr, epochs),
         _("SGD (1)"): descend(points, 1, lr, epochs)}
ws, bs, grid = loss_grid(points)
st.plotly_chart(lessons_charts.contour_paths(_("Paths on the loss surface"), ws, bs, grid,
                                             {label: p.wb for label, p in paths.items()}, "w", "b",
                                             target=least_squares(points)), key="learn_descent_surface")
left, right = st.columns(2)
left.plotly_chart(lessons_charts.lines(_("Loss after each weight update"), _("weight updates"), _("loss (all data)"),
                                       {label: (range(len(p.loss)), p.loss) for label, p in paths.items()},
                                       log_y=True), key="learn_descent_updates")
right.plotly_chart(lessons_charts.lines(_("Loss against samples used"), _("samples used (gradients computed)"),
                                        _("loss (all data)"),
                                        {label: (p.samples, p.loss) for label, p in paths.items()}, log_y=True),
                   key="learn_descent_samples")
rows = {_("method"): list(paths), _("weight updates"): [len(p.loss) - 1 for p in paths.values()],
        _("final loss"): [number(float(p.loss[-1]), 4) for p in paths.values()]}
st.dataframe(rows, hide_index=True)
gd, sgd = paths[next(iter(paths))], paths[_("SGD (1)")]
st.info(_("What to notice: in {epochs} epochs GD takes {gd} smooth steps and ends at loss {gd_loss}; SGD takes {sgd} "
          "noisy ones from the same data and ends at {sgd_loss}. SGD never settles exactly at the minimum: each step "
          "follows a single point.", epochs=epochs, gd=len(gd.loss) - 1, sgd=len(sgd.loss) - 1,
          gd_loss=number(float(gd.loss[-1]), 4), sgd_loss=number(float(sgd.loss[-1]), 4)))
