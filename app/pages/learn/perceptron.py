"""Lesson 4: a perceptron learns AND and OR, never XOR; a two-layer perceptron learns XOR by backpropagation."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app.i18n import _, number, percent
from app.lessons import charts as lessons_charts
from mnist_core.lessons.perceptron import (
    GATES,
    INPUTS,
    autograd_gradients,
    backprop,
    forward,
    gradient_rows,
    grid_outputs,
    perceptron_outputs,
    train_mlp,
    train_perceptron,
    truth,
)


@st.cache_data(show_spinner=False, max_entries=16)
def mlp_history(gate: str, hidden: int, epochs: int, lr: float):
    return train_mlp(gate, hidden, epochs, lr)


st.title(_("Perceptron and MLP"))
st.markdown(_("A **perceptron** is a network of one Linear layer: each input gets a weight, the weighted sum plus "
              "the bias goes through a step. It draws one straight line through the input plane, so it can learn "
              "AND and OR. XOR needs two lines: the limit of the single-layer perceptron (SLP). A **multi-layer "
              "perceptron (MLP)** adds a hidden layer, and **backpropagation** (loss.backward()) finds the weights "
              "of every layer."))

gate = st.radio(_("Truth table"), list(GATES), horizontal=True, index=2, key="learn_perceptron_gate")
target = truth(gate)

st.subheader(_("One perceptron"))
epochs = st.slider(_("Epochs of the perceptron rule"), 1, 100, 20, key="learn_perceptron_epochs")
history = train_perceptron(gate, epochs)
w, b = history.weights[-1], float(history.bias[-1])
left, right = st.columns(2)
axis, values = grid_outputs(lambda p: perceptron_outputs(w, b, p))
left.plotly_chart(lessons_charts.decision_map(_("Perceptron on {gate}", gate=gate), axis, values, INPUTS, target),
                  key="learn_perceptron_map")
right.plotly_chart(lessons_charts.lines(_("Rows right per epoch"), _("epoch"), _("accuracy"),
                                        {_("perceptron"): (range(epochs + 1), history.accuracy)}, markers=True),
                   key="learn_perceptron_accuracy")
outputs = perceptron_outputs(w, b)
st.dataframe({"x1": INPUTS[:, 0].astype(int), "x2": INPUTS[:, 1].astype(int), gate: target.astype(int),
              _("perceptron"): outputs.astype(int)}, hide_index=False)
best = float(history.accuracy.max())
st.info(_("Best accuracy in {epochs} epochs: {best}. The perceptron learns AND and OR in a few epochs; on XOR "
          "it never gets all four rows right: no straight line separates them.", epochs=epochs,
          best=percent(best, 0)))

st.subheader(_("A two-layer perceptron (MLP)"))
c1, c2, c3 = st.columns(3)
hidden = c1.radio(_("Hidden units"), [2, 4], horizontal=True, key="learn_perceptron_hidden")
mlp_epochs = c2.slider(_("Epochs of gradient descent"), 10, 3000, 1500, step=10, key="learn_perceptron_mlp_epochs")
lr = c3.select_slider(_("Learning rate"), options=[0.1, 0.5, 1.0, 2.0, 5.0], value=2.0, key="learn_perceptron_lr")
mlp = mlp_history(gate, hidden, mlp_epochs, lr)
net = mlp.nets[-1]
left, right = st.columns(2)
axis, values = grid_outputs(lambda p: forward(net, p)[1])
left.plotly_chart(lessons_charts.decision_map(_("2-{hidden}-1 MLP on {gate}", hidden=hidden, gate=gate), axis,
                                              values, INPUTS, target), key="learn_perceptron_mlp_map")
right.plotly_chart(lessons_charts.lines(_("Loss per epoch"), _("epoch"), _("binary cross-entropy"),
                                        {_("MLP"): (range(mlp_epochs + 1), mlp.loss)}), key="learn_perceptron_loss")
y = forward(net, INPUTS)[1]
st.dataframe({"x1": INPUTS[:, 0].astype(int), "x2": INPUTS[:, 1].astype(int), gate: target.astype(int),
              _("MLP output"): np.round(y, 3), _("MLP answer"): (y >= 0.5).astype(int)})
st.info(_("Accuracy after {epochs} epochs: {accuracy} (loss {loss}). The hidden layer bends the boundary: two "
          "lines instead of one.", epochs=mlp_epochs, accuracy=percent(float(mlp.accuracy[-1]), 0),
          loss=number(float(mlp.loss[-1]), 4)))

st.subheader(_("Backpropagation on the 2-2-1 net, one example"))
row = st.selectbox(_("Example (row of the truth table)"), range(4), key="learn_perceptron_row",
                   format_func=lambda i: f"x = ({int(INPUTS[i, 0])}, {int(INPUTS[i, 1])}) → {int(target[i])}")
small = mlp_history(gate, 2, mlp_epochs, lr).nets[0]  # the untrained 2-2-1 net: its gradients are large
x, t = INPUTS[row : row + 1], target[row : row + 1]
rows = gradient_rows(small, backprop(small, x, t), autograd_gradients(small, x, t))
st.dataframe({_("weight"): [r[0] for r in rows], _("value"): [round(r[1], 4) for r in rows],
              _("gradient by hand (chain rule)"): [f"{r[2]:.6f}" for r in rows],
              _("gradient from autograd"): [f"{r[3]:.6f}" for r in rows]}, hide_index=True)
largest = max(abs(r[2] - r[3]) for r in rows)
st.info(_("Largest difference between the two columns: {difference}. The chain rule by hand, from the output back "
          "to the first layer, gives what loss.backward() gives.", difference=f"{largest:.1e}"))
