"""The /learn lessons in AppTest, in English and Korean (?lang=): each opens without an exception and its main
widget changes what it shows, by numbers computed independently here. Lessons 1, 7 and 9 start real background
runs through the JobManager and draw what the store holds."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
from babel.messages.pofile import read_po
from torch.utils.data import DataLoader

from app.lessons.catalog import LESSONS
from mnist_core.config import PRESETS
from mnist_core.lessons.course_table import COURSE_TABLE
from mnist_core.runs.store import RunStore

from app_harness import (
    PROJECT_DIR,
    QUICK,
    figure_titled,
    figures,
    metric,
    start_app,
    student,
    texts,
    train_run,
    wait_until_finished,
)

LANGUAGES = ("en", "ko")


@functools.cache
def korean() -> dict[str, str]:
    translations = {}
    for po in (PROJECT_DIR / "app" / "locale" / "ko" / "LC_MESSAGES").glob("*.po"):
        with po.open("rb") as f:
            for message in read_po(f, locale="ko"):
                if message.id and isinstance(message.string, str) and message.string:
                    translations.setdefault(message.id if isinstance(message.id, str) else message.id[0],
                                            message.string)
    return translations


def tr(text: str, lang: str, **values: object) -> str:
    """What the page shows for an English msgid in `lang` (read from the .po files, not from app.i18n)."""
    shown = korean()[text] if lang == "ko" else text
    return shown.format(**values) if values else shown


STUDENT_QUERY, STUDENT = student("learn-test-student-token-0000000000001", "Mina")


def open_lesson(slug: str, lang: str):
    return start_app(f"learn/{slug or 'index'}", {**STUDENT_QUERY, "lang": lang})


def dataframe_column(app, index: int, column: str) -> list:
    return list(app.dataframe[index].value[column])


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_learn_index_has_a_card_per_lesson(runs_root: Path, lang: str) -> None:
    app = open_lesson("", lang)
    assert [t.value for t in app.title] == [tr("Learn", lang)]
    markdown = " ".join(texts(app, "markdown"))
    for number, lesson in enumerate(LESSONS, 1):
        assert f"**{number}. {tr(lesson.title, lang)}**" in markdown
    assert [c.value for c in app.caption][:len(LESSONS)] == [tr(lesson.summary, lang) for lesson in LESSONS]


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.slug for lesson in LESSONS])
def test_each_lesson_opens_in_both_languages(runs_root: Path, lesson, lang: str) -> None:
    app = open_lesson(lesson.slug, lang)
    assert [t.value for t in app.title] == [tr(lesson.title, lang)]
    assert not app.exception
    if lesson.slug != "params":  # the parameters lesson is tables and numbers
        assert figures(app), f"{lesson.slug}: no chart"
    if lang == "ko":  # the explanation is Korean, not the English msgid
        assert any("\uac00" <= ch <= "\ud7a3" for ch in " ".join(texts(app, "markdown")))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_batch_lesson_computes_what_dataloader_does(runs_root: Path, lang: str) -> None:
    app = open_lesson("batch", lang)
    assert metric(app, tr("Weight updates per mock exam of {questions} questions", lang, questions=100)) == "10"
    app.select_slider(key="learn_batch_exam").set_value(1).run()
    assert metric(app, tr("Weight updates per mock exam of {questions} questions", lang, questions=100)) == "100"
    app.number_input(key="learn_batch_size_data").set_value(1000).run()
    app.number_input(key="learn_batch_batch").set_value(32).run()
    loader = DataLoader(range(1000), batch_size=32)
    assert metric(app, tr("Iterations per epoch", lang)) == str(len(loader))
    assert metric(app, tr("Last batch", lang)) == str(len(list(loader)[-1]))
    app.checkbox(key="learn_batch_drop").check().run()
    assert metric(app, tr("Iterations per epoch", lang)) == str(len(DataLoader(range(1000), 32, drop_last=True)))
    assert metric(app, tr("Iterations in all", lang)) == str(15 * 31)


def test_batch_lesson_trains_batch_1_32_and_full_on_mnist(runs_root: Path) -> None:
    app = open_lesson("batch", "en")
    app.slider(key="learn_batch_run_epochs").set_value(1).run()
    app.button(key="learn_batch_start").click().run()
    store = RunStore(runs_root)
    runs = store.list_runs()
    assert sorted(r.config.batch_size for r in runs) == [1, 32, 1000]
    assert {r.config.epochs * r.config.train_samples for r in runs} == {1000}  # the same samples seen
    wait_until_finished(store, [r.id for r in runs], timeout_s=300)
    app.run()
    chart = figure_titled(app, "Validation loss against samples seen")
    assert sorted(trace["name"] for trace in chart["data"]) == ["batch 1", "batch 1,000", "batch 32"]
    for trace in chart["data"]:
        run = next(r for r in runs if trace["name"] == f"batch {r.config.batch_size:,}")
        assert trace["x"] == [1000] and trace["y"] == [pytest.approx(store.epochs(run.id)[0].val_loss)]
    assert any("What to notice" in t for t in texts(app, "info"))


def test_descent_lesson_counts_updates_per_method(runs_root: Path) -> None:
    app = open_lesson("descent", "en")
    app.select_slider(key="learn_descent_batch").set_value(5).run()
    app.slider(key="learn_descent_epochs").set_value(2).run()
    assert dataframe_column(app, 0, "weight updates") == [2, 40, 200]
    assert len(figure_titled(app, "Paths on the loss surface")["data"]) == 1 + 3 + 1  # surface, 3 paths, minimum


@pytest.mark.parametrize("lang", LANGUAGES)
def test_optimizer_lesson_draws_the_chosen_optimizers_up_to_the_step(runs_root: Path, lang: str) -> None:
    app = open_lesson("optimizers", lang)
    app.multiselect(key="learn_optimizers_chosen").set_value(["sgd", "adam"]).run()
    app.slider(key="learn_optimizers_steps").set_value(30).run()
    chart = figure_titled(app, tr("After {steps} steps", lang, steps=30))
    paths = [t for t in chart["data"] if t["type"] == "scatter" and t["name"] in ("sgd", "adam")]
    assert [len(t["x"]) for t in paths] == [31, 31]
    app.session_state["learn_optimizers_surface"] = "rosenbrock"  # AppTest formats options outside the session
    app.run()
    assert not app.exception


@pytest.mark.parametrize("lang", LANGUAGES)
def test_perceptron_lesson_never_solves_xor_and_the_mlp_does(runs_root: Path, lang: str) -> None:
    app = open_lesson("perceptron", lang)
    info = texts(app, "info")
    assert tr("Best accuracy in {epochs} epochs: {best}. The perceptron learns AND and OR in a few epochs; on XOR "
              "it never gets all four rows right: no straight line separates them.", lang, epochs=20,
              best="75%") in info or "50%" in info[0]
    assert "100%" not in info[0]
    assert "100%" in info[1]  # the MLP
    hand = [float(g) for g in dataframe_column(app, 2, tr("gradient by hand (chain rule)", lang))]
    autograd = [float(g) for g in dataframe_column(app, 2, tr("gradient from autograd", lang))]
    assert len(hand) == 9 and max(abs(a - b) for a, b in zip(hand, autograd, strict=False)) < 1e-9
    app.radio(key="learn_perceptron_gate").set_value("AND").run()
    assert "100%" in texts(app, "info")[0]


def test_neuron_lesson_the_bias_decides_when_every_input_is_off(runs_root: Path) -> None:
    app = open_lesson("neuron", "en")
    app.checkbox(key="learn_neuron_x0").uncheck().run()
    app.slider(key="learn_neuron_bias").set_value(1.0).run()
    assert texts(app, "success") == ["A goes to the party."]
    app.slider(key="learn_neuron_bias").set_value(-1.0).run()
    assert texts(app, "warning") == ["A stays home."]
    app.slider(key="learn_neuron_depth").set_value(5).run()
    stacked = dataframe_column(app, 2, "stacked layers, output 1")
    collapsed = dataframe_column(app, 2, "one matrix, output 1")
    assert max(abs(a - b) for a, b in zip(stacked, collapsed, strict=False)) < 1e-5


@pytest.mark.parametrize("lang", LANGUAGES)
def test_softmax_lesson_shows_three_equal_losses(runs_root: Path, lang: str) -> None:
    app = open_lesson("softmax", lang)
    app.slider(key="learn_softmax_classes").set_value(4).run()
    app.number_input(key="learn_softmax_logit_3").set_value(3.0).run()
    app.radio(key="learn_softmax_true").set_value(3).run()
    logits = torch.tensor([[0.5, 2.0, 0.3, 3.0]])
    expected = float(torch.nn.functional.cross_entropy(logits, torch.tensor([3])))
    shown = [float(metric(app, tr(label, lang))) for label in
             ("−log p(true class), by hand", "nn.CrossEntropyLoss", "nn.LogSoftmax + nn.NLLLoss")]
    assert shown == [pytest.approx(expected, abs=1e-6)] * 3


def test_init_lesson_random_normal_starves_the_last_layer(runs_root: Path) -> None:
    app = open_lesson("init", "en")
    app.radio(key="learn_init_scheme").set_value("normal").run()
    stds = [float(s) for s in dataframe_column(app, 0, "standard deviation")]
    assert stds[-1] < 1e-6 < stds[0]
    app.radio(key="learn_init_scheme").set_value("xavier").run()
    assert float(dataframe_column(app, 0, "standard deviation")[-1]) > 0.05


def test_init_lesson_trains_with_and_without_dropout(runs_root: Path) -> None:
    app = open_lesson("init", "en")
    app.slider(key="learn_init_epochs").set_value(5).run()
    app.button(key="learn_init_start").click().run()
    store = RunStore(runs_root)
    runs = store.list_runs()
    assert sorted(r.config.dropout for r in runs) == [0.0, 0.5]
    wait_until_finished(store, [r.id for r in runs], timeout_s=300)
    app.run()
    chart = figure_titled(app, "Training and validation loss per epoch")
    assert len(chart["data"]) == 4 and all(trace["x"] == [1, 2, 3, 4, 5] for trace in chart["data"])
    assert any("The gap between the two at the end" in t for t in texts(app, "info"))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_params_lesson_inference_changes_nothing(runs_root: Path, lang: str) -> None:
    app = open_lesson("params", lang)
    assert metric(app, tr("Parameter values changed by one inference", lang)) == "0"
    assert int(metric(app, tr("… by one training step", lang)).replace(",", "")) > 0
    app.selectbox(key="learn_params_preset").set_value("softmax-sgd").run()
    assert metric(app, tr("Parameters in all", lang)) == "7,850"  # 784 x 10 + 10


def test_course_lesson_submits_the_six_presets_as_runs(runs_root: Path) -> None:
    app = open_lesson("course", "en")
    assert dataframe_column(app, 0, "course's accuracy") == ["42.00%", "77.00%", "94.00%", "97.91%", "98.24%",
                                                              "97.76%"]
    app.slider(key="learn_course_epochs").set_value(3).run()
    app.button(key="learn_course_start").click().run()
    from app import resources

    store = RunStore(runs_root)
    runs = {r.name: r for r in store.list_runs()}
    try:
        assert {name: r.config for name, r in runs.items()} == {
            f"course · {e.preset}": PRESETS[e.preset].replace(epochs=3) for e in COURSE_TABLE}
        assert not app.exception
    finally:
        for run in runs.values():
            resources.jobs().stop(run.id)
    wait_until_finished(store, [r.id for r in runs.values()], timeout_s=120)


def test_course_lesson_reads_the_accuracies_from_the_store(runs_root: Path, data_root: Path) -> None:
    # A fresh visit finds the student's newest run of each experiment by its name: the table is the store's.
    store = RunStore(runs_root)
    first = COURSE_TABLE[0]
    run_id = train_run(store, data_root, QUICK, name=f"course · {first.preset}", owner=STUDENT)
    train_run(store, data_root, QUICK, name=f"course · {COURSE_TABLE[1].preset}")  # someone else's: not shown
    accuracy = store.get(run_id).test_accuracy
    app = open_lesson("course", "en")
    assert dataframe_column(app, 0, "our accuracy") == [f"{accuracy:.2%}"] + ["–"] * 5
    bars = figure_titled(app, "Test accuracy: the course and this playground")
    assert bars["data"][1]["y"][0] == pytest.approx(accuracy)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_home_and_the_train_form_link_to_the_lessons(runs_root: Path, lang: str) -> None:
    home = start_app(None, {**STUDENT_QUERY, "lang": lang})
    assert tr("Open the lessons", lang) in [link.label for link in home.get("page_link")]
    train = start_app("train", {**STUDENT_QUERY, "lang": lang})
    help_text = next(w.help for w in train.number_input if w.key == "train_batch_size")
    link = tr("[Lesson: {title}](/{path}?lang={lang})", "ko" if lang == "ko" else "en")
    assert help_text.endswith(" " + link.format(title=tr(LESSONS[0].title, lang), path="learn-batch", lang=lang))


def test_optimizer_lesson_shows_a_learning_rate_too_large_diverge_on_mnist(runs_root: Path) -> None:
    app = open_lesson("optimizers", "en")
    app.button(key="learn_optimizers_mnist_start").click().run()
    store = RunStore(runs_root)
    runs = {r.config.lr: r for r in store.list_runs()}
    assert sorted(runs) == [0.01, 0.1, 1.0] and {r.config.optimizer for r in runs.values()} == {"momentum"}
    wait_until_finished(store, [r.id for r in runs.values()], timeout_s=300)
    app.run()
    assert not app.exception
    records = {lr: store.get(r.id) for lr, r in runs.items()}
    assert records[0.01].status == records[0.1].status == "completed"
    diverged = records[1.0].failure
    assert records[1.0].status == "failed" and diverged is not None and diverged.kind == "diverged"
    chart = figure_titled(app, "Training loss per iteration")
    ends = {trace["name"]: max(x for x in trace["x"]) for trace in chart["data"]}
    # The diverged run's curve stops where its loss stopped being a number; the others train the whole epoch.
    assert ends["learning rate 1"] < diverged.facts["iteration"] <= ends["learning rate 0.1"]
    assert ends["learning rate 0.01"] == ends["learning rate 0.1"] == 6000 // 100  # one epoch of batch 100
    assert any("Learning rate 1 is too large for momentum" in t for t in texts(app, "warning"))
    outcome = dataframe_column(app, 1, "outcome")
    assert outcome[2] == f"diverged: stopped at iteration {diverged.facts['iteration']}"
