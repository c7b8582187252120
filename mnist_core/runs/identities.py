"""Who is who on a shared server, kept in the runs database instead of in URLs: browser tokens, recovery codes, names.

A browser proves who it is with a random token (192 bits) it keeps in a cookie. The database holds only each
token's SHA-256, so a copied database file hands out no identity. An identity's public id, `owner_id`, is what runs
record; it is `"s-" + sha256(first token)[:24]`, as it was when the token lived in the URL, so runs started before
this table existed keep their owners, and a token from an old bookmark or cookie is registered on first sight
("legacy") under the same id. Later tokens of the same identity (another computer, a rotation) are new random
tokens pointing at the same owner_id: the id no longer follows from the token, only from this table.

A recovery code (12 characters of an alphabet without look-alikes, shown as XXXX-XXXX-XXXX) gives another browser
a new token for the same identity. It has 60 bits, few enough that a plain hash could be reversed by trying every
code against a copied database, so it is stored as a slow hash (PBKDF2); one fixed salt, because a typed code must
be found without knowing whose it is. Wrong codes are slowed down for everybody at once (a global back-off over the
table `login_attempts`): per browser or per address would let one person guess from many; the price is that a
guesser makes every student wait up to MAX_WAIT_S, never longer.

Rotation ("my identity may have leaked") withdraws every token of the identity, issues one new token for the
browser that asked, and a new recovery code; owner_id stays, so the runs stay. No torch and no streamlit here.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the store imports torch; this module needs only its database
    from mnist_core.runs.store import RunStore

TOKEN_BYTES = 24  # 192 bits: not guessable, 32 URL-safe characters
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32,64}")
SEEN_EVERY_S = 60.0  # last_seen is written at most this often, so resolving a token stays one read
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # 32 symbols: no 0/O, no 1/I to mistype
CODE_LENGTH = 12  # 60 bits
_CODE_SALT = b"mnist-playground recovery code"
_CODE_ROUNDS = 100_000  # ~35 ms a code: nothing for a student, ruinous for trying 2**60 codes
RECOVERY = "recovery"  # login_attempts.target of recovery codes
FREE_TRIES = 5  # wrong codes in BACKOFF_WINDOW_S before each further try must wait
BACKOFF_WINDOW_S = 600.0
MAX_WAIT_S = 60.0


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def well_formed(token: object) -> bool:
    """Whether `token` looks like a token (a cookie's or an old `?me=`); says nothing of whether it is known."""
    return isinstance(token, str) and TOKEN_PATTERN.fullmatch(token) is not None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def legacy_owner_id(token: str) -> str:
    """The owner_id a token's own identity gets: its first token's hash, as runs have always recorded it."""
    return "s-" + token_hash(token)[:24]


def new_code() -> str:
    return "-".join("".join(secrets.choice(CODE_ALPHABET) for _ in range(4)) for _ in range(CODE_LENGTH // 4))


def parse_code(text: str) -> str | None:
    """A typed code as issued (XXXX-XXXX-XXXX, upper case), whatever its spaces, dashes and case; None when it
    cannot be one."""
    plain = re.sub(r"[\s-]+", "", str(text)).upper()
    if len(plain) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in plain):
        return None
    return "-".join(plain[i:i + 4] for i in range(0, CODE_LENGTH, 4))


def code_hash(code: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", code.encode(), _CODE_SALT, _CODE_ROUNDS).hex()


@dataclass(frozen=True)
class Recovery:
    """What a typed recovery code gave: a new token for `owner_id`, or why not (`malformed`, `wait_s` > 0 while
    wrong codes are being slowed down, else simply a wrong code)."""

    token: str | None = None
    owner_id: str | None = None
    wait_s: float = 0.0
    malformed: bool = False


class Identities:
    """The identities and identity_tokens tables of one RunStore's database."""

    def __init__(self, store: RunStore) -> None:
        self.store = store

    # -- tokens ------------------------------------------------------------------------------------
    def create(self, now: float | None = None) -> tuple[str, str]:
        """A new identity with one token: (token, owner_id)."""
        now = time.time() if now is None else now
        token = new_token()
        owner_id = legacy_owner_id(token)
        with self.store.write_transaction() as conn:
            conn.execute("INSERT INTO identities (owner_id, created, last_seen) VALUES (?, ?, ?)", (owner_id, now, now))
            _insert_token(conn, token, owner_id, now)
        return token, owner_id

    def resolve(self, token: str, now: float | None = None) -> str | None:
        """The owner_id of a live token; None when it is unknown or withdrawn (or its identity is)."""
        if not well_formed(token):
            return None
        row = self.store.connection().execute(
            "SELECT t.owner_id, t.revoked, t.last_seen, i.revoked FROM identity_tokens t "
            "JOIN identities i ON i.owner_id = t.owner_id WHERE t.token_hash = ?", (token_hash(token),)).fetchone()
        if row is None or row[1] is not None or row[3] is not None:
            return None
        now = time.time() if now is None else now
        if row[2] is None or now - row[2] >= SEEN_EVERY_S:
            with self.store.write_transaction() as conn:
                conn.execute("UPDATE identity_tokens SET last_seen = ? WHERE token_hash = ?", (now, token_hash(token)))
                conn.execute("UPDATE identities SET last_seen = ? WHERE owner_id = ?", (now, row[0]))
        return row[0]

    def known(self, token: str) -> bool:
        """Whether the table has this token at all (live or withdrawn)."""
        return self.store.connection().execute(
            "SELECT 1 FROM identity_tokens WHERE token_hash = ?", (token_hash(token),)).fetchone() is not None

    def accept(self, token: str, now: float | None = None) -> str | None:
        """The owner_id of a token a browser presents: a live one resolves; a well-formed one the table has never
        seen is a token from before this table (an old bookmark or cookie) and is registered under its own
        owner_id; a withdrawn or malformed one gives None."""
        if not well_formed(token):
            return None
        owner_id = self.resolve(token, now)
        if owner_id is not None:
            return owner_id
        now = time.time() if now is None else now
        owner_id = legacy_owner_id(token)
        with self.store.write_transaction() as conn:
            if conn.execute("SELECT 1 FROM identity_tokens WHERE token_hash = ?", (token_hash(token),)).fetchone():
                return None  # withdrawn: never brought back to life by being presented again
            conn.execute("INSERT OR IGNORE INTO identities (owner_id, created, last_seen) VALUES (?, ?, ?)",
                         (owner_id, now, now))
            if conn.execute("SELECT revoked FROM identities WHERE owner_id = ?", (owner_id,)).fetchone()[0]:
                return None
            _insert_token(conn, token, owner_id, now)
        return owner_id

    def rotate(self, owner_id: str, now: float | None = None) -> tuple[str, str]:
        """Withdraw every token of `owner_id` and issue one new token and a new recovery code: (token, code).
        The owner_id, and so every run, stays."""
        now = time.time() if now is None else now
        token, code = new_token(), new_code()
        digest = code_hash(code)  # slow: computed before the write lock is taken
        with self.store.write_transaction() as conn:
            conn.execute("UPDATE identity_tokens SET revoked = ? WHERE owner_id = ? AND revoked IS NULL",
                         (now, owner_id))
            conn.execute("UPDATE identities SET recovery_hash = ? WHERE owner_id = ?", (digest, owner_id))
            _insert_token(conn, token, owner_id, now)
        return token, code

    # -- recovery codes ----------------------------------------------------------------------------
    def make_code(self, owner_id: str) -> str:
        """A new recovery code for `owner_id` (the previous one stops working)."""
        code = new_code()
        digest = code_hash(code)
        with self.store.write_transaction() as conn:
            conn.execute("UPDATE identities SET recovery_hash = ? WHERE owner_id = ?", (digest, owner_id))
        return code

    def has_code(self, owner_id: str) -> bool:
        return self.store.connection().execute(
            "SELECT recovery_hash IS NOT NULL FROM identities WHERE owner_id = ?", (owner_id,)).fetchone() == (1,)

    def code_matches(self, owner_id: str, code: str) -> bool:
        """Whether `code` is the current recovery code of `owner_id` (e.g. the one a browser remembers)."""
        parsed = parse_code(code)
        return parsed is not None and self.store.connection().execute(
            "SELECT 1 FROM identities WHERE owner_id = ? AND recovery_hash = ?",
            (owner_id, code_hash(parsed))).fetchone() is not None

    def recover(self, typed: str, now: float | None = None) -> Recovery:
        """A new token for the identity whose recovery code was typed. Every wrong code counts against everyone's
        next tries (see the module's docstring); a malformed one is not a guess and does not count."""
        code = parse_code(typed)
        if code is None:
            return Recovery(malformed=True)
        now = time.time() if now is None else now
        wait = self.wait_s(now)
        if wait:
            return Recovery(wait_s=wait)  # refused before hashing: a guesser cannot make the server work
        digest = code_hash(code)
        with self.store.write_transaction() as conn:
            wait = _wait_s(conn, now)  # again under the lock: tries racing in parallel are counted one by one
            if wait:
                return Recovery(wait_s=wait)
            row = conn.execute("SELECT owner_id FROM identities WHERE recovery_hash = ? AND revoked IS NULL",
                               (digest,)).fetchone()
            conn.execute("DELETE FROM login_attempts WHERE target = ? AND at < ?", (RECOVERY, now - BACKOFF_WINDOW_S))
            conn.execute("INSERT INTO login_attempts (target, at, succeeded) VALUES (?, ?, ?)",
                         (RECOVERY, now, row is not None))
            if row is None:
                return Recovery()
            token = new_token()
            _insert_token(conn, token, row[0], now)
        return Recovery(token=token, owner_id=row[0])

    def wait_s(self, now: float | None = None) -> float:
        """Seconds until the next recovery code may be tried (0 when one may be tried now)."""
        return _wait_s(self.store.connection(), time.time() if now is None else now)

    # -- names -------------------------------------------------------------------------------------
    def name(self, owner_id: str) -> str:
        """The name the student typed ("" when none)."""
        row = self.store.connection().execute("SELECT name FROM identities WHERE owner_id = ?", (owner_id,)).fetchone()
        return (row[0] or "") if row else ""

    def set_name(self, owner_id: str, name: str, shown: str | None = None) -> None:
        """Keep the typed `name` ("" for none) and show `shown` (default: the name) beside the student's runs."""
        with self.store.write_transaction() as conn:
            conn.execute("UPDATE identities SET name = ? WHERE owner_id = ?", (name or None, owner_id))
        if shown or name:
            self.store.set_owner_name(owner_id, shown or name)


def _insert_token(conn, token: str, owner_id: str, now: float) -> None:
    conn.execute("INSERT INTO identity_tokens (token_hash, owner_id, created, last_seen) VALUES (?, ?, ?, ?)",
                 (token_hash(token), owner_id, now, now))


def _wait_s(conn, now: float) -> float:
    """The global back-off: FREE_TRIES wrong codes within BACKOFF_WINDOW_S are free; each further one doubles the
    wait after the latest (2, 4, 8 ... seconds), up to MAX_WAIT_S."""
    failures, latest = conn.execute(
        "SELECT COUNT(*), MAX(at) FROM login_attempts WHERE target = ? AND succeeded = 0 AND at > ?",
        (RECOVERY, now - BACKOFF_WINDOW_S)).fetchone()
    if failures < FREE_TRIES:
        return 0.0
    wait = min(MAX_WAIT_S, 2.0 ** (failures - FREE_TRIES + 1))
    return max(0.0, latest + wait - now)
