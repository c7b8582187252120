"""The class set's samples in the run store's database: each a 28x28 preprocessed image (what a model reads), the
raw stroke image it came from (PNG), its true label, who drew it (owner id, never a name) and when.

A student adds, sees and deletes their own samples; the teacher (and the command line) may delete any and freeze
collection. Names are looked up in the identities table when shown, so a sample of an identity that was revoked
or removed is shown as anonymous: the sample keeps only the hash.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from mnist_core.preprocess import SIZE
from mnist_core.runs.permissions import Actor
from mnist_core.runs.store import RunStore

MAX_SAMPLES_PER_STUDENT = 500
MAX_RAW_BYTES = 256 * 1024  # one stroke image as PNG: a 280x280 canvas is a few KB
MAX_IMPORT_SAMPLES = 70_000  # as many as MNIST itself
IMPORTED_OWNER = "imported"  # samples read from IDX files (last year's class): nobody's, shown as anonymous
DIGITS = 10
IMAGE_BYTES = SIZE * SIZE

_TABLES = """
CREATE TABLE IF NOT EXISTS class_samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT, owner_id TEXT NOT NULL, label INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    image BLOB NOT NULL, raw_png BLOB, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS class_samples_owner ON class_samples(owner_id);
CREATE TABLE IF NOT EXISTS class_set_state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS class_finetunes (
    run_id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL, held_out_owner TEXT NOT NULL, train_samples INTEGER
    NOT NULL, created REAL NOT NULL);
"""
# Columns a fine-tune's row gained when fine-tuning moved into the worker processes (added in place to a database
# from before): the newest sample id when it was asked for, the held-out student's score before (written by the
# page that asked) and after (written by the worker that trained it), each with how many drawings it was measured on.
_FINETUNE_COLUMNS = {"upto_sample": "INTEGER", "before_accuracy": "REAL", "before_count": "INTEGER",
                     "after_accuracy": "REAL", "after_count": "INTEGER"}


class ClassSetRefused(ValueError):
    """A sample (or a change to the set) that is refused; nothing was changed. `reason` is one of: "empty",
    "label", "frozen", "quota", "too_large", "not_yours", "not_found", "not_teacher"; `facts` the numbers for
    the message."""

    def __init__(self, reason: str, message: str, **facts: object) -> None:
        super().__init__(message)
        self.reason, self.facts = reason, facts


@dataclass(frozen=True)
class Sample:
    id: int
    owner_id: str
    label: int
    image: np.ndarray  # uint8 [28, 28]
    created: float


@dataclass(frozen=True)
class OwnerCount:
    owner_id: str
    name: str | None  # "": a live identity without a typed name; None: anonymous (an identity that was revoked or
    # removed, or an imported sample)
    count: int


@dataclass(frozen=True)
class FineTuneRow:
    """A run fine-tuned on the class set with one student's drawings held out (mnist_core.class_set.fine_tune)."""

    run_id: int
    parent_id: int
    held_out_owner: str
    train_samples: int  # the others' drawings it trains on
    upto: int | None = None  # the newest sample id when it was asked for: it trains and is tested on the set then
    before_accuracy: float | None = None  # the parent on the held-out drawings, when it was asked for
    before_count: int | None = None
    after_accuracy: float | None = None  # the new run on them, once it has trained (None: not yet, or it failed)
    after_count: int | None = None


_FINETUNE_FIELDS = ("run_id, parent_id, held_out_owner, train_samples, upto_sample, before_accuracy, before_count, "
                    "after_accuracy, after_count")


_READY: weakref.WeakSet[RunStore] = weakref.WeakSet()  # stores whose database has the class set's tables


class ClassSet:
    """The class set of one RunStore's database (its tables are created on first use)."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        if store in _READY:  # a page builds one per rerun: no write transaction each time
            return
        with store.write_transaction() as conn:
            for statement in filter(str.strip, _TABLES.split(";")):
                conn.execute(statement)
            have = {row[1] for row in conn.execute("PRAGMA table_info(class_finetunes)")}
            for column, kind in _FINETUNE_COLUMNS.items():
                if column not in have:
                    conn.execute(f"ALTER TABLE class_finetunes ADD COLUMN {column} {kind}")
        _READY.add(store)

    # -- collecting --------------------------------------------------------------------------------
    def add(self, actor: Actor, label: object, image: np.ndarray | None, raw_png: bytes | None = None,
            now: float | None = None) -> int:
        """Store one drawing with its true label; ClassSetRefused (nothing stored) for an empty drawing, a label
        that is not a digit, a frozen set, a student at their quota or a stroke image too large."""
        if not isinstance(label, int | np.integer) or isinstance(label, bool) or not 0 <= int(label) < DIGITS:
            raise ClassSetRefused("label", f"the label must be a digit 0-9, not {label!r}")
        if image is None or np.asarray(image).shape != (SIZE, SIZE) or not np.asarray(image).any():
            raise ClassSetRefused("empty", "nothing is drawn: an empty drawing cannot be added")
        if raw_png is not None and len(raw_png) > MAX_RAW_BYTES:
            raise ClassSetRefused("too_large", f"the stroke image is {len(raw_png):,} bytes, more than "
                                  f"{MAX_RAW_BYTES:,}", size=len(raw_png), limit=MAX_RAW_BYTES)
        pixels = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
        with self.store.write_transaction() as conn:
            if _frozen(conn):
                raise ClassSetRefused("frozen", "the teacher has frozen the class set: no samples can be added")
            (mine,) = conn.execute("SELECT COUNT(*) FROM class_samples WHERE owner_id = ?",
                                   (actor.owner_id,)).fetchone()
            if mine >= MAX_SAMPLES_PER_STUDENT and not actor.is_operator:
                raise ClassSetRefused("quota", f"{actor.name} already has {mine} samples, the most one student may "
                                      f"add ({MAX_SAMPLES_PER_STUDENT})", count=mine, limit=MAX_SAMPLES_PER_STUDENT)
            cur = conn.execute("INSERT INTO class_samples (owner_id, label, image, raw_png, created) "
                               "VALUES (?, ?, ?, ?, ?)", (actor.owner_id, int(label), pixels, raw_png,
                                                          time.time() if now is None else now))
            return int(cur.lastrowid)

    def delete(self, actor: Actor, sample_id: int) -> None:
        """Delete one sample: a student only their own, the teacher and the command line any."""
        with self.store.write_transaction() as conn:
            row = conn.execute("SELECT owner_id FROM class_samples WHERE id = ?", (sample_id,)).fetchone()
            if row is None:
                raise ClassSetRefused("not_found", f"sample {sample_id} does not exist (it may have been deleted)")
            if row[0] != actor.owner_id and not actor.may_change_any:
                raise ClassSetRefused("not_yours", f"{actor.name} may not delete sample {sample_id}: only the "
                                      "student who drew it or the teacher may")
            conn.execute("DELETE FROM class_samples WHERE id = ?", (sample_id,))

    def set_frozen(self, actor: Actor, frozen: bool) -> None:
        if not actor.may_change_any:
            raise ClassSetRefused("not_teacher", "only the teacher can freeze or open collection")
        with self.store.write_transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO class_set_state VALUES ('frozen', ?)", ("1" if frozen else "0",))

    def frozen(self) -> bool:
        return _frozen(self.store.connection())

    # -- reading -----------------------------------------------------------------------------------
    def count(self, owner_id: str | None = None) -> int:
        sql, params = _where(owner_id)
        return int(self.store.connection().execute(f"SELECT COUNT(*) FROM class_samples{sql}", params).fetchone()[0])

    def per_digit(self, owner_id: str | None = None) -> list[int]:
        """How many samples of each digit 0-9."""
        sql, params = _where(owner_id)
        counts = [0] * DIGITS
        for label, n in self.store.connection().execute(
                f"SELECT label, COUNT(*) FROM class_samples{sql} GROUP BY label", params):
            counts[label] = n
        return counts

    def per_owner(self) -> list[OwnerCount]:
        """Samples per student, most first; names of live identities only (the rest are anonymous)."""
        rows = self.store.connection().execute(
            "SELECT s.owner_id, CASE WHEN i.owner_id IS NOT NULL AND i.revoked IS NULL THEN COALESCE(i.name, '') END, "
            "COUNT(*) FROM class_samples s "
            "LEFT JOIN identities i ON i.owner_id = s.owner_id GROUP BY s.owner_id ORDER BY COUNT(*) DESC, s.owner_id")
        return [OwnerCount(owner, name, n) for owner, name, n in rows]

    def is_known_identity(self, owner_id: str) -> bool:
        """Whether `owner_id` is a live identity of this server (not revoked, not removed)."""
        row = self.store.connection().execute("SELECT revoked FROM identities WHERE owner_id = ?",
                                               (owner_id,)).fetchone()
        return row is not None and row[0] is None

    def samples(self, owner_id: str | None = None, label: int | None = None, limit: int | None = None,
                exclude_owner: str | None = None, upto: int | None = None) -> list[Sample]:
        """Samples oldest first, optionally one student's, one digit's, or all but one student's; with `upto`, only
        those with ids up to it (the set as it was when `newest_id()` gave it, less what was deleted since)."""
        clauses, params = [], []
        for clause, value in (("owner_id = ?", owner_id), ("label = ?", label), ("owner_id != ?", exclude_owner),
                              ("id <= ?", upto)):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        tail = f" LIMIT {int(limit)}" if limit is not None else ""
        rows = self.store.connection().execute(
            f"SELECT id, owner_id, label, image, created FROM class_samples{where} ORDER BY id{tail}", params)
        return [Sample(i, o, lab, np.frombuffer(img, np.uint8).reshape(SIZE, SIZE).copy(), c)
                for i, o, lab, img, c in rows]

    def newest_id(self) -> int:
        """The id of the newest sample (0 for an empty set): ids only grow, so it marks the set as it is now."""
        row = self.store.connection().execute("SELECT MAX(id) FROM class_samples").fetchone()
        return int(row[0] or 0)

    def raw_png(self, sample_id: int) -> bytes | None:
        row = self.store.connection().execute("SELECT raw_png FROM class_samples WHERE id = ?",
                                               (sample_id,)).fetchone()
        return None if row is None else row[0]

    def arrays(self, samples: Iterable[Sample] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Images uint8 [N, 28, 28] and labels uint8 [N] of `samples` (default: the whole set, oldest first)."""
        chosen = list(self.samples() if samples is None else samples)
        images = np.stack([s.image for s in chosen]) if chosen else np.zeros((0, SIZE, SIZE), np.uint8)
        return images, np.array([s.label for s in chosen], dtype=np.uint8)

    # -- importing ---------------------------------------------------------------------------------
    def add_many(self, images: np.ndarray, labels: np.ndarray, owner_id: str = IMPORTED_OWNER,
                 now: float | None = None) -> int:
        """Add checked images and labels (an import) in one transaction: all or none."""
        if len(images) > MAX_IMPORT_SAMPLES:
            raise ClassSetRefused("quota", f"{len(images):,} samples are more than one import may add "
                                  f"({MAX_IMPORT_SAMPLES:,})", count=len(images), limit=MAX_IMPORT_SAMPLES)
        now = time.time() if now is None else now
        with self.store.write_transaction() as conn:
            conn.executemany("INSERT INTO class_samples (owner_id, label, image, raw_png, created) "
                             "VALUES (?, ?, ?, NULL, ?)",
                             [(owner_id, int(label), np.ascontiguousarray(image, np.uint8).tobytes(), now)
                              for image, label in zip(images, labels, strict=True)])
        return len(images)

    # -- fine-tuned runs ---------------------------------------------------------------------------
    def record_fine_tune(self, row: FineTuneRow) -> None:
        """What the page that asked for a fine-tune knows (the set it asked on, the score before). The worker may
        have written its part first (a tiny run trains in a moment), so this fills in the row and keeps its part."""
        self._record_fine_tune_part(row, {"upto_sample": row.upto, "before_accuracy": row.before_accuracy,
                                          "before_count": row.before_count})

    def record_fine_tuned(self, row: FineTuneRow) -> None:
        """What the worker that trained a fine-tune knows: the drawings it really trained on (some may have been
        deleted since it was asked for) and the held-out student's score after."""
        self._record_fine_tune_part(row, {"train_samples": row.train_samples, "after_accuracy": row.after_accuracy,
                                          "after_count": row.after_count})

    def _record_fine_tune_part(self, row: FineTuneRow, part: dict[str, object]) -> None:
        """Insert the fine-tune's row, or where the other side wrote it first, set only `part`'s columns."""
        values = {"run_id": row.run_id, "parent_id": row.parent_id, "held_out_owner": row.held_out_owner,
                  "train_samples": row.train_samples, "created": time.time(), "upto_sample": row.upto, **part}
        columns = ", ".join(values)
        updates = ", ".join(f"{column} = excluded.{column}" for column in part)
        with self.store.write_transaction() as conn:
            conn.execute(f"INSERT INTO class_finetunes ({columns}) VALUES ({', '.join('?' * len(values))}) "
                         f"ON CONFLICT(run_id) DO UPDATE SET {updates}", tuple(values.values()))

    def fine_tune_of(self, run_id: int) -> tuple[int, str, int] | None:
        """(parent run, held-out owner, class samples trained on) of a run fine-tuned on the class set."""
        row = self.fine_tune_row(run_id)
        return None if row is None else (row.parent_id, row.held_out_owner, row.train_samples)

    def fine_tune_row(self, run_id: int) -> FineTuneRow | None:
        row = self.store.connection().execute(
            f"SELECT {_FINETUNE_FIELDS} FROM class_finetunes WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else FineTuneRow(*row)

    def latest_fine_tune(self, parent_id: int, owner_id: str) -> FineTuneRow | None:
        """`owner_id`'s newest fine-tune of run `parent_id` (what the Class set page shows again after a reload)."""
        row = self.store.connection().execute(
            f"SELECT {_FINETUNE_FIELDS} FROM class_finetunes WHERE parent_id = ? AND held_out_owner = ? "
            "ORDER BY run_id DESC LIMIT 1", (parent_id, owner_id)).fetchone()
        return None if row is None else FineTuneRow(*row)


def _frozen(conn) -> bool:
    row = conn.execute("SELECT value FROM class_set_state WHERE name = 'frozen'").fetchone()
    return row is not None and row[0] == "1"


def _where(owner_id: str | None) -> tuple[str, tuple]:
    return (" WHERE owner_id = ?", (owner_id,)) if owner_id is not None else ("", ())
