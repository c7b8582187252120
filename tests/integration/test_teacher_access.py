"""The teacher key's back-off and teacher sessions (mnist_core.runs.teacher_access), on a real SQLite database: wrong
tries slow every later try, from any session or process, but the right key always unlocks after a bounded wait;
a session id works until it expires, is left or the key changes, and the database never holds it in clear. Also:
the class's pinned reference run survives its owner's delete."""

from __future__ import annotations

import secrets
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mnist_core.runs import teacher_access
from mnist_core.runs.class_rules import ClassRules, save_rules
from mnist_core.runs.permissions import COMMAND_LINE, Actor, NotPermitted
from mnist_core.runs.store import RunStore
from mnist_core.runs.teacher_access import DEFAULT_BACKOFF, Backoff

from conftest import PROJECT_DIR, TINY

KEY = "correct horse battery staple"
# The server's shape (5 free tries, the spacing doubling to a cap, a longest wait), in hundredths of its seconds.
QUICK = Backoff(free_tries=5, window_s=60.0, base_s=0.005, cap_s=0.04, max_wait_s=0.1)
ANN = Actor("s-ann", "Ann")
BEN = Actor("s-ben", "Ben")
TEACHER = Actor("s-teacher", "Ms Kim", is_teacher=True)


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


def attempts(store: RunStore) -> list[tuple[float, int]]:
    return store.connection().execute("SELECT at, succeeded FROM login_attempts ORDER BY rowid").fetchall()


def test_eight_wrong_keys_then_the_right_one_unlocks(store: RunStore) -> None:
    waits = []

    def timed_sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    for number in range(8):
        assert not teacher_access.try_key(store, f"guess {number}", KEY, backoff=QUICK, sleep=timed_sleep)
    assert waits[:5] == [0.0] * 5  # the first five wrong tries of a minute never wait
    started = time.monotonic()
    assert teacher_access.try_key(store, KEY, KEY, backoff=QUICK, sleep=timed_sleep)
    assert 0 < waits[-1] <= QUICK.max_wait_s and time.monotonic() - started < 1.0
    assert [succeeded for _, succeeded in attempts(store)] == [0] * 8 + [1]
    # The right key ends the back-off: the next try (the teacher again, after leaving) does not wait.
    assert teacher_access.reserve_try(store, backoff=QUICK).wait_s() == 0


def test_the_spacing_doubles_to_its_cap_and_no_try_waits_longer_than_the_bound(store: RunStore) -> None:
    # Eleven tries sent at the same instant (times given, not slept): each is checked at its own slot.
    slots = [teacher_access.reserve_try(store, now=1000.0).slot - 1000.0 for _ in range(11)]
    assert slots == [0, 0, 0, 0, 0, 0.5, 1.5, 3.5, 7.5, 10, 10]  # then 0.5, 1, 2, 4 s apart; never over 10 s
    assert max(slots) == DEFAULT_BACKOFF.max_wait_s
    # A guesser trying one key after another, each as soon as the last was told: one try per 4 s at most.
    later = [teacher_access.reserve_try(store, now=1011.0 + 4 * n) for n in range(3)]
    assert [round(t.slot - (1011.0 + 4 * n), 6) for n, t in enumerate(later)] == [3.0, 3.0, 3.0]
    assert [t.slot for t in later] == [1014.0, 1018.0, 1022.0]
    # A minute without tries: the wrong ones have left the window, nobody waits.
    assert teacher_access.reserve_try(store, now=1100.0).wait_s(now=1100.0) == 0
    assert teacher_access.expected_wait(store, now=1100.0) == 0
    teacher_access.reserve_try(store, now=1800.0)  # ten windows on, the old tries are deleted: the table stays small
    assert attempts(store) == [(1800.0, 0)]


def test_wrong_tries_from_other_clients_and_processes_share_one_backoff(store: RunStore) -> None:
    """The tries of another session are in the same database: another RunStore in a thread (another connection),
    and another server process, all slow the next try of this one."""
    other_connection = RunStore(store.root)
    thread = threading.Thread(target=lambda: [teacher_access.reserve_try(other_connection, now=50.0)
                                              for _ in range(2)])
    thread.start()
    thread.join()
    code = ("import sys; from mnist_core.runs.store import RunStore; from mnist_core.runs import teacher_access; "
            "s = RunStore(sys.argv[1]); [teacher_access.reserve_try(s, now=50.0) for _ in range(3)]")
    subprocess.run([sys.executable, "-c", code, str(store.root)], cwd=PROJECT_DIR, check=True, timeout=120)
    assert len(attempts(store)) == 5
    assert teacher_access.expected_wait(store, now=50.0) == DEFAULT_BACKOFF.base_s
    assert teacher_access.reserve_try(store, now=50.0).slot == 50.0 + DEFAULT_BACKOFF.base_s


def test_the_right_key_unlocks_within_the_bound_while_many_wrong_tries_arrive_at_once(store: RunStore) -> None:
    results: list[bool] = []

    def guess(number: int) -> None:
        results.append(teacher_access.try_key(RunStore(store.root), f"guess {number}", KEY, backoff=QUICK))

    guessers = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for thread in guessers:
        thread.start()
    started = time.monotonic()
    assert teacher_access.try_key(store, KEY, KEY, backoff=QUICK)
    assert time.monotonic() - started < QUICK.max_wait_s + 1.0  # the bound plus a busy machine's slack
    for thread in guessers:
        thread.join()
    assert results == [False] * 12


def test_a_session_id_works_until_it_expires(store: RunStore) -> None:
    session_id, expires = teacher_access.open_session(store, KEY, now=1000.0, ttl_s=3600.0)
    assert expires == 4600.0 and len(session_id) == 43  # secrets.token_urlsafe(32): 256 bits
    assert teacher_access.session_remaining(store, session_id, KEY, now=1000.0) == 3600.0
    assert teacher_access.session_remaining(store, session_id, KEY, now=4599.0) == 1.0
    assert teacher_access.session_remaining(store, session_id, KEY, now=4600.0) is None
    assert teacher_access.session_remaining(store, session_id, None, now=1000.0) is None  # teacher mode is off


def test_a_left_session_unlocks_nothing(store: RunStore) -> None:
    session_id, _ = teacher_access.open_session(store, KEY)
    other_id, _ = teacher_access.open_session(store, KEY)
    teacher_access.close_session(store, session_id)
    assert teacher_access.session_remaining(store, session_id, KEY) is None
    assert teacher_access.session_remaining(store, other_id, KEY) is not None  # only that session was left


def test_changing_the_key_ends_every_session(store: RunStore) -> None:
    session_id, _ = teacher_access.open_session(store, KEY)
    assert teacher_access.session_remaining(store, session_id, KEY) is not None
    assert teacher_access.session_remaining(store, session_id, KEY + " 2") is None
    assert teacher_access.key_fingerprint(KEY) != teacher_access.key_fingerprint(KEY + " 2")


def test_a_forged_id_or_the_stored_hash_unlocks_nothing(store: RunStore) -> None:
    session_id, _ = teacher_access.open_session(store, KEY)
    (stored,) = store.connection().execute("SELECT session_hash FROM teacher_sessions").fetchone()
    for forged in (secrets.token_urlsafe(32), stored, stored[:43], session_id[:-1] + "A" if session_id[-1] != "A"
                   else session_id[:-1] + "B", "", None, 12345, session_id + "'; alert(1); '"):
        assert teacher_access.session_remaining(store, forged, KEY) is None, forged
    assert teacher_access.session_remaining(store, session_id, KEY) is not None


def test_the_database_holds_no_session_id_and_no_key_in_clear(store: RunStore) -> None:
    session_id, _ = teacher_access.open_session(store, KEY)
    teacher_access.try_key(store, KEY, KEY)
    store.connection().execute("PRAGMA wal_checkpoint(FULL)")
    for path in store.root.glob("runs.sqlite3*"):
        content = path.read_bytes()
        assert session_id.encode() not in content and KEY.encode() not in content, path
    with sqlite3.connect(store.db_path) as conn:
        (row,) = conn.execute("SELECT * FROM teacher_sessions").fetchall()
    assert session_id not in map(str, row) and KEY not in map(str, row)


def test_a_student_cannot_delete_the_pinned_run_and_the_teacher_can(
        store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_PLAYGROUND_TEACHER_KEY", KEY)
    pinned, other = store.create_run(TINY, owner=BEN), store.create_run(TINY, owner=BEN)
    save_rules(store.root, ClassRules(reference_run_id=pinned), TEACHER)
    with pytest.raises(NotPermitted) as refused:
        store.delete(pinned, actor=BEN)  # its own owner
    assert (refused.value.action, refused.value.run_id) == ("delete the pinned reference", pinned)
    with pytest.raises(NotPermitted):
        store.delete(pinned, actor=ANN)
    assert store.get(pinned).id == pinned
    store.delete(other, actor=BEN)  # Ben's other runs stay his to delete
    store.delete(pinned, actor=TEACHER)
    assert store.list_runs() == []
    cli_pinned = store.create_run(TINY, owner=BEN)
    save_rules(store.root, ClassRules(reference_run_id=cli_pinned), TEACHER)
    store.delete(cli_pinned, actor=COMMAND_LINE)
    assert store.list_runs() == []


def test_without_teacher_mode_the_pin_does_not_hold(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MNIST_PLAYGROUND_TEACHER_KEY", raising=False)
    pinned = store.create_run(TINY, owner=BEN)
    save_rules(store.root, ClassRules(reference_run_id=pinned), TEACHER)  # a rule left from an earlier class
    store.delete(pinned, actor=BEN)
    assert store.list_runs() == []
