"""Class set: the class's own handwriting, collected on Draw; a network meets it, and trains further on it."""

from __future__ import annotations

import streamlit as st

from app import class_set_fine_tune, class_set_meet, class_set_view, identity, navigation
from app.i18n import _

st.title(_("The class's handwriting"))
st.markdown(_("Digits the class drew on **Draw** and labelled with the digit they meant. A network trained on "
              "MNIST has only ever been tested on MNIST's test data; here it meets the handwriting it will really "
              "be used on."))
navigation.link("draw", _("Draw digits for the class set"))

actor = identity.current_actor()
samples = class_set_view.class_set()
total = samples.count()
st.caption(_("{count} drawings from {students} students; yours: {mine}.", count=total,
             students=len(samples.per_owner()), mine=samples.count(actor.owner_id)))
if samples.frozen():
    st.info(_("The teacher has closed the class set: no drawings can be added now."))

st.header(_("See it"))
by_digit, by_student = st.columns(2)
digit_figure, student_figure = class_set_view.counts_figures(samples)
by_digit.plotly_chart(digit_figure, key="class_set_per_digit")
by_student.plotly_chart(student_figure, key="class_set_per_student")
class_set_view.averages(samples)
mine, everyone = st.tabs([_("My drawings"), _("Everyone's drawings")])
with mine:
    class_set_view.sample_grid(samples, actor, owner_id=actor.owner_id, key="mine")
with everyone:
    class_set_view.sample_grid(samples, actor, key="all")
class_set_view.teacher_tools(samples, actor)

st.header(_("Meet it"))
choice = class_set_meet.meet_section(samples)

st.header(_("Continue training with the class set"))
class_set_fine_tune.fine_tune_section(choice)
