"""Identities against a real SQLite file: tokens resolve to their owner, withdrawn ones to nothing, rotation keeps the
runs' owner, a recovery code moves an identity to another browser (wrong ones are slowed down for everybody), and
the database never holds a token or a code in clear."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mnist_core.runs.identities import (
    CODE_ALPHABET,
    FREE_TRIES,
    MAX_WAIT_S,
    SEEN_EVERY_S,
    Identities,
    legacy_owner_id,
    new_code,
    parse_code,
)
from mnist_core.runs.permissions import Actor
from mnist_core.runs.store import RunStore

from conftest import TINY

OLD_BOOKMARK_TOKEN = "ann-secret-token-0123456789abcdefgh"  # a token from the days it lived in the URL


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


@pytest.fixture
def ids(store: RunStore) -> Identities:
    return Identities(store)


def rows(store: RunStore, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(store.db_path) as conn:  # a second, independent reader: what is really on disk
        return conn.execute(sql, params).fetchall()


def test_a_new_identity_resolves_to_its_owner_and_a_stranger_to_nothing(ids: Identities) -> None:
    token, owner = ids.create()
    assert owner == legacy_owner_id(token)  # runs keep recording "s-" + sha256(token)[:24]
    assert ids.resolve(token) == owner
    other, other_owner = ids.create()
    assert other != token and other_owner != owner and ids.resolve(other) == other_owner
    assert ids.resolve("x" * 32) is None  # well formed but never issued
    assert ids.resolve("not a token") is None
    assert ids.accept("not a token") is None


def test_last_seen_is_written_at_most_once_a_minute(store: RunStore, ids: Identities) -> None:
    token, owner = ids.create(now=1000.0)
    ids.resolve(token, now=1000.0 + SEEN_EVERY_S / 2)
    assert rows(store, "SELECT last_seen FROM identity_tokens") == [(1000.0,)]  # a read stays a read
    ids.resolve(token, now=1000.0 + SEEN_EVERY_S + 1)
    assert rows(store, "SELECT last_seen FROM identity_tokens") == [(1000.0 + SEEN_EVERY_S + 1,)]
    assert rows(store, "SELECT last_seen FROM identities WHERE owner_id = ?", owner) == [(1000.0 + SEEN_EVERY_S + 1,)]


def test_an_old_token_is_registered_under_the_owner_its_runs_have(store: RunStore, ids: Identities) -> None:
    owner = legacy_owner_id(OLD_BOOKMARK_TOKEN)
    run_id = store.create_run(TINY, owner=Actor(owner, "Ann"))
    assert not ids.known(OLD_BOOKMARK_TOKEN)
    assert ids.accept(OLD_BOOKMARK_TOKEN) == owner == store.get(run_id).owner_id
    assert ids.known(OLD_BOOKMARK_TOKEN) and ids.resolve(OLD_BOOKMARK_TOKEN) == owner
    assert ids.accept(OLD_BOOKMARK_TOKEN) == owner  # presented again: the same, not a second registration
    assert rows(store, "SELECT COUNT(*) FROM identity_tokens") == [(1,)]


def test_rotation_withdraws_every_token_and_keeps_the_owner(store: RunStore, ids: Identities) -> None:
    token, owner = ids.create()
    other_browser = ids.recover(ids.make_code(owner)).token  # the same student on a second computer
    assert ids.resolve(other_browser) == owner
    new_token, code = ids.rotate(owner)
    assert ids.resolve(new_token) == owner  # the runs follow: same owner_id
    assert ids.resolve(token) is None and ids.resolve(other_browser) is None
    # A withdrawn token presented again (a stale cookie, a leaked bookmark) is not registered anew as "legacy".
    assert ids.accept(token) is None and ids.accept(other_browser) is None
    assert rows(store, "SELECT COUNT(*) FROM identity_tokens WHERE revoked IS NULL") == [(1,)]
    assert ids.code_matches(owner, code) and ids.recover(code).owner_id == owner


def test_rotation_withdraws_an_old_bookmark_token_too(ids: Identities) -> None:
    owner = ids.accept(OLD_BOOKMARK_TOKEN)
    ids.rotate(owner)
    assert ids.resolve(OLD_BOOKMARK_TOKEN) is None and ids.accept(OLD_BOOKMARK_TOKEN) is None


def test_a_recovery_code_gives_another_browser_a_new_token_for_the_same_owner(ids: Identities) -> None:
    token, owner = ids.create()
    assert not ids.has_code(owner)
    code = ids.make_code(owner)
    assert ids.has_code(owner) and parse_code(code) == code
    assert len(code) == 14 and code[4] == code[9] == "-" and set(code.replace("-", "")) <= set(CODE_ALPHABET)
    typed = code.lower().replace("-", " ")  # as a student might type it
    moved = ids.recover(typed)
    assert moved.owner_id == owner and moved.token not in (None, token)
    assert ids.resolve(moved.token) == owner and ids.resolve(token) == owner  # both browsers are the student
    assert ids.code_matches(owner, code) and not ids.code_matches(owner, new_code())

    newer = ids.make_code(owner)  # a new code replaces the old one
    assert ids.recover(code).token is None and ids.recover(newer).owner_id == owner


def test_wrong_codes_are_slowed_down_for_everybody(store: RunStore, ids: Identities) -> None:
    _, owner = ids.create()
    code = ids.make_code(owner)
    now = 10_000.0
    assert ids.recover("ABCD", now=now).malformed  # not a guess: not counted
    for attempt in range(FREE_TRIES):
        result = ids.recover(new_code(), now=now + attempt)
        assert result.token is None and not result.wait_s and not result.malformed
    last = now + FREE_TRIES - 1
    refused = ids.recover(code, now=last + 0.5)  # even the right code waits now
    assert refused.token is None and refused.wait_s == pytest.approx(1.5)
    assert ids.recover(code, now=last + 2.5).owner_id == owner
    # A guesser who tries again the moment it is allowed: each wrong code doubles the wait, up to MAX_WAIT_S.
    waits, clock = [], last + 2.5
    for _ in range(12):
        waits.append(ids.wait_s(now=clock))
        clock += waits[-1]
        assert ids.recover(new_code(), now=clock).token is None
    assert waits[:5] == [0, 4, 8, 16, 32] and waits[-1] == MAX_WAIT_S and waits == sorted(waits)
    assert ids.recover(code, now=clock + 1).wait_s == MAX_WAIT_S - 1  # everybody waits, the rightful owner too
    recorded = rows(store, "SELECT target, succeeded FROM login_attempts ORDER BY at")
    assert {target for target, _ in recorded} == {"recovery"} and (1,) in [(s,) for _, s in recorded]


def test_the_name_is_kept_in_the_table_and_shown_on_the_runs(store: RunStore, ids: Identities) -> None:
    token, owner = ids.create()
    run_id = store.create_run(TINY, owner=Actor(owner, "Student 1234"))
    assert ids.name(owner) == ""
    ids.set_name(owner, "Ann Lee")
    assert ids.name(owner) == "Ann Lee" and store.get(run_id).owner_name == "Ann Lee"
    ids.set_name(owner, "", shown="Student 1234")
    assert ids.name(owner) == "" and store.get(run_id).owner_name == "Student 1234"


def test_the_database_holds_no_token_and_no_code_in_clear(store: RunStore, ids: Identities) -> None:
    token, owner = ids.create()
    legacy = ids.accept(OLD_BOOKMARK_TOKEN)
    code = ids.make_code(owner)
    moved = ids.recover(code).token
    rotated, new_code_ = ids.rotate(legacy)
    secrets_ = [token, OLD_BOOKMARK_TOKEN, code, code.replace("-", ""), moved, rotated, new_code_,
                new_code_.replace("-", "")]
    with sqlite3.connect(store.db_path) as conn:
        dump = "\n".join(conn.iterdump())
    files = b"".join(p.read_bytes() for p in store.root.glob("runs.sqlite3*"))  # the database, its WAL too
    for secret in secrets_:
        assert secret not in dump and secret.encode() not in files, secret
    assert owner in dump  # the public id is there, as runs record it
