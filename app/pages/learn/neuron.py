"""Lesson 5: one neuron (going to the party), activation functions as thresholds, and stacked linear layers."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app.i18n import N_, _, number
from app.lessons import charts as lessons_charts
from mnist_core.lessons.neuron import ACTIVATIONS, activation_curve, collapse_linear, neuron, passes

REASONS = (N_("It is not raining"), N_("I have money"), N_("A friend has time"))

st.title(_("Weight, bias, activation"))
st.markdown(_("The course's question: **will A go to the party?** Each reason is an input x (1 = yes), each has a "
              "weight w (how much it matters to A), and the neuron adds them up: sum(w·x) + b. The **bias** b is "
              "A's character: there are people who go to the party even when it rains, they have no money and no "
              "friend has time. Whatever the inputs, the bias is added."))

inputs, weights = [], []
for number_, reason in enumerate(REASONS):
    left, right = st.columns([1, 2])
    inputs.append(1.0 if left.checkbox(_(reason), value=number_ == 0, key=f"learn_neuron_x{number_}") else 0.0)
    weights.append(right.slider(_("weight of “{reason}”", reason=_(reason)), -3.0, 3.0, 1.0, 0.5,
                                key=f"learn_neuron_w{number_}"))
bias = st.slider(_("Bias b (A's character)"), -5.0, 5.0, -1.5, 0.5, key="learn_neuron_bias")
result = neuron(inputs, weights, bias)
st.metric(_("sum(w·x) + b"), number(result.total, 2),
          help=_("weighted sum {weighted} plus bias {bias}", weighted=number(result.weighted_sum, 2),
                 bias=number(bias, 2)))
if result.fires:
    st.success(_("A goes to the party."))
else:
    st.warning(_("A stays home."))
st.caption(_("With every input 0 only the bias decides: with b = {bias}, A {decision}.", bias=number(bias, 2),
             decision=_("goes anyway") if neuron([0, 0, 0], weights, bias).fires else _("stays home")))

st.subheader(_("Activation function: a threshold"))
st.markdown(_("An activation function is like a pass mark: a certificate needs an average of 60. 59.9999 fails, "
              "60 passes: at the threshold the output changes a lot. As a neuron: weights 1/n, bias −60, a step "
              "at 0."))
scores = [st.slider(_("Score {number}", number=i + 1), 0.0, 100.0, v, 0.5, key=f"learn_neuron_score{i}")
          for i, v in enumerate((55.0, 62.0, 64.0))]
total, passed = passes(scores)
st.markdown(_("Average {average} − 60 = {total} → {verdict}", average=number(float(np.mean(scores)), 2),
              total=number(total, 2), verdict=_("pass") if passed else _("fail")))

chosen = st.multiselect(_("Activation functions"), ACTIVATIONS, default=["step", "sigmoid", "relu"],
                        key="learn_neuron_activations")
curves = {name: activation_curve(name) for name in chosen}
left, right = st.columns(2)
left.plotly_chart(lessons_charts.lines(_("f(z)"), "z", "f(z)", {n: (c[0], c[1]) for n, c in curves.items()}),
                  key="learn_neuron_f")
right.plotly_chart(lessons_charts.lines(_("Derivative f′(z) (from autograd)"), "z", "f′(z)",
                                        {n: (c[0], c[2]) for n, c in curves.items()}), key="learn_neuron_df")
st.caption(_("The step's derivative is 0 everywhere: no gradient to learn from. That is why networks use sigmoid, "
             "tanh or ReLU, whose slopes backpropagation can follow."))

st.subheader(_("Without an activation, layers collapse into one"))
st.markdown(_("f(x) = a·x stacked three times is a₃·a₂·a₁·x: still one linear function. The same holds for Linear "
              "layers: W₂(W₁x + b₁) + b₂ = (W₂W₁)x + (W₂b₁ + b₂)."))
depth = st.slider(_("Linear layers stacked"), 2, 6, 3, key="learn_neuron_depth")
sizes = [3] + [4] * (depth - 1) + [2]
collapse = collapse_linear(sizes)
st.markdown(_("Layers {shapes} → one {rows}×{cols} matrix W and bias b:", shapes=" → ".join(str(s) for s in sizes),
              rows=collapse.weight.shape[0], cols=collapse.weight.shape[1]))
left, right = st.columns([3, 2])
left.dataframe(np.round(collapse.weight, 4), hide_index=True)
right.dataframe({"b": np.round(collapse.bias, 4)}, hide_index=True)
difference = float(np.abs(collapse.stacked - collapse.collapsed).max())
relu_difference = float(np.abs(collapse.with_relu - collapse.collapsed).max())
st.dataframe({_("stacked layers, output 1"): np.round(collapse.stacked[:, 0], 6),
              _("one matrix, output 1"): np.round(collapse.collapsed[:, 0], 6),
              _("with ReLU between, output 1"): np.round(collapse.with_relu[:, 0], 6)}, hide_index=True)
st.info(_("What to notice: the stack and the single matrix differ by at most {difference} (rounding); with ReLU "
          "between the layers the outputs differ by up to {relu}: only the activation makes depth worth having.",
          difference=f"{difference:.1e}", relu=number(relu_difference, 3)))
