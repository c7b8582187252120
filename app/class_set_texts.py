"""The class set's sentences in the student's language: refusals, what a small set still needs, who drew a
sample, and the dataset-shift gap explained in the course's words."""

from __future__ import annotations

from app.i18n import _, percent
from mnist_core.class_set.meeting import Meeting, TooFewSamples
from mnist_core.class_set.samples import MAX_SAMPLES_PER_STUDENT, ClassSetRefused, OwnerCount


def refusal_text(exc: ClassSetRefused) -> str:
    """Why a sample or a change was refused, in words."""
    facts = exc.facts
    texts = {
        "empty": lambda: _("Nothing is drawn: an empty drawing cannot be added to the class set."),
        "label": lambda: _("Choose the digit you meant (0-9) before adding the drawing."),
        "frozen": lambda: _("The teacher has closed the class set: no drawings can be added now."),
        "quota": lambda: _("You already have {count} drawings in the class set, the most one student may add "
                           "({limit}). Delete some of yours to add new ones.",
                           count=facts.get("count", MAX_SAMPLES_PER_STUDENT),
                           limit=facts.get("limit", MAX_SAMPLES_PER_STUDENT)),
        "too_large": lambda: _("This drawing's image is too large to store ({size} bytes; at most {limit}).",
                               size=facts.get("size"), limit=facts.get("limit")),
        "not_yours": lambda: _("You can delete only your own drawings; the teacher can delete any."),
        "not_found": lambda: _("That drawing is no longer in the class set (it was deleted)."),
        "not_teacher": lambda: _("Only the teacher can close or open the class set."),
        "own_samples": lambda: _("Add at least {missing} more drawings of your own first: the network trained "
                                 "on the others' handwriting is tested on yours (you have {have}).",
                                 missing=facts.get("missing"), have=facts.get("have")),
        "others_samples": lambda: _("The others have drawn only {have} samples; at least {missing} more are "
                                    "needed to train on.", have=facts.get("have"), missing=facts.get("missing")),
    }
    return texts.get(exc.reason, lambda: str(exc))()


def too_few_text(exc: TooFewSamples) -> str:
    """How many more samples of each digit the set needs before a run can be measured on it."""
    needs = ", ".join(_("{digit}: {count} more", digit=digit, count=count)
                      for digit, count in enumerate(exc.missing) if count)
    return _("The class set is too small to measure a network on: it needs at least {per_digit} drawings of every "
             "digit. Still needed: {needs}.", per_digit=exc.per_digit, needs=needs)


def owner_label(owner: OwnerCount, default_name: str) -> str:
    """Who drew these samples, as a bar's label: their name, or anonymous once their identity is gone."""
    if owner.name is None:
        return _("anonymous")
    return owner.name or default_name


def gap_sentence(meeting: Meeting) -> str:
    """The dataset-shift gap in numbers and in the course's words."""
    if meeting.mnist_test_accuracy is None:
        return _("This network reads {accuracy} of the class's handwriting.", accuracy=percent(meeting.accuracy))
    if (meeting.gap or 0) > 0:
        return _("On MNIST's test data this network is right {mnist} of the time, on the class's own handwriting "
                 "only {class_set}: a gap of {gap}. The test data was written by the same kind of writers as "
                 "its training data, and the class writes differently. A network is only as good as the data it "
                 "learnt from, and its test score means something only when the test data resembles real use.",
                 mnist=percent(meeting.mnist_test_accuracy), class_set=percent(meeting.accuracy),
                 gap=percent(meeting.gap))
    return _("On MNIST's test data this network is right {mnist} of the time, on the class's own handwriting "
             "{class_set}: the class's digits look like the data it learnt from. Its test score holds here "
             "because the test data resembles real use.", mnist=percent(meeting.mnist_test_accuracy),
             class_set=percent(meeting.accuracy))
