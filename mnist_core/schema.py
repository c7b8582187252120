"""The runs database's schema: its tables, its version, and the in-place upgrades of older databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mnist_core.actors import add_owner_columns
from mnist_core.continuation import add_continuation_columns
from mnist_core.failures import add_failure_column

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
    add_owner_columns(conn)  # an older database of the same schema gains them in place
    add_continuation_columns(conn)
    add_failure_column(conn)
