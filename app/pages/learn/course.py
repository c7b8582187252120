"""Lesson 9: the course's six experiments as background runs, beside the course's own results table."""

from __future__ import annotations

import streamlit as st

from app.i18n import N_, _, number, percent
from app.lessons import charts as lessons_charts
from app.lessons import runs as lessons_runs
from app.user_text import markdown_text
from mnist_core.lessons.course_table import COURSE_TABLE, course_configs
from mnist_core.runs.record import RunRecord

LESSON = "course"
WHY = {
    "softmax-sgd": N_("One Linear layer, plain SGD: the starting point."),
    "softmax-adam": N_("Adam adapts each weight's step size: the same model learns faster in the same epochs."),
    "mlp-3": N_("Hidden layers with ReLU: the network can bend its boundaries (XOR needed that too)."),
    "mlp-3-xavier": N_("Xavier initialisation: every layer starts passing on signals of a useful size."),
    "dnn-5-xavier": N_("A deeper and wider network (DNN): more capacity to learn the digits' shapes."),
    "dnn-5-dropout": N_("Dropout: less learning by heart; it pays most with many epochs, when a network overfits."),
}

st.title(_("The course's table"))
st.markdown(_("The course ends with six experiments on MNIST, each changing one thing: SGD → Adam → three layers "
              "(NN) → Xavier initialisation → a five-layer DNN → dropout. One click trains the same six here with "
              "the course's settings (batch size 100, learning rate 0.001, SGD's 0.1) as normal background runs; "
              "the table fills in as they finish."))
st.slider(_("Epochs (the course: 15; fewer finish sooner)"), 1, 15, 2, key="learn_course_epochs")
names = {e.column: f"course · {e.preset}" for e in COURSE_TABLE}


def start() -> None:
    chosen = course_configs(st.session_state["learn_course_epochs"])  # the slider's newest value
    lessons_runs.start_runs(LESSON, {e.column: chosen[e.preset] for e in COURSE_TABLE}, names)


st.button(_("Train the six experiments"), type="primary", icon=":material/play_arrow:", on_click=start,
          key="learn_course_start")


def table(records: dict[str, RunRecord]) -> None:
    ours = {label: r.test_accuracy for label, r in records.items()}
    st.dataframe({
        _("experiment"): [e.column for e in COURSE_TABLE],
        _("preset"): [e.preset for e in COURSE_TABLE],
        _("course's accuracy"): [percent(e.course_accuracy, 2) for e in COURSE_TABLE],
        _("our accuracy"): [percent(ours[e.column], 2) if ours.get(e.column) is not None else "–"
                            for e in COURSE_TABLE],
        _("epochs"): [str(records[e.column].config.epochs) if e.column in records else "–" for e in COURSE_TABLE],
        _("why this step helps"): [_(WHY[e.preset]) for e in COURSE_TABLE],
    }, hide_index=True)
    st.plotly_chart(lessons_charts.grouped_bars(
        _("Test accuracy: the course and this playground"), _("test accuracy"), [e.column for e in COURSE_TABLE],
        {_("course"): [e.course_accuracy for e in COURSE_TABLE],
         _("ours"): [ours.get(e.column) for e in COURSE_TABLE]}), key="learn_course_bars")
    finished = [r for r in records.values() if r.test_accuracy is not None]
    if finished:
        best = max(finished, key=lambda r: r.test_accuracy)
        st.info(_("Best so far: {name} with {accuracy} after {epochs} epochs.", name=markdown_text(best.name),
                  accuracy=percent(best.test_accuracy, 2), epochs=number(best.config.epochs)))


if not lessons_runs.runs_panel(LESSON, names, table):
    table({})  # the course's numbers, before anything trained
