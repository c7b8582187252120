"""The runs database's schema: its tables, its version, and the in-place upgrades of older databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA_VERSION = 1

# losses/epochs are keyed by (run_id, n): the primary key is the index every chart query uses.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL, config TEXT NOT NULL, status TEXT NOT NULL,
    error TEXT, device TEXT, duration_s REAL, test_loss REAL, test_accuracy REAL, progress TEXT, group_id TEXT,
    owner_pid INTEGER, owner_host TEXT, owner_start TEXT, started REAL, finished REAL, test_predictions BLOB);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
CREATE TABLE IF NOT EXISTS losses (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, iteration INTEGER NOT NULL, loss REAL,
    PRIMARY KEY (run_id, iteration)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, epoch INTEGER NOT NULL, train_loss REAL,
    train_accuracy REAL, val_loss REAL, val_accuracy REAL, seconds REAL, PRIMARY KEY (run_id, epoch)) WITHOUT ROWID;
"""


# Columns added after schema 1, each created when missing: an older database gains them on open (its old runs keep
# NULL there), and an older app, which names the columns it reads, keeps working with the new database.
ADDED_COLUMNS = {
    "owner_id": "TEXT",  # who started the run (runs.permissions): a hash, never the student's secret
    "owner_name": "TEXT",
    "parent_id": "INTEGER",  # the run this one continues training (runs.continuation), NULL for a fresh run
    "test_confidences": "BLOB",  # uint8 [10000]: each test prediction's softmax probability, in 1/255 steps
    "error_facts": "TEXT",  # a failure's kind and facts as JSON (runs.failures); `error` holds its English line
    "weights_bytes": "INTEGER",  # the weights file's size, counted against its owner's disk quota
    # The training queue (runs.queue): a run's job kind, whose turn it takes, the dispatcher that claimed it, a stop
    # asked for while a dispatcher holds it.
    "task": "TEXT",  # plain JSON (backends.tasks), NULL for a plain run
    "turn_owner": "TEXT",  # the owner_id whose fair turns it takes; NULL for the teacher's and the command line's
    "claimed_by": "TEXT",
    "stop_requested": "REAL",
}


# Who is who on a shared server, kept server-side so no secret needs to live in a URL (created when missing, so an
# older database gains them in place). Only hashes of secrets are stored: a copied database file hands out no
# identity and no teacher pass.
_CLASSROOM_TABLES = """
CREATE TABLE IF NOT EXISTS identities (
    owner_id TEXT PRIMARY KEY, name TEXT, created REAL NOT NULL, last_seen REAL, revoked REAL,
    recovery_hash TEXT UNIQUE);
CREATE TABLE IF NOT EXISTS identity_tokens (
    token_hash TEXT PRIMARY KEY, owner_id TEXT NOT NULL REFERENCES identities(owner_id) ON DELETE CASCADE,
    created REAL NOT NULL, last_seen REAL, revoked REAL);
CREATE INDEX IF NOT EXISTS identity_tokens_owner ON identity_tokens(owner_id);
CREATE TABLE IF NOT EXISTS teacher_sessions (
    session_hash TEXT PRIMARY KEY, key_fingerprint TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL,
    revoked REAL);
CREATE TABLE IF NOT EXISTS login_attempts (
    target TEXT NOT NULL, at REAL NOT NULL, succeeded INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS login_attempts_target ON login_attempts(target, at);
"""


class StoreError(RuntimeError):
    """The database cannot be used (e.g. written by a newer version of the app)."""


def upgrade_schema(conn: sqlite3.Connection, db_path: Path) -> None:
    """Create the tables of a new database, or bring an older one up to date, inside the caller's write
    transaction. StoreError for a database written by a newer version of the app."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{db_path} was written by a newer version of the app "
            f"(schema {version}, this version reads up to {SCHEMA_VERSION})"
        )
    if version < SCHEMA_VERSION:
        # One statement at a time: executescript() would COMMIT the caller's transaction first.
        for statement in filter(str.strip, _SCHEMA.split(";")):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    _add_missing_columns(conn)
    _add_run_id_counter(conn)
    for statement in filter(str.strip, _CLASSROOM_TABLES.split(";")):
        conn.execute(statement)


def _add_run_id_counter(conn: sqlite3.Connection) -> None:
    """The highest run id ever given, so a deleted run's id is never given again (a pinned reference run or a
    share link must never come to mean another student's new run). An older database starts from its highest
    id now: ids deleted above it before this upgrade cannot be known."""
    conn.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    conn.execute("INSERT OR IGNORE INTO counters VALUES ('run_id', (SELECT COALESCE(MAX(id), 0) FROM runs))")


def next_run_id(conn: sqlite3.Connection) -> int:
    """A new run's id, inside the caller's write transaction: one more than any id this database ever gave."""
    (last,) = conn.execute("SELECT MAX((SELECT value FROM counters WHERE name = 'run_id'), "
                           "(SELECT COALESCE(MAX(id), 0) FROM runs))").fetchone()
    conn.execute("UPDATE counters SET value = ? WHERE name = 'run_id'", (last + 1,))
    return last + 1


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    present = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    for column, kind in ADDED_COLUMNS.items():
        if column not in present:
            conn.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
