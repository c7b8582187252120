"""Who may change which run, checked in mnist_core itself: the core API called as another student is refused with
nothing changed; the owner, the teacher and the command line may; a teacher's caps refuse new runs."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from mnist_core.backends.execution import execute_run
from mnist_core.backends.jobs import JobManager
from mnist_core.runs.class_rules import ClassRules, LimitReached, load_rules, save_rules
from mnist_core.runs.permissions import COMMAND_LINE, Actor, NotPermitted
from mnist_core.runs.store import RunStore

from conftest import TINY, wait_for

ANN = Actor("s-ann", "Ann")
BEN = Actor("s-ben", "Ben")
TEACHER = Actor("s-teacher", "Ms Kim", is_teacher=True)
LONG = TINY.replace(epochs=200, train_limit=20_000)  # minutes if nobody stops it


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


@pytest.fixture
def anns_run(store: RunStore, data_root: Path, mnist) -> int:
    """A real finished run of Ann's, with its weights file."""
    run_id = store.create_run(TINY, name="ann's run", owner=ANN)
    assert execute_run(store, run_id, TINY, data_root=data_root) is not None
    return run_id


def test_every_run_records_who_started_it(store: RunStore) -> None:
    ann = store.create_run(TINY, owner=ANN)
    cli = store.create_run(TINY)
    assert (store.get(ann).owner_id, store.get(ann).owner_name) == ("s-ann", "Ann")
    assert (store.get(cli).owner_id, store.get(cli).owner_name) == ("command-line", "command line")
    assert [r.id for r in store.list_runs(owner_id=ANN.owner_id)] == [ann]
    assert [r.id for r in store.list_runs(statuses=("queued",), owner_id=BEN.owner_id)] == []


def test_another_student_cannot_rename_or_delete_and_nothing_changes(store: RunStore, anns_run: int) -> None:
    before = store.get(anns_run)
    with pytest.raises(NotPermitted) as refused:
        store.rename(anns_run, "mine now", actor=BEN)
    assert (refused.value.action, refused.value.run_id, refused.value.owner_name) == ("rename", anns_run, "Ann")
    assert "Ben may not rename" in str(refused.value) and "belongs to Ann" in str(refused.value)
    with pytest.raises(NotPermitted):
        store.delete(anns_run, actor=BEN)
    after = store.get(anns_run)
    assert (after.name, after.status, after.test_accuracy) == (before.name, "completed", before.test_accuracy)
    assert store.has_weights(anns_run) and store.losses(anns_run).iterations


def test_the_owner_and_the_teacher_may_change_a_run(store: RunStore, anns_run: int) -> None:
    store.rename(anns_run, "  my   first run ", actor=ANN)
    assert store.get(anns_run).name == "my first run"
    store.rename(anns_run, "checked by the teacher", actor=TEACHER)
    assert store.get(anns_run).name == "checked by the teacher"
    store.delete(anns_run, actor=TEACHER)
    assert store.list_runs() == [] and not store.has_weights(anns_run)


def test_a_students_new_name_shows_on_their_runs_only(store: RunStore) -> None:
    ann, ben = store.create_run(TINY, owner=ANN), store.create_run(TINY, owner=BEN)
    store.set_owner_name(ANN.owner_id, "Ann Lee")
    assert (store.get(ann).owner_name, store.get(ben).owner_name) == ("Ann Lee", "Ben")


def test_runs_from_before_owners_existed_are_only_the_teachers(tmp_path: Path) -> None:
    # A database written by the previous version: no owner columns.
    root = tmp_path / "runs"
    RunStore(root).create_run(TINY, name="old run")
    with sqlite3.connect(root / "runs.sqlite3") as conn:
        conn.execute("ALTER TABLE runs DROP COLUMN owner_id")
        conn.execute("ALTER TABLE runs DROP COLUMN owner_name")
    store = RunStore(root)
    (old,) = store.list_runs()
    assert (old.name, old.owner_id) == ("old run", None)
    with pytest.raises(NotPermitted):
        store.delete(old.id, actor=ANN)
    store.delete(old.id, actor=COMMAND_LINE)
    assert store.list_runs() == []


@pytest.fixture
def manager(store: RunStore, data_root: Path, mnist):
    jobs = JobManager(store, max_concurrent=1, data_root=data_root, device="cpu")
    yield jobs
    jobs.shutdown(timeout=30)


def test_only_the_owner_or_the_teacher_may_stop_a_run(store: RunStore, manager: JobManager) -> None:
    running = manager.submit(LONG, name="ann long", actor=ANN)
    queued = manager.submit(TINY, name="ann queued", actor=ANN)
    wait_for(lambda: store.get(running).status == "running")
    for run_id in (running, queued):
        with pytest.raises(NotPermitted) as refused:
            manager.stop(run_id, actor=BEN)
        assert refused.value.action == "stop"
    time.sleep(0.3)  # a wrongly delivered stop would have ended it by now
    assert (store.get(running).status, store.get(queued).status) == ("running", "queued")
    assert manager.queued() == [queued]
    assert manager.stop(queued, actor=ANN) and store.get(queued).status == "stopped"
    assert manager.stop(running, actor=TEACHER)
    assert manager.wait(running, timeout=60) and store.get(running).status == "stopped"


def test_a_teachers_caps_refuse_new_runs_with_nothing_stored(store: RunStore, manager: JobManager,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_PLAYGROUND_TEACHER_KEY", "the teacher's key")
    with pytest.raises(NotPermitted):
        save_rules(store.root, ClassRules(max_epochs=3), ANN)  # a student cannot set the rules
    assert load_rules(store.root) == ClassRules()
    save_rules(store.root, ClassRules(max_epochs=3, max_active_runs=2), TEACHER)
    assert load_rules(store.root) == ClassRules(max_epochs=3, max_active_runs=2)

    with pytest.raises(LimitReached) as too_long:
        manager.submit(TINY.replace(epochs=4), actor=ANN)
    assert (too_long.value.what, too_long.value.value, too_long.value.limit) == ("epochs", 4, 3)
    with pytest.raises(LimitReached) as race:
        manager.submit_race(TINY, ["sgd", "momentum", "adam"], actor=ANN)
    assert (race.value.what, race.value.value, race.value.limit) == ("active_runs", 3, 2)
    assert store.list_runs() == []

    first = manager.submit(LONG.replace(epochs=3), actor=ANN)
    manager.submit(TINY, actor=ANN)
    with pytest.raises(LimitReached):
        manager.submit(TINY, actor=ANN)
    assert len(store.list_runs(owner_id=ANN.owner_id)) == 2
    manager.submit(TINY, actor=BEN)  # caps are per student
    manager.submit(TINY.replace(epochs=10), actor=TEACHER)  # and never the teacher's
    manager.stop(first, actor=ANN)


def test_unreadable_rules_mean_no_caps(tmp_path: Path) -> None:
    (tmp_path / "class_rules.json").write_text('{"max_epochs": "lots", "max_active_runs": 2}')
    assert load_rules(tmp_path) == ClassRules(max_active_runs=2)
    (tmp_path / "class_rules.json").write_text("not json")
    assert load_rules(tmp_path) == ClassRules()


def test_without_teacher_mode_old_rules_do_not_apply(store: RunStore, manager: JobManager,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MNIST_PLAYGROUND_TEACHER_KEY", raising=False)
    save_rules(store.root, ClassRules(max_epochs=1), COMMAND_LINE)  # left over from a class with a teacher
    run_id = manager.submit(TINY.replace(epochs=2), actor=ANN)
    assert manager.wait(run_id, timeout=60) and store.get(run_id).status == "completed"


def test_a_rules_file_that_is_not_an_object_keeps_the_defaults_and_names_the_problem(tmp_path: Path) -> None:
    from mnist_core.runs.class_rules import RuleProblem, read_rules

    (tmp_path / "class_rules.json").write_text("[1, 2]")
    assert read_rules(tmp_path) == (ClassRules(), [RuleProblem(None, "list", "a JSON object")])
    (tmp_path / "class_rules.json").write_text('{"max_epochs": 0, "max_active_runs": 3, "max_epoch": 5}')
    rules, problems = read_rules(tmp_path)
    assert rules == ClassRules(max_active_runs=3)
    assert [(p.field, p.value) for p in problems] == [("max_epochs", "0"), ("max_epoch", "5")]


def test_simultaneous_submits_never_pass_the_cap_together(store: RunStore, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The cap is checked in the same write transaction as the insert: six students' browsers of one student, each
    with its own JobManager and SQLite connection (as several server processes would), submitting at the same
    moment, get exactly the cap's number of runs."""
    import threading

    monkeypatch.setenv("MNIST_PLAYGROUND_TEACHER_KEY", "k")
    save_rules(store.root, ClassRules(max_active_runs=2), TEACHER)
    barrier, outcomes = threading.Barrier(6), []

    def submit() -> None:
        own = RunStore(store.root)  # its own connections, as another process's store would have
        admitted = []

        def admit(usage) -> None:
            from mnist_core.runs.class_rules import check_may_submit

            check_may_submit(load_rules(own.root), ANN, [TINY], usage)

        barrier.wait()
        try:
            admitted = own.create_runs([TINY], [None], owner=ANN, admit=admit)
        except LimitReached:
            pass
        outcomes.append(len(admitted))

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == [0, 0, 0, 0, 1, 1]
    assert len(store.list_runs(owner_id=ANN.owner_id)) == 2


def test_default_quotas_hold_without_a_teacher(store: RunStore, manager: JobManager,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A server with no teacher still keeps one student from queueing the class away: 8 runs at once per student,
    the rest refused with nothing stored; another student is not affected."""
    monkeypatch.delenv("MNIST_PLAYGROUND_TEACHER_KEY", raising=False)
    ids = [manager.submit(LONG, actor=ANN) for _ in range(8)]
    with pytest.raises(LimitReached) as refused:
        manager.submit(LONG, actor=ANN)
    assert (refused.value.what, refused.value.value, refused.value.limit) == ("active_runs", 9, 8)
    assert store.count_runs(owner_id=ANN.owner_id) == 8
    ben = manager.submit(LONG, actor=BEN)
    for run_id in [*ids, ben]:
        manager.stop(run_id, actor=TEACHER)


def test_a_students_queue_never_holds_the_other_students_slots(store: RunStore, data_root: Path, mnist,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With two slots, Ann's three runs train one at a time (a student's turn is one run, or one race), so Ben's
    run, queued after all of hers, starts at once in the free slot."""
    monkeypatch.delenv("MNIST_PLAYGROUND_TEACHER_KEY", raising=False)
    manager = JobManager(store, max_concurrent=2, data_root=data_root)
    try:
        anns = [manager.submit(LONG, actor=ANN) for _ in range(3)]
        ben = manager.submit(LONG, actor=BEN)
        wait_for(lambda: store.get(ben).status == store.get(anns[0]).status == "running", timeout=60)
        assert [store.get(i).status for i in anns] == ["running", "queued", "queued"]
        assert manager.queued() == anns[1:]
        race = manager.submit_race(LONG, ["sgd", "adam"], actor=BEN)  # a race trains together, as one turn
        manager.stop(ben, actor=BEN)
        wait_for(lambda: store.get(race[0]).status == "running", timeout=60)
        manager.stop(anns[0], actor=ANN)  # the free slot goes to the race's other runner, not to Ann's next run
        wait_for(lambda: store.get(race[1]).status == "running", timeout=60)
        assert [store.get(i).status for i in anns] == ["stopped", "queued", "queued"]
        for run_id in [*anns, *race]:
            manager.stop(run_id, actor=TEACHER)
    finally:
        manager.shutdown(timeout=60)
