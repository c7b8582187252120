"""Every training run on disk: one SQLite database (WAL) that the app, its worker threads and the CLI share."""

from __future__ import annotations

import dataclasses
import json
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mnist_core import settings
from mnist_core.config import TrainConfig
from mnist_core.events import EpochMetrics, LossPoints, Progress
from mnist_core.runs.class_rules import OwnerUsage, rules_in_force
from mnist_core.runs.connections import ThreadConnections
from mnist_core.runs.failures import PROCESS_ENDED, Failure
from mnist_core.runs.names import clean_run_name, default_run_name
from mnist_core.runs.permissions import COMMAND_LINE, Actor, NotPermitted, check_may_change_in
from mnist_core.runs.processes import process_alive, this_process
from mnist_core.runs.queries import insert_epoch, insert_losses, owner_usage, run_filter
from mnist_core.runs.record import (
    ACTIVE_STATUSES,
    SELECT_RUNS,
    RunRecord,
    check_status,
    confidences_from_bytes,
    confidences_to_bytes,
    nan_if_none,
    record_from_row,
)
from mnist_core.runs.schema import next_run_id, upgrade_schema
from mnist_core.training import TrainResult
from mnist_core.weights import LoadedModel, ModelUnavailable, load_model, save_model

BUSY_TIMEOUT_S = 10.0
MAX_ERROR_LENGTH = 500

class RunNotFound(KeyError):
    """No run with that id (it never existed or was deleted)."""

    def __init__(self, run_id: int) -> None:
        super().__init__(run_id)
        self.run_id = run_id

    def __str__(self) -> str:
        return f"run {self.run_id} does not exist (it may have been deleted)"


class RunStore:
    """The runs database at `<root>/runs.sqlite3` plus weights files in `<root>/weights/`."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else settings.runs_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "runs.sqlite3"
        self._connections = ThreadConnections(self.db_path, BUSY_TIMEOUT_S)
        self._host = socket.gethostname()
        self._create_schema()
        self.recover_interrupted()

    # -- connections -------------------------------------------------------------------------------
    # Public for the modules that keep their own tables in the store's database (identities, teacher access, the
    # queue, the class set): one set of connections, one write lock, one transaction across their tables and runs.
    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; a `BEGIN` of the caller's makes a snapshot)."""
        return self._connections.get()

    @contextmanager
    def write_transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction. BEGIN IMMEDIATE takes the write lock up front, so a busy database waits
        (busy_timeout) instead of failing with "database is locked" when a reader tries to upgrade."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _create_schema(self) -> None:
        conn = self.connection()
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: only the first opener switches it
        with self.write_transaction() as conn:
            upgrade_schema(conn, self.db_path)

    def _owner(self) -> tuple[int, str, str]:
        """(pid, host, process start) recorded on a run, so other processes can tell whether its owner lives."""
        pid, start = this_process()
        return pid, self._host, start

    # -- crash recovery ----------------------------------------------------------------------------
    def recover_interrupted(self) -> list[int]:
        """Mark queued/running runs whose owner process on this host is gone as interrupted; return their ids.

        Runs owned by a live process (another app, the CLI) or by another host are left alone."""
        rows = self.connection().execute(
            "SELECT id, owner_pid, owner_start FROM runs WHERE status IN ('queued', 'running') AND owner_host = ?",
            (self._host,),
        ).fetchall()
        dead = [run_id for run_id, pid, start in rows if pid is None or not process_alive(pid, start)]
        if dead:
            with self.write_transaction() as conn:
                conn.executemany(
                    "UPDATE runs SET status = 'interrupted', error = ?, error_facts = ?, finished = ? "
                    "WHERE id = ? AND status IN ('queued', 'running')",
                    [(PROCESS_ENDED.message, PROCESS_ENDED.facts_json(), time.time(), run_id) for run_id in dead],
                )
        return dead

    # -- writing -----------------------------------------------------------------------------------
    def create_run(
        self, config: TrainConfig, name: str | None = None, group_id: str | None = None, status: str = "queued",
        owner: Actor = COMMAND_LINE, parent_id: int | None = None,
    ) -> int:
        """Insert a run run by this process, belonging to `owner`; a missing name becomes e.g. "#12 mlp-3 · adam"."""
        return self.create_runs([config], [name], group_id=group_id, status=status, owner=owner,
                                parent_id=parent_id)[0]

    def create_runs(
        self, configs: Sequence[TrainConfig], names: Sequence[str | None], *, group_id: str | None = None,
        status: str = "queued", owner: Actor = COMMAND_LINE, parent_id: int | None = None,
        admit: Callable[[OwnerUsage], None] | None = None, task: dict | None = None,
    ) -> list[int]:
        """Insert several runs in one write transaction, all or none. `admit(usage)` is called inside it with what
        `owner` and the class use (runs_of: OwnerUsage), and may raise to refuse them (the class rules' quotas): no
        other writer can insert between that count and these rows. `task`: their job kind as plain JSON
        (backends.tasks). A student's queued runs take turns in the queue (runs.queue); the teacher's and the command
        line's do not."""
        check_status(status)
        names = [None if name is None else clean_run_name(name) for name in names]
        with self.write_transaction() as conn:
            if admit is not None:
                admit(owner_usage(conn, owner.owner_id))
            now, run_ids = time.time(), []
            for config, name in zip(configs, names, strict=True):
                run_id = next_run_id(conn)
                conn.execute(
                    "INSERT INTO runs (id, name, created, config, status, group_id, started, owner_pid, owner_host, "
                    "owner_start, owner_id, owner_name, parent_id, task, turn_owner) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, name or default_run_name(run_id, config), now, config.to_json(), status, group_id,
                     now if status == "running" else None, *self._owner(), owner.owner_id, owner.name, parent_id,
                     None if task is None else json.dumps(task), None if owner.may_change_any else owner.owner_id),
                )
                run_ids.append(run_id)
        return run_ids

    def set_status(self, run_id: int, status: str, failure: Failure | None = None) -> None:
        check_status(status)
        finished = None if status in ACTIVE_STATUSES else time.time()
        error, facts = (_clean_error(failure.message), failure.facts_json()) if failure else (None, None)
        self._update(run_id, "status = ?, error = ?, error_facts = ?, finished = ?", (status, error, facts, finished))

    def mark_running(self, run_id: int, device: str) -> bool:
        """queued/running → running on `device`, owned by this process. False if the run already ended
        (e.g. stopped while queued), so a worker knows to skip it."""
        with self.write_transaction() as conn:
            cur = conn.execute(
                "UPDATE runs SET status = 'running', device = ?, started = ?, owner_pid = ?, owner_host = ?, "
                "owner_start = ? WHERE id = ? AND status IN ('queued', 'running')",
                (str(device), time.time(), *self._owner(), run_id),
            )
            if cur.rowcount:
                return True
            self._require(conn, run_id)
        return False

    def add_losses(self, run_id: int, points: LossPoints) -> None:
        with self.write_transaction() as conn:
            self._require(conn, run_id)
            insert_losses(conn, run_id, points)

    def add_epoch(self, run_id: int, metrics: EpochMetrics) -> None:
        with self.write_transaction() as conn:
            self._require(conn, run_id)
            insert_epoch(conn, run_id, metrics)

    def update_progress(self, run_id: int, progress: Progress) -> None:
        self._update(run_id, "progress = ?", (json.dumps(dataclasses.asdict(progress)),))

    def finish(self, run_id: int, result: TrainResult) -> None:
        """Store a finished (completed or stopped) run: weights, predictions, test metrics and, in the same
        transaction, every loss and epoch of the result (streamed events may have been throttled)."""
        check_status(result.status)
        path = self.save_weights(run_id, result.model, self.get(run_id).config, result.mean, result.std,
                                 optimizer_state=result.optimizer_state)
        predictions = np.asarray(result.test_predictions.cpu(), dtype=np.uint8).tobytes()
        try:
            with self.write_transaction() as conn:
                self._require(conn, run_id)
                insert_losses(conn, run_id, result.losses)
                for metrics in result.epochs:
                    insert_epoch(conn, run_id, metrics)
                conn.execute(
                    "UPDATE runs SET status = ?, error = NULL, error_facts = NULL, device = ?, duration_s = ?, "
                    "test_loss = ?, test_accuracy = ?, test_predictions = ?, test_confidences = ?, finished = ?, "
                    "weights_bytes = ? WHERE id = ?",
                    (result.status, str(result.device), result.seconds, result.test_loss, result.test_accuracy,
                     predictions, confidences_to_bytes(result.test_confidences), time.time(), path.stat().st_size,
                     run_id),
                )
        except RunNotFound:
            path.unlink(missing_ok=True)  # deleted while training: leave no orphan file behind
            raise

    def fail(self, run_id: int, failure: Failure) -> None:
        self.set_status(run_id, "failed", failure)

    def rename(self, run_id: int, name: str, actor: Actor = COMMAND_LINE) -> None:
        """NotPermitted (nothing changed) unless `actor` owns the run or may change any."""
        name = clean_run_name(name)
        with self.write_transaction() as conn:
            check_may_change_in(conn, run_id, actor, "rename")
            if not conn.execute("UPDATE runs SET name = ? WHERE id = ?", (name, run_id)).rowcount:
                raise RunNotFound(run_id)

    def set_owner_name(self, owner_id: str, name: str) -> None:
        """A student renamed themself: their runs show the new name."""
        with self.write_transaction() as conn:
            conn.execute("UPDATE runs SET owner_name = ? WHERE owner_id = ?", (clean_run_name(name), owner_id))

    def delete(self, run_id: int, actor: Actor = COMMAND_LINE) -> None:
        """Delete one run: its row, losses, epochs and weights file. Other runs are never touched. NotPermitted
        (nothing deleted) unless `actor` owns the run or may change any, and for the class's pinned reference run
        (in teacher mode: without it the pin has no effect) unless `actor` is the teacher or the command line."""
        with self.write_transaction() as conn:
            self._require(conn, run_id)
            check_may_change_in(conn, run_id, actor, "delete")
            if not actor.may_change_any and rules_in_force(self.root).reference_run_id == run_id:
                raise NotPermitted("delete the pinned reference", run_id, actor, None, "the teacher")
            conn.execute("DELETE FROM losses WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM epochs WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        self.weights_path(run_id).unlink(missing_ok=True)

    # -- weights -----------------------------------------------------------------------------------
    def weights_path(self, run_id: int) -> Path:
        return self.root / "weights" / f"{int(run_id)}.safetensors"

    def save_weights(self, run_id: int, model: nn.Module, config: TrainConfig, mean: float, std: float,
                     optimizer_state: dict | None = None) -> Path:
        record = self.get(run_id)
        path = self.weights_path(run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_model(path, model, config, mean, std, metadata={"run_id": str(run_id), "name": record.name},
                   optimizer_state=optimizer_state)
        return path

    def has_weights(self, run_id: int) -> bool:
        return self.weights_path(run_id).is_file()

    def load_model(self, run_id: int) -> LoadedModel:
        """The run's trained model, named as the run. RunNotFound for an unknown run, ModelUnavailable when it has
        no weights (yet), WeightsError for a damaged file."""
        record = self.get(run_id)
        path = self.weights_path(run_id)
        if not path.is_file():
            why = {
                "queued": "it has not started yet",
                "running": "it is still training; weights are saved when it finishes or is stopped",
                "failed": f"it failed ({record.error})" if record.error else "it failed",
                "interrupted": "it was interrupted before finishing",
            }.get(record.status, f"its weights file {path} does not exist")
            raise ModelUnavailable(f"run {run_id} ({record.name}) has no trained weights to predict with: {why}",
                                   {"run_id": run_id, "name": record.name, "status": record.status})
        return load_model(path, label=record.name, run_id=run_id)

    # -- reading -----------------------------------------------------------------------------------
    def get(self, run_id: int) -> RunRecord:
        row = self.connection().execute(SELECT_RUNS + " WHERE r.id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(run_id)
        return record_from_row(row)

    def list_runs(
        self, statuses: Iterable[str] | None = None, limit: int | None = None, owner_id: str | None = None,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Runs newest first, optionally only those with the given statuses or owner: the `limit` runs after the
        first `offset` (a page of them; filtered and paged in SQL, so no run is out of reach however many exist)."""
        where, params = run_filter(statuses, owner_id)
        sql = f"{SELECT_RUNS}{where} ORDER BY r.created DESC, r.id DESC LIMIT ? OFFSET ?"
        rows = self.connection().execute(sql, [*params, -1 if limit is None else int(limit), int(offset)])
        return [record_from_row(row) for row in rows]

    def count_runs(self, statuses: Iterable[str] | None = None, owner_id: str | None = None) -> int:
        """How many runs `list_runs` with the same filter would page through."""
        where, params = run_filter(statuses, owner_id)
        return self.connection().execute(f"SELECT COUNT(*) FROM runs r{where}", params).fetchone()[0]

    def best_runs(self) -> list[RunRecord]:
        """Each owner's best completed run per dataset (highest test accuracy, the earlier on a tie): the class
        board, chosen in SQL from every run the class ever trained."""
        ranked = ("SELECT id, ROW_NUMBER() OVER (PARTITION BY owner_id, json_extract(config, '$.dataset') "
                  "ORDER BY test_accuracy DESC, created, id) AS place FROM runs "
                  "WHERE status = 'completed' AND test_accuracy IS NOT NULL")
        sql = f"{SELECT_RUNS} WHERE r.id IN (SELECT id FROM ({ranked}) WHERE place = 1) ORDER BY r.created, r.id"
        return [record_from_row(row) for row in self.connection().execute(sql)]

    def losses(self, run_id: int, after: int | None = None) -> LossPoints:
        """The run's loss points, only those after iteration `after` when given: a live view reads what is new."""
        sql = "SELECT iteration, loss FROM losses WHERE run_id = ? AND iteration > ? ORDER BY iteration"
        rows = self._read_rows(run_id, sql, -1 if after is None else after)
        return LossPoints(iterations=[r[0] for r in rows], losses=[nan_if_none(r[1]) for r in rows])

    def epochs(self, run_id: int, after: int | None = None) -> list[EpochMetrics]:
        """The run's per-epoch metrics, only those after epoch `after` when given."""
        sql = "SELECT epoch, train_loss, train_accuracy, val_loss, val_accuracy, seconds FROM epochs WHERE run_id = ?"
        rows = self._read_rows(run_id, sql + " AND epoch > ? ORDER BY epoch", -1 if after is None else after)
        return [EpochMetrics(e, nan_if_none(tl), ta, vl, va, sec) for e, tl, ta, vl, va, sec in rows]

    def activity(self) -> tuple[tuple[Any, ...], ...]:
        """(id, status, progress) of every queued or running run: one small indexed query, so a view that refreshes
        every few seconds can tell whether anything changed before it reads or draws anything."""
        sql = "SELECT id, status, progress FROM runs WHERE status IN ('queued', 'running') ORDER BY id"
        return tuple(self.connection().execute(sql).fetchall())

    def test_predictions(self, run_id: int) -> torch.Tensor | None:
        """The test-set predictions (int64 [10000]) of a finished run, None before it finished."""
        row = self.connection().execute("SELECT test_predictions FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(run_id)
        return None if row[0] is None else torch.from_numpy(np.frombuffer(row[0], dtype=np.uint8).astype(np.int64))

    def test_confidences(self, run_id: int) -> np.ndarray | None:
        """Each test prediction's softmax probability (float32 [10000], to 1/255), None when not stored."""
        row = self.connection().execute("SELECT test_confidences FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFound(run_id)
        return confidences_from_bytes(row[0])

    # -- helpers -----------------------------------------------------------------------------------
    def _update(self, run_id: int, assignments: str, params: tuple[Any, ...]) -> None:
        with self.write_transaction() as conn:
            if not conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*params, run_id)).rowcount:
                raise RunNotFound(run_id)

    def _read_rows(self, run_id: int, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        conn = self.connection()
        conn.execute("BEGIN")  # one snapshot: the existence check and the rows agree
        try:
            self._require(conn, run_id)
            return conn.execute(sql, (run_id, *params)).fetchall()
        finally:
            conn.execute("COMMIT")

    @staticmethod
    def _require(conn: sqlite3.Connection, run_id: int) -> None:
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise RunNotFound(run_id)








def _clean_error(message: str | None) -> str | None:
    if message is None:
        return None
    line = " ".join(str(message).split()) or "unknown error"
    return line if len(line) <= MAX_ERROR_LENGTH else line[: MAX_ERROR_LENGTH - 1] + "…"
