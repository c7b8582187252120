"""Who may enter teacher mode: a back-off on guessing the teacher key, and the server-side teacher sessions a
browser's cookie points to. Both live in the runs database, so every session and every server process shares them.

The back-off is per teacher key, not per client: behind a same-host proxy, or on 127.0.0.1, the whole class is
one address, and a limit per address let one student's wrong tries refuse the teacher. Here no try is ever
refused: each try waits for its slot and is then checked, so the right key always unlocks, after at most
`Backoff.max_wait_s`. The first `free_tries` wrong tries of a minute have no wait; then the slots are spaced
0.5, 1, 2, then 4 s apart (the cap). A guesser trying one key after another gets at most one try per 4 s (21,600 a
day). Tries sent at once from N sessions queue up, but no try waits over 10 s (or the teacher's could be made to
wait without end), so N sessions get about N tries per 10 s: only a key that a person can type but not guess (a
few words, a dozen characters) keeps teacher mode safe against such a flood.

A session is a random id (`secrets.token_urlsafe(32)`, 256 bits) in the teacher's cookie; the database keeps only
its SHA-256 hash, its expiry, whether it was left (`revoked`) and a fingerprint of the key it was opened under
(a slow PBKDF2 of a fixed label under the key), so changing the key ends every session. The cookie carries
nothing derived from the key: a captured one cannot be used to guess the key offline.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the annotations: importing the store would import torch, which this module never needs
    from mnist_core.runs.store import RunStore

TEACHER_TARGET = "teacher"  # login_attempts.target: the one key this server has
SESSION_TTL_S = 12 * 3600.0  # a school day: a teacher's computer left on does not stay unlocked for weeks
ENDED_SESSIONS_KEPT_S = 24 * 3600.0  # an expired session changes nothing: its row goes a day later
# Tries older than a few windows change no wait (the cap is far below a window): deleted, so the table stays
# small even under a flood of guesses, and each try's queries stay quick.
WINDOWS_KEPT = 10
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")  # what secrets.token_urlsafe(32) gives
_FINGERPRINT_LABEL = b"mnist-playground teacher session key fingerprint v1"
# Slow on purpose: the fingerprint is in the database, and a copied database file must not make guessing the key
# cheap. Computed once per process and key (cached below), so checking a session stays one indexed query.
_FINGERPRINT_ROUNDS = 200_000


@dataclass(frozen=True)
class Backoff:
    """How tries at the key are spaced (seconds). Tests pass short ones; the server uses DEFAULT_BACKOFF."""

    free_tries: int = 5  # wrong tries per window that never wait
    window_s: float = 60.0
    base_s: float = 0.5  # the spacing after the free tries, doubling per further wrong try...
    cap_s: float = 4.0  # ...up to this
    max_wait_s: float = 10.0  # no try ever waits longer, however many arrive at once

    def spacing(self, wrong: int) -> float:
        """The gap before the next slot, after `wrong` wrong tries in the window (0 while some are free)."""
        if wrong < self.free_tries:
            return 0.0
        return min(self.base_s * 2.0 ** min(wrong - self.free_tries, 30), self.cap_s)


DEFAULT_BACKOFF = Backoff()


@dataclass(frozen=True)
class KeyTry:
    """A try at the key, reserved: it may be checked at `slot` (time.time() seconds); `row` is its record."""

    row: int
    slot: float

    def wait_s(self, now: float | None = None) -> float:
        return max(0.0, self.slot - (time.time() if now is None else now))


def _next_slot(conn: sqlite3.Connection, target: str, now: float, backoff: Backoff) -> float:
    """When a try made `now` may be checked: after the last reserved slot plus the spacing that the wrong tries
    of the window (since the last right one) call for, but never more than max_wait_s from now."""
    (last_right,) = conn.execute("SELECT MAX(at) FROM login_attempts WHERE target = ? AND succeeded = 1",
                                 (target,)).fetchone()
    since = max(now - backoff.window_s, last_right if last_right is not None else float("-inf"))
    wrong, last_slot = conn.execute(
        "SELECT COUNT(*), (SELECT MAX(at) FROM login_attempts WHERE target = ?) FROM login_attempts "
        "WHERE target = ? AND succeeded = 0 AND at > ?", (target, target, since)).fetchone()
    spacing = backoff.spacing(wrong)
    if not spacing or last_slot is None:
        return now
    return min(max(now, last_slot + spacing), now + backoff.max_wait_s)


def reserve_try(store: RunStore, target: str = TEACHER_TARGET, now: float | None = None,
                backoff: Backoff = DEFAULT_BACKOFF) -> KeyTry:
    """Take the next slot for a try at the key (recorded as wrong until `record_right` says otherwise). In one
    write transaction, so tries from every session and process queue one after another."""
    now = time.time() if now is None else now
    with store.write_transaction() as conn:
        conn.execute("DELETE FROM login_attempts WHERE target = ? AND at < ?",
                     (target, now - WINDOWS_KEPT * backoff.window_s))
        slot = _next_slot(conn, target, now, backoff)
        row = conn.execute("INSERT INTO login_attempts (target, at, succeeded) VALUES (?, ?, 0)",
                           (target, slot)).lastrowid
    return KeyTry(row, slot)


def expected_wait(store: RunStore, target: str = TEACHER_TARGET, now: float | None = None,
                  backoff: Backoff = DEFAULT_BACKOFF) -> float:
    """How long a try made now would wait for its slot (nothing is reserved): the panel tells the teacher."""
    now = time.time() if now is None else now
    return max(0.0, _next_slot(store.connection(), target, now, backoff) - now)


def record_right(store: RunStore, key_try: KeyTry) -> None:
    """The try had the right key: it does not count as wrong, and the wrong tries before it stop slowing anyone."""
    with store.write_transaction() as conn:
        conn.execute("UPDATE login_attempts SET succeeded = 1 WHERE rowid = ?", (key_try.row,))


def key_matches(typed: str, key: str) -> bool:
    """Constant time (hmac.compare_digest): how long the comparison takes says nothing about the key."""
    return hmac.compare_digest(typed.encode(), key.encode())


def try_key(store: RunStore, typed: str, key: str, *, target: str = TEACHER_TARGET,
            backoff: Backoff = DEFAULT_BACKOFF, sleep: Callable[[float], None] = time.sleep) -> bool:
    """One whole try: wait for its slot, then check it. Never refused: the right key is True after the wait."""
    key_try = reserve_try(store, target, backoff=backoff)
    sleep(key_try.wait_s())
    right = key_matches(typed, key)
    if right:
        record_right(store, key_try)
    return right


# -- sessions -----------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def key_fingerprint(key: str) -> str:
    """Stands for the key in each session's row: equal for the same key, different once it changes."""
    return hashlib.pbkdf2_hmac("sha256", key.encode(), _FINGERPRINT_LABEL, _FINGERPRINT_ROUNDS).hex()


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(store: RunStore, key: str, now: float | None = None,
                 ttl_s: float = SESSION_TTL_S) -> tuple[str, float]:
    """A new teacher session, opened after the right key: (its id, for the cookie only; when it expires)."""
    now = time.time() if now is None else now
    session_id = secrets.token_urlsafe(32)
    with store.write_transaction() as conn:
        conn.execute("DELETE FROM teacher_sessions WHERE expires < ?", (now - ENDED_SESSIONS_KEPT_S,))
        conn.execute("INSERT INTO teacher_sessions (session_hash, key_fingerprint, created, expires, revoked) "
                     "VALUES (?, ?, ?, ?, NULL)", (_session_hash(session_id), key_fingerprint(key), now, now + ttl_s))
    return session_id, now + ttl_s


def session_remaining(store: RunStore, session_id: object, key: str | None, now: float | None = None) -> float | None:
    """Seconds the session has left; None when it is not a valid one: unknown (forged, or the stored hash
    presented as an id), expired, left, opened under another key, or no teacher key at all."""
    if key is None or not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
        return None
    row = store.connection().execute(
        "SELECT key_fingerprint, expires FROM teacher_sessions WHERE session_hash = ? AND revoked IS NULL",
        (_session_hash(session_id),)).fetchone()
    now = time.time() if now is None else now
    if row is None or row[1] <= now or not hmac.compare_digest(row[0], key_fingerprint(key)):
        return None
    return row[1] - now


def close_session(store: RunStore, session_id: object, now: float | None = None) -> None:
    """Leave teacher mode: the session is revoked, so its id, if kept or copied anywhere, unlocks nothing."""
    if isinstance(session_id, str) and _SESSION_ID.fullmatch(session_id):
        with store.write_transaction() as conn:
            conn.execute("UPDATE teacher_sessions SET revoked = ? WHERE session_hash = ? AND revoked IS NULL",
                         (time.time() if now is None else now, _session_hash(session_id)))
