"""The /learn lessons: their order, page files, URL paths, titles and one-line summaries (shown on the index's
cards and used by the navigation)."""

from __future__ import annotations

from dataclasses import dataclass

from app.i18n import N_, _, language


@dataclass(frozen=True)
class Lesson:
    slug: str  # the URL path is /learn-<slug>, the page file app/pages/learn/<slug>.py
    title: str  # English msgid; shown through _()
    summary: str
    icon: str

    @property
    def url_path(self) -> str:
        return f"learn-{self.slug}"

    @property
    def page_file(self) -> str:
        return f"app/pages/learn/{self.slug}.py"


LESSONS = (
    Lesson("batch", N_("Epoch, batch size, iteration"),
           N_("The mock exam of 100 questions: how often are the answers checked?"), ":material/quiz:"),
    Lesson("descent", N_("GD, SGD and mini-batch"),
           N_("Three ways down the same loss surface: all the data, one sample or a mini-batch per step."),
           ":material/downhill_skiing:"),
    Lesson("optimizers", N_("Optimizers"),
           N_("SGD, Momentum, Nesterov, Adagrad, RMSprop and Adam, step by step on the same surface."),
           ":material/route:"),
    Lesson("perceptron", N_("Perceptron and MLP"),
           N_("AND, OR and XOR: what one perceptron cannot learn, and backpropagation in a two-layer net."),
           ":material/hub:"),
    Lesson("neuron", N_("Weight, bias, activation"),
           N_("Going to the party, a pass mark of 60, and why layers need an activation function."),
           ":material/neurology:"),
    Lesson("softmax", N_("Softmax and cross-entropy"),
           N_("From logits to probabilities to the loss; CrossEntropyLoss = LogSoftmax + NLLLoss."),
           ":material/percent:"),
    Lesson("init", N_("Initialisation and dropout"),
           N_("What random, Xavier and Kaiming weights pass to deep layers; dropout against overfitting."),
           ":material/casino:"),
    Lesson("params", N_("Parameters and hyperparameters"),
           N_("What the optimizer learns, what you choose; training against inference."), ":material/tune:"),
    Lesson("course", N_("The course's table"),
           N_("One click trains the course's six experiments; compare with its own numbers."),
           ":material/table_chart:"),
)
BY_SLUG = {lesson.slug: lesson for lesson in LESSONS}


def lesson_link(slug: str) -> str:
    """A markdown link to a lesson, in the session's language (for the Train form's help texts)."""
    lesson = BY_SLUG[slug]
    return _("[Lesson: {title}](/{path}?lang={lang})", title=_(lesson.title), path=lesson.url_path, lang=language())
