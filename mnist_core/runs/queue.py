"""The training queue, kept in the runs database: a queued run waits there until a dispatcher (a JobManager with
worker slots) claims it. Every process that shares the store shares the queue: several app processes serving one
class submit into it, one dispatcher trains from it, and a place in the line or a Stop means the same in each.

A waiting run is `status = 'queued'` and `claimed_by IS NULL`; a dispatcher claims it atomically (a second one
cannot take the same run) and its worker then marks it running. A stop asked for a claimed run is recorded in
`stop_requested`, which its dispatcher watches; a waiting run is simply stopped. `claimed_by` names the dispatcher's
process (pid, start time, host), so a dispatcher that died leaves no run claimed for ever."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass

from mnist_core.config import TrainConfig
from mnist_core.runs.failures import SHUTDOWN
from mnist_core.runs.processes import process_alive, this_process
from mnist_core.runs.store import RunStore

_WAITING = "status = 'queued' AND claimed_by IS NULL"
_CLAIMED = "status IN ('queued', 'running') AND claimed_by IS NOT NULL"


@dataclass(frozen=True)
class Waiting:
    """A run in the line: `turn_owner` is None for runs that take no turns (the teacher's, the command line's);
    `team` is its race (group_id), else the run itself; `task` its job kind's plain JSON (backends.tasks)."""

    run_id: int
    config: TrainConfig
    turn_owner: str | None
    team: str
    task: dict | None


def dispatcher_name() -> str:
    """How a run records the process that claimed it: "pid:start@host"."""
    pid, start = this_process()
    return f"{pid}:{start}@{socket.gethostname()}"


class RunQueue:
    def __init__(self, store: RunStore) -> None:
        self.store = store

    def waiting(self) -> list[Waiting]:
        """The runs no dispatcher has claimed yet, first come first."""
        rows = self.store.connection().execute(
            f"SELECT id, config, turn_owner, COALESCE(group_id, 'run-' || id), task FROM runs WHERE {_WAITING} "
            "ORDER BY id").fetchall()
        return [Waiting(run_id, TrainConfig.from_json(config), owner, team, json.loads(task) if task else None)
                for run_id, config, owner, team, task in rows]

    def waiting_ids(self) -> list[int]:
        sql = f"SELECT id FROM runs WHERE {_WAITING} ORDER BY id"
        return [row[0] for row in self.store.connection().execute(sql)]

    def training(self) -> list[tuple[int, str | None, str]]:
        """(run id, turn owner, team) of every claimed run still queued or running, oldest first: what the class's
        slots hold now, in every process."""
        sql = f"SELECT id, turn_owner, COALESCE(group_id, 'run-' || id) FROM runs WHERE {_CLAIMED} ORDER BY id"
        return [tuple(row) for row in self.store.connection().execute(sql)]

    def position(self, run_id: int) -> int | None:
        """1 for the next run to start, 2 for the one after; None if the run is not waiting."""
        row = self.store.connection().execute(
            f"SELECT (SELECT COUNT(*) FROM runs WHERE {_WAITING} AND id < r.id) FROM runs r WHERE r.id = ? "
            f"AND r.status = 'queued' AND r.claimed_by IS NULL", (run_id,)).fetchone()
        return None if row is None else row[0] + 1

    def claim(self, run_id: int, dispatcher: str) -> bool:
        """Take a waiting run for `dispatcher`; False when it is no longer waiting (stopped, or another took it)."""
        with self.store.write_transaction() as conn:
            return conn.execute(f"UPDATE runs SET claimed_by = ? WHERE id = ? AND {_WAITING}",
                                (dispatcher, run_id)).rowcount == 1

    def cancel_waiting(self, run_id: int) -> bool:
        """Stop a run no dispatcher has claimed yet; False when it is not waiting."""
        with self.store.write_transaction() as conn:
            return conn.execute(f"UPDATE runs SET status = 'stopped', finished = ? WHERE id = ? AND {_WAITING}",
                                (time.time(), run_id)).rowcount == 1

    def request_stop(self, run_id: int) -> bool:
        """Ask the dispatcher training a claimed run to stop it; False when no dispatcher holds it (it ended, or a
        command line trains it on its own)."""
        with self.store.write_transaction() as conn:
            return conn.execute(f"UPDATE runs SET stop_requested = ? WHERE id = ? AND {_CLAIMED}",
                                (time.time(), run_id)).rowcount == 1

    def stop_requests(self, dispatcher: str) -> list[int]:
        """The runs `dispatcher` holds that somebody asked to stop."""
        sql = f"SELECT id FROM runs WHERE claimed_by = ? AND stop_requested IS NOT NULL AND {_CLAIMED}"
        return [row[0] for row in self.store.connection().execute(sql, (dispatcher,))]

    def interrupt_waiting(self, submitted_by_pid: int) -> list[int]:
        """A closing server's line: mark the waiting runs its process submitted interrupted; their ids."""
        with self.store.write_transaction() as conn:
            ids = [row[0] for row in conn.execute(f"SELECT id FROM runs WHERE {_WAITING} AND owner_pid = ? "
                                                  "AND owner_host = ?", (submitted_by_pid, socket.gethostname()))]
            conn.executemany("UPDATE runs SET status = 'interrupted', error = ?, error_facts = ?, finished = ? "
                             f"WHERE id = ? AND {_WAITING}",
                             [(SHUTDOWN.message, SHUTDOWN.facts_json(), time.time(), run_id) for run_id in ids])
        return ids

    def release_dead_claims(self) -> list[int]:
        """Put back in line the runs claimed, but not yet started, by a dispatcher of this host that died."""
        host = socket.gethostname()
        rows = self.store.connection().execute(
            "SELECT id, claimed_by FROM runs WHERE status = 'queued' AND claimed_by LIKE ?", (f"%@{host}",))
        dead = []
        for run_id, claimer in rows.fetchall():
            pid, _, start = claimer.rpartition("@")[0].partition(":")
            if not (pid.isdigit() and process_alive(int(pid), start)):
                dead.append(run_id)
        with self.store.write_transaction() as conn:
            conn.executemany("UPDATE runs SET claimed_by = NULL WHERE id = ? AND status = 'queued'",
                             [(run_id,) for run_id in dead])
        return dead

    def signature(self) -> tuple:
        """Changes whenever a run joins the line or a stop is asked: one small indexed query for a watcher."""
        return self.store.connection().execute(
            "SELECT COUNT(*), MAX(id), COUNT(stop_requested) FROM runs WHERE status = 'queued' "
            "OR (status = 'running' AND stop_requested IS NOT NULL)").fetchone()
