"""Lesson 1: epoch, batch size and iteration, the course's mock exam; then batch sizes 1, 32 and full on MNIST."""

from __future__ import annotations

import streamlit as st

from app import resources
from app.i18n import _, ngettext, number
from app.lessons import charts as lessons_charts
from app.lessons import runs as lessons_runs
from mnist_core.lessons.batches import (
    COMPARE_BASE,
    COMPARE_SAMPLES,
    EXAM_QUESTIONS,
    batch_comparison,
    batch_plan,
    exam_updates,
)
from mnist_core.runs.record import RunRecord

LESSON = "batch"

st.title(_("Epoch, batch size, iteration"))
st.markdown(_("**Batch size** is how many questions you solve before checking the answers. Take a mock exam of 100 "
              "questions: with batch size 100 you solve all of them and then check, so the weights are updated "
              "once; with batch size 10 you check after every 10 questions, 10 updates; with batch size 1 you "
              "check after every question, 100 updates. Each check is one **iteration**: the model, like you, "
              "thinks 'aha, that is how it is solved' and its weights change. An **epoch** is how many times you "
              "solve the same mock exam: epoch 20 means solving it 20 times."))

exam_batch = st.select_slider(_("Check the answers after every … questions (batch size)"),
                              options=[1, 2, 4, 5, 10, 20, 25, 50, 100], value=10, key="learn_batch_exam")
updates = exam_updates(exam_batch)
st.metric(_("Weight updates per mock exam of {questions} questions", questions=EXAM_QUESTIONS),
          number(updates))
st.plotly_chart(lessons_charts.bars(_("Updates per exam for each batch size"), _("batch size"),
                                    _("weight updates (iterations)"), ["1", "10", "100", str(exam_batch)],
                                    [exam_updates(b) for b in (1, 10, 100, exam_batch)], highlight=3),
                key="learn_batch_exam_chart")
st.caption(_("Small batches: careful learning, but it takes long. Large batches: you must remember every question "
             "until you check (a big memory, i.e. a big GPU)."))

st.subheader(_("Your own numbers"))
left, right = st.columns([1, 2])
with left:
    size = st.number_input(_("Training samples"), min_value=1, max_value=1_000_000, value=60_000, step=1000,
                           key="learn_batch_size_data")
    batch = st.number_input(_("Batch size"), min_value=1, max_value=1_000_000, value=100, step=10,
                            key="learn_batch_batch")
    drop_last = st.checkbox(_("drop_last (throw away the short last batch)"), key="learn_batch_drop")
    epochs = st.number_input(_("Epochs"), min_value=1, max_value=1000, value=15, key="learn_batch_epochs")
plan = batch_plan(int(size), int(batch), drop_last, int(epochs))
with right:
    a, b, c = st.columns(3)
    a.metric(_("Iterations per epoch"), number(plan.iterations_per_epoch))
    b.metric(_("Iterations in all"), number(plan.total_iterations))
    c.metric(_("Last batch"), number(plan.last_batch or min(plan.batch_size, plan.dataset_size)))
    if plan.last_batch:
        st.markdown(_("{size} samples in batches of {batch}: {full} full batches and a short last batch of {last}; "
                      "it still counts as an iteration.", size=number(plan.dataset_size), batch=number(plan.batch_size),
                      full=number(plan.full_batches), last=number(plan.last_batch)))
    elif plan.dropped:
        st.markdown(_("drop_last throws away the last {dropped} samples of every epoch (a different {dropped} each "
                      "epoch when shuffling): {full} iterations.", dropped=number(plan.dropped),
                      full=number(plan.full_batches)))
    else:
        st.markdown(_("{batch} divides {size} exactly: {full} full batches, no short one.",
                      batch=number(plan.batch_size), size=number(plan.dataset_size), full=number(plan.full_batches)))
    st.markdown(ngettext("{n} epoch × {per} iterations = {total} weight updates.",
                         "{n} epochs × {per} iterations = {total} weight updates.", plan.epochs,
                         per=number(plan.iterations_per_epoch), total=number(plan.total_iterations)))
st.plotly_chart(lessons_charts.batch_strip(plan.batch_sizes(), plan.batch_size), key="learn_batch_strip")

st.subheader(_("On real MNIST: batch size 1, 32 and the full batch"))
st.markdown(_("The same small network (784-32-10, SGD, learning rate {lr}) on the same {samples} training images, "
              "once per batch size, for the same number of epochs: every run sees exactly the same samples. Only "
              "how often the answers are checked differs.", lr=COMPARE_BASE.lr, samples=number(COMPARE_SAMPLES)))
run_epochs = st.slider(_("Epochs (each run)"), 1, 10, 2, key="learn_batch_run_epochs")
configs = batch_comparison(run_epochs)
labels = {b: _("batch {batch}", batch=number(b)) for b in configs}
names = {labels[b]: f"learn · batch {b}" for b in configs}


def start() -> None:
    # A callback: read the slider from the session, which may hold a newer value than this run's `configs`.
    chosen = batch_comparison(st.session_state["learn_batch_run_epochs"])
    lessons_runs.start_runs(LESSON, {labels[b]: c for b, c in chosen.items()}, names)


st.button(_("Train the three runs"), type="primary", icon=":material/play_arrow:", on_click=start,
          key="learn_batch_start")


def results(records: dict[str, RunRecord]) -> None:
    by_samples, by_seconds = {}, {}
    for label, record in records.items():
        epochs_done = resources.store().epochs(record.id)
        per_epoch = record.config.train_samples
        by_samples[label] = ([m.epoch * per_epoch for m in epochs_done], [m.val_loss for m in epochs_done])
        by_seconds[label] = ([m.seconds for m in epochs_done], [m.val_loss for m in epochs_done])
    left, right = st.columns(2)
    left.plotly_chart(lessons_charts.lines(_("Validation loss against samples seen"), _("samples seen"),
                                           _("validation loss"), by_samples, markers=True), key="learn_batch_samples")
    right.plotly_chart(lessons_charts.lines(_("Validation loss against seconds"), _("seconds"), _("validation loss"),
                                            by_seconds, markers=True), key="learn_batch_seconds")
    rows = {_("run"): list(records),
            _("iterations"): [r.config.total_iterations for r in records.values()],
            _("test accuracy"): [None if r.test_accuracy is None else round(100 * r.test_accuracy, 2)
                                 for r in records.values()],
            _("seconds"): [None if r.duration_s is None else round(r.duration_s, 1) for r in records.values()]}
    st.dataframe(rows, hide_index=True, placeholder="–")  # a run still training has no accuracy yet
    finals = [_("{run}: {loss} after {seconds} s", run=label, loss=number(by_samples[label][1][-1], 3),
                seconds=number(by_seconds[label][0][-1], 1)) for label in records if by_samples[label][1]]
    st.info(_("What to notice: the same samples seen, so the same data; the validation loss at the end is {finals}. "
              "Batch size 1 checks the answers after every image: many careful updates, but slow. The full batch "
              "checks once per epoch: one update, so it has hardly moved.", finals="; ".join(finals)))


lessons_runs.runs_panel(LESSON, names, results)
