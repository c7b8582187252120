"""Lesson 8: parameters (learned) vs hyperparameters (chosen); training (forward, backward, update) vs inference."""

from __future__ import annotations

import streamlit as st

from app import navigation, resources
from app.config_form import FIELD_LABELS, form_values
from app.errors import error_text
from app.i18n import _, number
from mnist_core.config import PRESETS
from mnist_core.data import DatasetUnavailable, normalize
from mnist_core.lessons.parameters import HYPERPARAMETERS, parameter_rows, training_vs_inference

st.title(_("Parameters and hyperparameters"))
st.markdown(_("**Parameters** are inside the model: every weight and bias, learned from the data; the optimizer "
              "changes them at every iteration. **Hyperparameters** are outside the model: you set them before "
              "training and the data cannot teach them: the learning rate, the batch size, the number of layers, "
              "the epochs. The Train form is a list of hyperparameters."))
preset = st.selectbox(_("Course preset"), list(PRESETS), index=list(PRESETS).index("mlp-3"), key="learn_params_preset")
config = PRESETS[preset]
rows = parameter_rows(config)
values = form_values(config)

left, right = st.columns(2)
with left:
    st.markdown(_("**Hyperparameters: you set them** (the Train form)"))
    st.dataframe({_("setting"): [_(FIELD_LABELS.get(n, n)) for n in HYPERPARAMETERS],
                  _("value"): [str(values[n]) for n in HYPERPARAMETERS]}, hide_index=True, height=420)
with right:
    st.markdown(_("**Parameters: the optimizer learns them**"))
    st.dataframe({_("tensor"): [r.name for r in rows], _("shape"): [" × ".join(map(str, r.shape)) for r in rows],
                  _("values"): [r.count for r in rows]}, hide_index=True, height=420)
    st.metric(_("Parameters in all"), number(sum(r.count for r in rows)))
weights = [r for r in rows if r.name.endswith("weight")]
if weights:
    first = weights[0]
    st.caption(_("For example {name}: {rows} × {cols} = {count} weights, one per connection, plus one bias per "
                 "unit.", name=first.name, rows=first.shape[0], cols=number(first.shape[1]) if len(first.shape) > 1
                 else 1, count=number(first.count)))

st.subheader(_("Training and inference"))
st.markdown(_("**Training** = forward → backward → update: the data goes through the model to a prediction, the "
              "loss is propagated back and the weights change. **Inference** = forward only: the model answers and "
              "no weight changes. Drawing a digit on the Draw page is inference."))
index = st.number_input(_("MNIST test image"), 0, 9999, 0, key="learn_params_image")
try:
    data = resources.dataset("mnist")
except DatasetUnavailable as exc:
    st.warning(_("This part needs the MNIST files: {error}", error=error_text(exc)))
else:
    image = normalize(data.test_images[int(index) : int(index) + 1], data.mean, data.std)[0]
    label = int(data.test_labels[int(index)])
    effect = training_vs_inference(config, image, label)
    a, b, c = st.columns(3)
    a.metric(_("Parameter values changed by one inference"), number(effect.changed_by_inference))
    b.metric(_("… by one training step"), number(effect.changed_by_training))
    c.metric(_("Untrained network's answer (true: {label})", label=label), str(effect.prediction))
    st.info(_("What to notice: one training step on one image changed {changed} of {total} parameter values; the "
              "inference changed none.", changed=number(effect.changed_by_training), total=number(effect.total)))
navigation.link("draw", _("Inference with a trained network: draw a digit"))
