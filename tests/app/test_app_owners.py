"""AppTest of whose run is whose: identities (opened as old `?me=` bookmarks: AppTest sends no cookie), "My runs /
Everyone's", refusals, teacher mode, the class board, and the URL keeping each page's view (a reload, a shared
settings link)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pandas as pd
import pytest

from app.class_board import COURSE_RESULTS
from mnist_core.config import PRESETS
from mnist_core.runs import teacher_access
from mnist_core.runs.class_rules import ClassRules, load_rules
from mnist_core.runs.permissions import NotPermitted
from mnist_core.runs.store import RunStore

from app_harness import QUICK, button, hold_in_line, start_app, student, texts, train_run

ANN_TOKEN = "ann-secret-token-0123456789abcdefgh"
BEN_TOKEN = "ben-secret-token-0123456789abcdefgh"
TEACHER_KEY = "correct horse battery staple"
ENGLISH = {"lang": "en"}  # the assertions read the source texts


@pytest.fixture
def store(runs_root: Path) -> RunStore:
    return RunStore(runs_root)


@pytest.fixture
def two_students(store: RunStore, data_root: Path) -> dict[str, int]:
    """A finished run of Ann's and one of Ben's."""
    _, ann = student(ANN_TOKEN, "Ann")
    _, ben = student(BEN_TOKEN, "Ben")
    return {"ann": train_run(store, data_root, name="ann run", owner=ann),
            "ben": train_run(store, data_root, QUICK.replace(optimizer="sgd", lr=0.1), name="ben run", owner=ben)}


def test_a_first_visit_gets_a_secret_token_and_a_default_name(store: RunStore) -> None:
    app = start_app("train", ENGLISH)
    assert "me" not in app.query_params and "who" not in app.query_params  # who you are is never in the URL
    token = app.session_state["identity_token"]  # kept in a cookie by the page's script (AppTest runs no script)
    assert len(token) >= 32  # secrets.token_urlsafe(24): 192 bits
    name_box = app.sidebar.text_input(key="identity_name_box")
    assert name_box.placeholder.startswith("Student ") and name_box.value == ""
    assert any("Until then you are Student " in c for c in texts(app, "caption"))

    # A reload: the same student, the same default name (AppTest sends no cookie: the token as an old bookmark).
    again = start_app("train", {"me": token, **ENGLISH})
    assert again.sidebar.text_input(key="identity_name_box").placeholder == name_box.placeholder


def test_typing_a_name_renames_the_students_runs(store: RunStore, data_root: Path) -> None:
    query, ann = student(ANN_TOKEN)
    run_id = train_run(store, data_root, owner=ann)
    app = start_app("train", query)
    app.sidebar.text_input(key="identity_name_box").input("  Ann   Lee ").run()
    assert "who" not in app.query_params and "me" not in app.query_params
    assert store.get(run_id).owner_name == "Ann Lee"
    again = start_app("train", student(ANN_TOKEN)[0])  # the name is kept with the identity, not in the URL
    assert again.sidebar.text_input(key="identity_name_box").value == "Ann Lee"
    app.sidebar.text_input(key="identity_name_box").input("[Ann](http://x.example) **Lee**").run()
    assert store.get(run_id).owner_name == "Ann http //x.example Lee"  # no link, no bold: names are plain text


def test_my_runs_by_default_and_everyones_on_request(store: RunStore, two_students: dict[str, int]) -> None:
    query, _ = student(BEN_TOKEN, "Ben")
    app = start_app("train", query)
    assert app.selectbox(key="train_selected_run").value == two_students["ben"]
    assert len(app.selectbox(key="train_selected_run").options) == 1
    app.segmented_control(key="train_scope").set_value("everyone").run()
    assert len(app.selectbox(key="train_selected_run").options) == 2
    app.selectbox(key="train_selected_run").set_value(two_students["ann"]).run()
    assert "A run of Ann." in texts(app, "caption")

    draw = start_app("draw", query)
    options = draw.selectbox(key="draw_model").options  # the built-in model and Ben's
    assert len(options) == 2 and options[1].startswith("ben run")


def test_a_new_student_sees_everyones_runs_but_can_change_none(store: RunStore, two_students: dict[str, int]) -> None:
    query, _ = student("new-student-token-0123456789abcdefgh")
    app = start_app("compare", query)
    assert app.session_state["compare_scope"] == "everyone"
    assert "You can rename or delete only your own runs, and none is listed here." in texts(app, "caption")
    assert not [b for b in app.button if b.label in ("Rename", "Delete run…", "Yes, delete")]
    # Even a confirmation forged into the session offers no delete button for a run that is not theirs.
    app.session_state["compare_confirm_delete"] = two_students["ann"]
    app.run()
    assert not [b for b in app.button if b.label == "Yes, delete"]
    assert store.get(two_students["ann"]).name == "ann run"


def test_my_runs_once_i_have_one(store: RunStore, data_root: Path, two_students: dict[str, int]) -> None:
    query, newcomer = student("new-student-token-0123456789abcdefgh")
    assert start_app("train", query).session_state["train_scope"] == "everyone"
    mine = train_run(store, data_root, name="my first", owner=newcomer)
    app = start_app("train", query)  # the default was not a choice: now it is "My runs"
    assert app.session_state["train_scope"] == "mine"
    assert len(app.selectbox(key="train_selected_run").options) == 1
    assert app.selectbox(key="train_selected_run").value == mine


def test_the_owner_may_delete_but_another_student_is_refused_by_the_core(store: RunStore,
                                                                        two_students: dict[str, int]) -> None:
    query, ben = student(BEN_TOKEN, "Ben")
    app = start_app("compare", query)
    assert len(app.selectbox(key="compare_manage_run").options) == 1  # Ben's own run only
    assert app.selectbox(key="compare_manage_run").value == two_students["ben"]
    # The forged call a modified page would make: the store itself refuses, nothing changes.
    with pytest.raises(NotPermitted):
        store.delete(two_students["ann"], actor=ben)
    assert {r.name for r in store.list_runs()} == {"ann run", "ben run"}
    button(app, "Delete run…").click().run()
    button(app, "Yes, delete").click().run()
    assert [r.name for r in store.list_runs()] == ["ann run"]


def test_without_the_variable_there_is_no_teacher_mode(store: RunStore) -> None:
    app = start_app("train", ENGLISH)
    assert not [e for e in app.sidebar.expander if e.label == "Teacher"]


def test_teacher_mode_changes_any_run_sets_caps_and_pins_a_reference(
        store: RunStore, two_students: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_PLAYGROUND_TEACHER_KEY", TEACHER_KEY)
    query, _ = student("teacher-browser-token-0123456789abcd", "Ms Kim")
    app = start_app("compare", query)
    app.sidebar.text_input(key="teacher_key_box").input("wrong key")  # sent with the form's submit
    app.sidebar.button(key="teacher_unlock").click().run()
    assert "That is not the teacher key." in [i.value for i in app.sidebar.info]
    assert app.session_state["teacher_key_box"] == ""  # a typed key is never kept
    app.sidebar.text_input(key="teacher_key_box").input(TEACHER_KEY)  # sent with the form's submit
    app.sidebar.button(key="teacher_unlock").click().run()
    assert any("Teacher mode" in s.value for s in app.sidebar.success)

    app.segmented_control(key="compare_scope").set_value("everyone").run()
    assert len(app.selectbox(key="compare_manage_run").options) == 2
    app.selectbox(key="compare_manage_run").set_value(two_students["ann"])
    app.text_input(key="compare_new_name").set_value("ann run (checked)")
    button(app, "Rename").click().run()
    assert store.get(two_students["ann"]).name == "ann run (checked)"

    app.sidebar.number_input(key="teacher_max_epochs").set_value(5)
    app.sidebar.number_input(key="teacher_max_active").set_value(2)
    app.sidebar.selectbox(key="teacher_reference").set_value(two_students["ben"])
    app.sidebar.button(key="teacher_save").click().run()
    assert load_rules(store.root) == ClassRules(max_epochs=5, max_active_runs=2, reference_run_id=two_students["ben"])

    # Ann's Draw page offers the class's reference model first (and selects it); her Train page obeys the cap.
    ann_query, _ = student(ANN_TOKEN, "Ann")
    draw = start_app("draw", ann_query)
    picker = draw.selectbox(key="draw_model")
    assert picker.options[0].startswith("Class reference: ben run") and picker.value == two_students["ben"]
    train = start_app("train", ann_query)
    train.number_input(key="train_epochs").set_value(6)
    button(train, "Start training").click().run()
    refused = "Your teacher allows at most 5 epochs per run; this one asks for 6. Lower **Epochs**."
    assert refused in texts(train, "error")
    assert len(store.list_runs()) == 2


def test_a_class_of_wrong_keys_slows_the_teacher_a_little_and_never_refuses_the_key(
        store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_PLAYGROUND_TEACHER_KEY", TEACHER_KEY)
    query, _ = student("teacher-browser-token-0123456789abcd", "Ms Kim")
    app = start_app("compare", query)
    # Eight wrong tries from the class in the last seconds (any browser: the back-off is the key's, not theirs).
    for _ in range(8):
        teacher_access.reserve_try(store, now=time.time() - 4)
    app.run()
    assert any(c.startswith("Many wrong keys were typed in the last minute: a try now is checked after about ")
               for c in texts(app.sidebar, "caption"))
    app.sidebar.text_input(key="teacher_key_box").input(TEACHER_KEY)  # sent with the form's submit
    started = time.monotonic()
    app.sidebar.button(key="teacher_unlock").click().run()  # waits for its slot (about 3.5 s), then unlocks
    assert 2.0 < time.monotonic() - started < 30
    assert any("Teacher mode" in s.value for s in app.sidebar.success)
    (revoked,) = store.connection().execute("SELECT revoked FROM teacher_sessions").fetchone()
    assert revoked is None
    app.sidebar.button(key="teacher_leave").click().run()
    assert not app.sidebar.success
    assert store.connection().execute("SELECT revoked FROM teacher_sessions").fetchone()[0] is not None


@pytest.mark.parametrize(("content", "expected"), [
    ('{"max_epochs": 0, "colour": "red", "max_active_runs": 2}',
     ["class_rules.json: max_epochs is 0; it takes a whole number of at least 1, or nothing. Its default is used.",
      "class_rules.json: colour is not a class rule; it is ignored."]),
    ("[5, 2]", ["class_rules.json is not a JSON object (list); every class rule keeps its default."]),
    ("{max_epochs: 5", ["class_rules.json is not a JSON object (JSONDecodeError); every class rule keeps its "
                        "default."]),
])
def test_the_teacher_is_told_what_in_the_class_rules_file_was_not_used(
        store: RunStore, monkeypatch: pytest.MonkeyPatch, content: str, expected: list[str]) -> None:
    monkeypatch.setenv("MNIST_PLAYGROUND_TEACHER_KEY", TEACHER_KEY)
    (store.root / "class_rules.json").write_text(content)  # edited by hand
    query, _ = student("teacher-browser-token-0123456789abcd", "Ms Kim")
    app = start_app("compare", query)
    assert texts(app.sidebar, "warning") == []  # a student is not shown the teacher's file
    app.sidebar.text_input(key="teacher_key_box").input(TEACHER_KEY)  # sent with the form's submit
    app.sidebar.button(key="teacher_unlock").click().run()
    assert texts(app.sidebar, "warning") == expected


def test_a_shared_link_fills_the_form_and_starts_nothing(store: RunStore) -> None:
    linked = PRESETS["dnn-5-dropout"].replace(epochs=4, batch_size=64, seed=7, dataset="fashion")
    from app.share_link import query_of

    app = start_app("train", {**query_of(linked.to_dict()), "me": BEN_TOKEN, **ENGLISH})
    assert app.selectbox(key="train_preset").value == "dnn-5-dropout"
    assert app.text_input(key="train_hidden").value == "512, 512, 512, 512"
    assert (app.number_input(key="train_epochs").value, app.number_input(key="train_batch_size").value,
            app.number_input(key="train_seed").value, app.number_input(key="train_dropout").value) == (4, 64, 7, 0.3)
    assert app.selectbox(key="train_dataset").value == "fashion"
    assert store.list_runs() == []  # nothing starts by itself
    link = next(c.value for c in app.code if "/train?" in c.value)
    assert "me=" not in link and "who=" not in link and "epochs=4" in link and "dropout=0.3" in link


def test_a_tampered_link_shows_its_problems_and_keeps_the_form(store: RunStore) -> None:
    app = start_app("train", {**ENGLISH, "epochs": "lots", "optimizer": "magic", "batch_size": "64", "lr": "50"})
    warning = " ".join(texts(app, "warning"))
    assert "Epochs “lots” cannot be used (it is not a whole number)" in warning
    assert "Optimizer “magic” cannot be used" in warning
    assert app.number_input(key="train_epochs").value == PRESETS["mlp-3"].epochs  # kept
    assert app.number_input(key="train_batch_size").value == 64  # what could be used is used
    assert any("Learning rate: 50 is not allowed" in e for e in texts(app, "error"))  # out of range: listed
    assert store.list_runs() == []


def test_a_reload_keeps_the_selected_run_the_form_and_compares_choices(store: RunStore,
                                                                       two_students: dict[str, int]) -> None:
    query, _ = student(ANN_TOKEN, "Ann")
    app = start_app("train", query)
    app.number_input(key="train_epochs").set_value(3).run()
    app.text_input(key="train_hidden").set_value("64, 32").run()
    url = dict(app.query_params)
    assert (url["epochs"], url["hidden"]) == ("3", "64,32") and "me" not in url

    reloaded = start_app("train", {**url, **query})  # a new session on the same address (and Ann's "cookie")
    assert reloaded.number_input(key="train_epochs").value == 3
    assert reloaded.text_input(key="train_hidden").value == "64, 32"
    assert reloaded.selectbox(key="train_selected_run").value == two_students["ann"]

    compare = start_app("compare", query)
    compare.segmented_control(key="compare_scope").set_value("everyone").run()
    compare.multiselect(key="compare_runs").set_value(list(two_students.values())).run()
    compare.radio(key="compare_x_axis").set_value("epoch").run()
    compare.number_input(key="compare_race_epochs").set_value(2).run()
    again = start_app("compare", {**dict(compare.query_params), **query})
    assert sorted(again.multiselect(key="compare_runs").value) == sorted(two_students.values())
    assert again.radio(key="compare_x_axis").value == "epoch"
    assert again.session_state["compare_scope"] == "everyone"  # chosen, so kept (Ann has runs: default is hers)
    assert again.number_input(key="compare_race_epochs").value == 2


def test_the_class_board_lists_each_students_best_run_and_the_course(store: RunStore, data_root: Path,
                                                                     two_students: dict[str, int]) -> None:
    _, ann = student(ANN_TOKEN, "Ann")
    better = train_run(store, data_root, QUICK.replace(hidden=(64,), epochs=2), name="ann better", owner=ann)
    assert store.get(better).test_accuracy > store.get(two_students["ann"]).test_accuracy
    app = start_app("compare", student(ANN_TOKEN, "Ann")[0])
    board = next(d.value for d in app.dataframe if "Student" in d.value.columns)
    students = board[~board["Student"].str.startswith("Course")]
    assert list(students["Run"]) == ["ann better", "ben run"] or list(students["Run"]) == ["ben run", "ann better"]
    assert list(students["Test accuracy (%)"]) == sorted(students["Test accuracy (%)"], reverse=True)
    course = board[board["Student"] == "Course notes (reference)"]
    # In percent with two decimals, as every other page shows accuracy (96.54%, not 0.9654).
    assert list(course["Test accuracy (%)"]) == [round(accuracy * 100, 2) for _, accuracy in COURSE_RESULTS.values()]
    board_proto = next(d for d in app.dataframe if "Student" in d.value.columns).proto
    assert "%.2f%%" in board_proto.columns  # the column config (JSON) shows it as 96.54%
    # The course's rows have no training time: the cell shows a dash, not Streamlit's default "None".
    assert course["Training time (s)"].isna().all()
    assert next(d for d in app.dataframe if "Student" in d.value.columns).proto.placeholder == "–"
    csv = [b for b in app.get("download_button") if b.proto.label == "Download the board as CSV"]
    assert csv
    app.radio(key="board_sort").set_value("student").run()
    board = next(d.value for d in app.dataframe if "Student" in d.value.columns)
    assert list(board["Student"][:2]) == ["Ann", "Ben"]


def test_the_board_csv_opens_in_excel_with_korean_names() -> None:
    from app.class_board import csv_bytes

    data = csv_bytes(pd.DataFrame({"학생": ["김민지"], "Test accuracy": [0.98]}))
    assert data.startswith(b"\xef\xbb\xbf")
    assert pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")["학생"][0] == "김민지"


def test_the_sidebar_lists_my_trainings_first_and_a_race_as_one_group(store: RunStore) -> None:
    query, ann = student(ANN_TOKEN, "Ann")
    _, ben = student(BEN_TOKEN, "Ben")
    bens = store.create_run(QUICK, name="ben solo", owner=ben)
    race = [store.create_run(QUICK.replace(optimizer=o), name=f"race · {o}", group_id="race-test", owner=ann)
            for o in ("sgd", "adam")]
    for run_id in (bens, *race):
        hold_in_line(store, run_id)  # queued: the page's JobManager does not train them in this test
    app = start_app("train", query)
    captions = [c.value for c in app.sidebar.caption]
    order = [next(i for i, c in enumerate(captions) if text in c)
             for text in ("**Your trainings**", "Optimizer race of Ann: 2 runs", "race · sgd", "race · adam",
                          "**Everyone else's**", "ben solo")]
    assert order == sorted(order), captions
    for run_id in (bens, *race):
        store.set_status(run_id, "stopped")


def test_the_new_texts_are_translated_into_korean(store: RunStore, two_students: dict[str, int]) -> None:
    import ast

    from app.i18n import translations

    catalog = translations("ko")
    sources = ["identity.py", "teacher.py", "run/scope.py", "share_link.py", "view_state.py", "class_board.py"]
    missing = []
    for name in sources:
        tree = ast.parse((Path(__file__).parents[2] / "app" / name).read_text())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("_", "N_") and node.args
                    and isinstance(node.args[0], ast.Constant) and catalog.gettext(node.args[0].value) ==
                    node.args[0].value):
                missing.append((name, node.args[0].value))
    assert missing == []
    query, _ = student(BEN_TOKEN, "Ben")
    app = start_app("compare", {**query, "lang": "ko"})
    assert "우리 반 순위표" in [h.value for h in app.subheader]
    assert "내 이름" == app.sidebar.text_input(key="identity_name_box").label


def test_someone_else_on_a_shared_computer_starts_a_new_identity(store: RunStore, data_root: Path) -> None:
    query, ann = student(ANN_TOKEN, "Ann")
    train_run(store, data_root, name="ann run", owner=ann)
    app = start_app("train", query)
    assert app.session_state["train_scope"] == "mine"
    app.sidebar.button(key="identity_start_over").click().run()
    assert app.session_state["identity_owner"] != ann.owner_id
    assert "me" not in app.query_params and "who" not in app.query_params
    assert app.sidebar.text_input(key="identity_name_box").value == ""
    assert store.get(1).owner_name == "Ann"  # Ann's runs stay Ann's


def test_compare_shows_a_whole_four_way_race_first(store: RunStore) -> None:
    query, ann = student(ANN_TOKEN, "Ann")
    racers = [store.create_run(QUICK.replace(optimizer=o), name=f"race · {o}", group_id="race-four", owner=ann)
              for o in ("sgd", "momentum", "rmsprop", "adam")]
    for run_id in racers:
        store.set_status(run_id, "stopped")  # as if stopped before training: listed, nothing left to train
    app = start_app("compare", query)
    assert sorted(app.multiselect(key="compare_runs").value) == racers  # all four, not the newest three


def test_a_token_withdrawn_elsewhere_stops_the_session_once_the_recheck_is_due(
        store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The token is read once per TOKEN_RECHECK_S, not on every owner lookup of a rerun; once due, a withdrawn token
    stops the page."""
    from app import identity
    from mnist_core.runs.identities import Identities

    app = start_app("train", ENGLISH)
    token, owner = app.session_state["identity_token"], app.session_state["identity_owner"]
    Identities(store).rotate(owner)  # "give me a new one" on another computer
    assert Identities(store).resolve(token) is None
    monkeypatch.setattr(identity, "TOKEN_RECHECK_S", 3600.0)  # still inside the window: no read, the page works
    app.run()
    assert not any("identity was replaced" in w for w in texts(app, "warning"))
    monkeypatch.setattr(identity, "TOKEN_RECHECK_S", 0.0)  # the window passed
    app.run()
    assert any("identity was replaced" in w for w in texts(app, "warning"))
