"""The Class set page's "meet it" part: a finished network measured on the class's handwriting next to its MNIST
test accuracy (the dataset-shift gap), its confusion matrix and the drawings it read worst. Fine-tuning the chosen
network on the class set is app/class_set_fine_tune.py."""

from __future__ import annotations

import streamlit as st

from app import charts, resources, teacher
from app.class_set_texts import gap_sentence, too_few_text
from app.draw.prediction import short_model_label
from app.errors import error_text
from app.i18n import _, percent
from app.run.texts import upscale
from mnist_core.class_set.meeting import MIN_PER_DIGIT, Meeting, NotDigits, TooFewSamples, meet, unseen_samples
from mnist_core.class_set.samples import ClassSet
from mnist_core.cost import RunTooLarge
from mnist_core.runs.store import RunNotFound
from mnist_core.weights import WeightsError

FINISHED = ("completed", "stopped")
BUILT_IN = "default"
RUNS_LISTED = 50


def model_options() -> dict[object, str]:
    """The class's reference run first, then the newest finished runs on handwritten digits, then the built-in
    model."""
    store, reference = resources.store(), teacher.reference_run_id()
    runs = [r for r in store.list_runs(statuses=FINISHED, limit=RUNS_LISTED)
            if r.config.dataset == "mnist" and store.has_weights(r.id)]
    runs.sort(key=lambda r: r.id != reference)
    options: dict[object, str] = {r.id: short_model_label(r.name, r.test_accuracy) for r in runs}
    options[BUILT_IN] = short_model_label(_("Built-in LeNet"), resources.default_model_accuracy())
    return options


def _meeting(choice: object, samples: ClassSet) -> Meeting:
    if choice == BUILT_IN:
        return meet(resources.default_model(), samples.samples(), None, resources.default_model_accuracy())
    record = resources.store().get(int(choice))
    unseen, held_out = unseen_samples(samples, record.id)
    if held_out is not None:
        st.caption(_("This run trained on the class's drawings except one student's: it is measured on that "
                     "student's drawings only, which it never saw."))
    return meet(resources.run_model(record.id), unseen, record.id, record.test_accuracy,
                MIN_PER_DIGIT if held_out is None else 0)


def meet_section(samples: ClassSet) -> object | None:
    """Pick a network and see it meet the class's handwriting; returns the picked network."""
    options = model_options()
    choice = st.selectbox(_("Network"), list(options), format_func=options.get, key="class_set_model")
    try:
        meeting = _meeting(choice, samples)
    except TooFewSamples as exc:
        st.info(too_few_text(exc))
        return choice
    except (NotDigits, RunNotFound, WeightsError, RunTooLarge) as exc:
        st.error(_("This network cannot be measured: {reason}", reason=error_text(exc)))
        return choice
    left, middle, right = st.columns(3)
    left.metric(_("Accuracy on the class's handwriting"), percent(meeting.accuracy),
                _("{count} drawings", count=meeting.count), delta_color="off", delta_arrow="off")
    mnist = meeting.mnist_test_accuracy
    middle.metric(_("Accuracy on MNIST's test data"), "—" if mnist is None else percent(mnist))
    right.metric(_("Gap"), "—" if meeting.gap is None else percent(meeting.gap))
    st.markdown(gap_sentence(meeting))
    figure = charts.confusion_figure(meeting.labels, meeting.predicted, [str(d) for d in range(10)],
                                     title=_("Confusion matrix (the class's {count} drawings)", count=meeting.count))
    st.plotly_chart(figure, key="class_set_confusion")
    worst_samples(samples, meeting)
    return choice


def worst_samples(samples: ClassSet, meeting: Meeting) -> None:
    worst = meeting.worst()
    st.subheader(_("Read worst"))
    if not worst:
        st.caption(_("The network read every drawing right."))
        return
    st.caption(_("The drawings the network got wrong, surest first: what it read, and the probability it gave "
                 "the right digit."))
    images = {s.id: s for s in samples.samples()}
    for column, (sample_id, answer, confidence) in zip(st.columns(len(worst)), worst, strict=False):
        sample = images.get(sample_id)
        if sample is not None:
            column.image(upscale(sample.image, 3), width="stretch",
                         caption=_("{true} read as {answer} ({probability})", true=sample.label, answer=answer,
                                   probability=percent(confidence, 0)))
