"""AppTest of names as text: a classmate's hostile run names and student name reach Ben's sidebar, Train, Compare
(legend, table), Draw and the class board as text, in English and in Korean; the CSV exports run no name as a
formula.

AppTest hands over each Markdown element's source, so "shown as text" is checked as "sent escaped" (app.user_text,
whose escaping tests/unit/test_user_text.py checks and tests/browser/test_browser_hostile_names.py sees rendered);
widgets that show plain text (selectbox and multiselect options, table cells) must get the name exactly as typed.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from app.i18n import use_language
from app.user_text import markdown_text, plot_text
from mnist_core.runs.permissions import Actor
from mnist_core.runs.store import RunStore

from app_harness import (
    QUICK,
    button,
    canvas_rgba,
    canvas_value,
    figures,
    hold_in_line,
    mnist_test_digits,
    start_app,
    student,
    train_run,
)

ANN_TOKEN = "ann-secret-token-0123456789abcdefgh"
BEN_TOKEN = "ben-secret-token-0123456789abcdefgh"
# Two run names that together hold every kind of markup a name must not become (a run name has at most 120
# characters), and a student name an older database may hold (today's name box strips such characters).
RUN_NAMES = (r"[prize](http://example.invalid) <img src=http://127.0.0.1:9/x.png> $$\int_0^1 x^2 dx$$ :red[red] =1+1",
             '<a href="http://example.invalid" target=_blank style="font-size:60px">big</a> :material/home: **bold**')
OWNER = "[Ann](http://example.invalid) :blue[Ann] $x$ <b>"
MARKDOWN_KINDS = ("markdown", "caption", "info", "success", "warning", "error", "toast")


@pytest.fixture
def store(runs_root: Path) -> RunStore:
    return RunStore(runs_root)


@pytest.fixture
def hostile(store: RunStore, data_root: Path):
    """Ann's two finished runs with hostile names, then a race of hers under the same names, one racer running and
    one queued (nothing trains them here): the newest runs, so the sidebar and Compare's first view show them, as a
    progress bar's text and as a caption. Yields the finished runs' ids."""
    ann = Actor(student(ANN_TOKEN)[1].owner_id, OWNER)  # Ann's browser, with a name today's name box would strip
    finished = [train_run(store, data_root, name=name, owner=ann) for name in RUN_NAMES]
    # Other optimizers than the finished runs' (adam): a picker's label tells them apart only by their settings.
    racers = [store.create_run(QUICK.replace(optimizer=o), name=name, group_id="race-hostile", owner=ann)
              for o, name in zip(("sgd", "momentum"), RUN_NAMES, strict=True)]
    store.set_status(racers[0], "running")
    hold_in_line(store, racers[1])  # else the page's JobManager trains it
    yield finished
    for run_id in racers:
        store.set_status(run_id, "stopped")


def markdown_sources(app) -> list[str]:
    """Every text the page hands to Streamlit's Markdown renderer, main area and sidebar."""
    sources = [element.value for kind in MARKDOWN_KINDS for element in app.get(kind)]
    sources += [element.proto.label for element in app.get("metric")]
    sources += [element.proto.text for element in app.get("progress")]
    return sources


def assert_names_escaped(app, *texts: str) -> None:
    """Each of `texts` is in some Markdown source, escaped; none appears raw in any (it would be markup)."""
    sources = markdown_sources(app)
    for text in (*RUN_NAMES, OWNER):
        assert not [s for s in sources if text in s], f"{text!r} sent as Markdown unescaped"
    for text in texts:
        assert any(markdown_text(text) in s for s in sources), (text, sources)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_classmates_hostile_names_are_text_on_every_page(store: RunStore, hostile: list[int], lang: str) -> None:
    query = {**student(BEN_TOKEN, "Ben")[0], "lang": lang}  # Ben has no runs: his pages show everyone's
    # AppTest formats widget options in the test's own thread when it reruns: tell it the page's language.
    with use_language(lang):
        train = start_app("train", query)
        assert_names_escaped(train, *RUN_NAMES, OWNER)  # the sidebar: the race's title and its queued runs
        options = train.selectbox(key="train_selected_run").options  # a plain-text widget: the name as typed
        assert all(any(o.startswith(name + " — ") for o in options) for name in RUN_NAMES), options
        train.selectbox(key="train_selected_run").set_value(hostile[0]).run()
        assert_names_escaped(train, OWNER)  # "A run of <owner>."

        compare = start_app("compare", query)
        assert_names_escaped(compare, *RUN_NAMES)  # the queued race, shown first, with its place in the queue
        compare.multiselect(key="compare_runs").set_value(hostile).run()
        options = compare.multiselect(key="compare_runs").options
        assert all(any(o.startswith(name + " — ") for o in options) for name in RUN_NAMES), options
        charts = [f for f in figures(compare) if f["data"]]
        assert len(charts) == 2  # the loss and the validation accuracy
        for chart in charts:
            assert [t["name"] for t in chart["data"]] == [plot_text(name) for name in RUN_NAMES]
        table, board = compare.dataframe[0].value, compare.dataframe[-1].value
        assert list(table.iloc[:, 0]) == list(RUN_NAMES)  # a dataframe cell is text: as typed
        students = board[board.iloc[:, 0] == OWNER]
        assert len(students) == 1 and students.iloc[0, 2] in RUN_NAMES
        assert_names_escaped(compare)

        draw = start_app("draw", query)
        for name in RUN_NAMES:
            assert any(o.startswith(name + " · ") for o in draw.selectbox(key="draw_model").options)
        asked = draw.multiselect(key="draw_ask_models").value
        assert asked[1] in hostile  # the built-in model and Ann's newest finished run
        draw.session_state["canvas_draw"] = canvas_value(canvas_rgba(mnist_test_digits(1)[0][0]))
        draw.run()
        assert_names_escaped(draw, store.get(asked[1]).name)  # its answer's metric label
        assert not draw.exception


def test_the_owners_own_messages_show_the_name_as_typed(store: RunStore, hostile: list[int]) -> None:
    query, _ = student(ANN_TOKEN)
    app = start_app("compare", query)
    app.selectbox(key="compare_manage_run").set_value(hostile[1]).run()
    button(app, "Delete run…").click().run()
    assert any(f"**{markdown_text(RUN_NAMES[1])}**" in w.value for w in app.warning)
    assert_names_escaped(app)
    button(app, "Cancel").click().run()
    renamed = "$$x$$ [again](http://example.invalid)"
    app.selectbox(key="compare_manage_run").set_value(hostile[0])
    app.text_input(key="compare_new_name").set_value(renamed)
    button(app, "Rename").click().run()
    assert [s.value for s in app.success] == [f"Run #{hostile[0]} is now called “{markdown_text(renamed)}”."]
    assert not [s for s in markdown_sources(app) if renamed in s]

def test_the_csv_exports_run_no_name_as_a_formula(store: RunStore, data_root: Path, downloads) -> None:
    names = {"=1+1": "=Ann", "+A": "+Ben", "-B": "-Cy", "@C": "@Dee"}  # run name: its student's name
    ids = [train_run(store, data_root, name=run, owner=Actor(f"owner-{n}", owner))
           for n, (run, owner) in enumerate(names.items())]
    app = start_app("compare", student("new-student-token-0123456789abcdefgh")[0])
    app.multiselect(key="compare_runs").set_value(ids).run()
    buttons = {b.proto.label: b for b in app.get("download_button")}

    runs = pd.read_csv(io.BytesIO(downloads(buttons["Download table as CSV"])), encoding="utf-8-sig")
    assert list(runs["run"]) == [f"'{run}" for run in names]
    assert runs["id"].tolist() == ids and runs["test accuracy (%)"].dtype.kind == "f"  # numbers stay numbers

    board = pd.read_csv(io.BytesIO(downloads(buttons["Download the board as CSV"])), encoding="utf-8-sig")
    students = board[board["Student"] != "Course notes (reference)"]
    assert sorted(zip(students["Student"], students["Run"], strict=True)) == sorted(
        (f"'{owner}", f"'{run}") for run, owner in names.items())
    assert board["Test accuracy (%)"].dtype.kind == "f" and board["Learning rate"].dtype.kind == "f"
