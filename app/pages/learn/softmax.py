"""Lesson 6: logits -> softmax probabilities -> cross-entropy; CrossEntropyLoss = LogSoftmax + NLLLoss."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app.i18n import _, number
from app.lessons import charts as lessons_charts
from mnist_core.lessons.softmax import softmax_lesson

st.title(_("Softmax and cross-entropy"))
st.markdown(_("The last layer gives one **logit** (a score) per class: the value just before it becomes a "
              "probability. **Softmax** turns the logits into probabilities that add up to 1. The **cross-entropy** "
              "loss is −log(probability of the true class): 0 when the model gives the true class probability 1, "
              "without limit as it goes to 0. PyTorch's nn.CrossEntropyLoss is nn.LogSoftmax() and nn.NLLLoss() in "
              "one class, so it takes the logits, not probabilities."))

classes = st.slider(_("Number of classes"), 3, 10, 3, key="learn_softmax_classes")
defaults = [0.5, 2.0, 0.3] + [0.0] * 7  # the course's y_pred2: the true class 0 gets the lowest logit
columns = st.columns(classes)
logits = [column.number_input(_("logit {k}", k=k), value=defaults[k], step=0.5, format="%.2f",
                              key=f"learn_softmax_logit_{k}") for k, column in enumerate(columns)]
true_class = st.radio(_("True class"), list(range(classes)), horizontal=True, key="learn_softmax_true")
result = softmax_lesson(logits, int(true_class))

st.plotly_chart(lessons_charts.bars(_("Softmax probabilities"), _("class"), _("probability"),
                                    [str(k) for k in range(classes)], result.probabilities, highlight=int(true_class),
                                    text=[f"{p:.3f}" for p in result.probabilities]), key="learn_softmax_bars")
a, b, c = st.columns(3)
a.metric(_("−log p(true class), by hand"), f"{result.loss_by_hand:.6f}")
b.metric(_("nn.CrossEntropyLoss"), f"{result.cross_entropy:.6f}")
c.metric(_("nn.LogSoftmax + nn.NLLLoss"), f"{result.log_softmax_nll:.6f}")
st.dataframe({_("class"): list(range(classes)), _("logit"): result.logits,
              _("softmax probability"): np.round(result.probabilities, 6),
              _("log-probability (LogSoftmax)"): np.round(result.log_probabilities, 6)}, hide_index=True)
difference = abs(result.cross_entropy - result.log_softmax_nll)
st.info(_("What to notice: the three losses agree (difference {difference}). Raise the true class's logit and the "
          "loss falls towards 0; give it the lowest logit, as the course's y_pred2 does, and the loss is high "
          "({loss}).", difference=f"{difference:.1e}", loss=number(result.cross_entropy, 3)))
