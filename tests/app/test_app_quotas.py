"""AppTest of the class's quotas in the teacher's panel: each box shows the value in force (the defaults when
the teacher set nothing), a saved change holds for the next Start (refused in the student's language), and 0
means no cap."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.i18n import use_language
from mnist_core.runs.class_rules import ClassRules, load_rules, save_rules
from mnist_core.runs.permissions import COMMAND_LINE
from mnist_core.runs.store import RunStore

from app_harness import QUICK, start_app, student, texts, wait_until_finished

TEACHER_KEY = "quota test teacher key 9317"
TEACHER_TOKEN = "quota-teacher-token-0123456789abcdef"
ANN_TOKEN = "quota-ann-token-0123456789abcdefghij"
# Field of ClassRules -> the key of its box in the teacher's panel.
BOXES = {"max_epochs": "teacher_max_epochs", "max_active_runs": "teacher_max_active",
         "max_running_per_student": "teacher_max_running", "max_queued": "teacher_max_queued",
         "max_runs_per_student": "teacher_max_stored", "max_disk_mb_per_student": "teacher_max_disk_mb"}
REFUSALS = {
    "en": "At most 2 of your runs can be training or waiting at once; this would make 3. Wait for one to finish, "
          "or stop one, then press **Start training** again.",
    "ko": "내 실행은 한 번에 최대 2개까지 학습하거나 기다릴 수 있습니다. 이대로면 3개가 됩니다. 하나가 끝날 때까지 "
          "기다리거나 하나를 멈춘 다음 **학습 시작**을 다시 누르세요.",
}
ACTIVE_LABELS = {"en": "Runs training or waiting per student (0 = no limit)",
                 "ko": "학생 한 명이 학습 중이거나 대기 중인 실행 수 (0 = 제한 없음)"}


@pytest.fixture
def teacher_mode(runs_root: Path, monkeypatch: pytest.MonkeyPatch) -> RunStore:
    monkeypatch.setenv("MNIST_PLAYGROUND_TEACHER_KEY", TEACHER_KEY)
    runs_root.mkdir(parents=True, exist_ok=True)
    return RunStore(runs_root)


def unlocked_teacher(lang: str = "en") -> AppTest:
    """The teacher's Train page with the key typed in the sidebar (teacher mode on)."""
    query, _ = student(TEACHER_TOKEN, "Ms Kim")
    app = start_app("train", {**query, "lang": lang})
    app.sidebar.text_input(key="teacher_key_box").input(TEACHER_KEY)  # sent with the form's submit
    app.sidebar.button(key="teacher_unlock").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.sidebar.number_input(key="teacher_max_active"), "the teacher's panel shows no quota boxes"
    return app


def box_values(app: AppTest) -> dict[str, int]:
    return {name: app.sidebar.number_input(key=box).value for name, box in BOXES.items()}


def test_the_quota_boxes_show_the_defaults_when_the_teacher_set_nothing(teacher_mode: RunStore) -> None:
    app = unlocked_teacher()
    assert box_values(app) == {"max_epochs": 0, "max_active_runs": 8, "max_running_per_student": 1,
                               "max_queued": 60, "max_runs_per_student": 300, "max_disk_mb_per_student": 1000}
    assert app.sidebar.number_input(key="teacher_max_disk_mb").label == "MB of weights files per student (0 = no limit)"


def test_the_boxes_show_stored_rules_and_zero_saves_no_cap(teacher_mode: RunStore) -> None:
    save_rules(teacher_mode.root, ClassRules(max_queued=5, max_runs_per_student=20), COMMAND_LINE)
    app = unlocked_teacher()
    assert box_values(app)["max_queued"] == 5 and box_values(app)["max_runs_per_student"] == 20
    app.sidebar.number_input(key="teacher_max_queued").set_value(0)
    app.sidebar.number_input(key="teacher_max_disk_mb").set_value(250)
    app.sidebar.number_input(key="teacher_max_running").set_value(3)
    app.sidebar.button(key="teacher_save").click().run()
    assert "Class rules saved." in texts(app.sidebar, "info")
    assert load_rules(teacher_mode.root) == ClassRules(max_queued=None, max_runs_per_student=20,
                                                       max_disk_mb_per_student=250, max_running_per_student=3)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_teachers_cap_of_two_runs_refuses_a_students_third_start(
        teacher_mode: RunStore, monkeypatch: pytest.MonkeyPatch, lang: str) -> None:
    monkeypatch.setenv("MNIST_PLAYGROUND_MAX_JOBS", "1")  # one worker, busy: the student's runs stay queued
    # AppTest formats widget options in the test's thread: tell it the sessions' language.
    with use_language(lang):
        refuse_third_start(teacher_mode, lang)


def refuse_third_start(store: RunStore, lang: str) -> None:
    """The teacher lowers the cap to 2 in the panel; Ann's runs wait behind the command line's long run, so her
    first two Starts stay queued (active) when she presses Start the third time."""
    teacher = unlocked_teacher(lang)
    box = teacher.sidebar.number_input(key="teacher_max_active")
    assert box.label == ACTIVE_LABELS[lang] and box.value == 8
    box.set_value(2)
    teacher.sidebar.button(key="teacher_save").click().run()
    assert load_rules(store.root) == ClassRules(max_active_runs=2)

    from app import resources

    manager = resources.jobs()
    blocker = manager.submit(QUICK.replace(epochs=30, train_limit=0, val_size=0))  # the command line's: no cap
    deadline = time.monotonic() + 30
    while manager.active() != [blocker] and time.monotonic() < deadline:
        time.sleep(0.02)
    query, ann = student(ANN_TOKEN, "Ann")
    app = start_app("train", {**query, "lang": lang})
    app.number_input(key="train_epochs").set_value(1)
    app.number_input(key="train_train_limit").set_value(1000)
    try:
        for _ in range(3):
            app.button(key="train_start").click().run()
        mine = [r for r in store.list_runs() if r.owner_id == ann.owner_id]
        assert len(mine) == 2 and all(r.status == "queued" for r in mine), [(r.id, r.status) for r in mine]
        assert REFUSALS[lang] in texts(app, "error"), texts(app, "error")
        assert not app.exception
    finally:
        for run in store.list_runs(statuses=("queued", "running")):
            manager.stop(run.id)
    wait_until_finished(store, [r.id for r in store.list_runs()])
