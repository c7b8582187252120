"""The SQL the run store runs that needs nothing of a RunStore but a connection: inserting curves, counting what an
owner uses (inside the transaction that admits new runs), and filtering run lists."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from mnist_core.events import EpochMetrics, LossPoints
from mnist_core.runs.class_rules import OwnerUsage
from mnist_core.runs.record import check_status


def insert_losses(conn: sqlite3.Connection, run_id: int, points: LossPoints) -> None:
    rows = [(run_id, int(i), float(v)) for i, v in zip(points.iterations, points.losses, strict=True)]
    conn.executemany("INSERT OR REPLACE INTO losses (run_id, iteration, loss) VALUES (?, ?, ?)", rows)


def insert_epoch(conn: sqlite3.Connection, run_id: int, m: EpochMetrics) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO epochs VALUES (?, ?, ?, ?, ?, ?, ?)",
        (run_id, int(m.epoch), m.train_loss, m.train_accuracy, m.val_loss, m.val_accuracy, m.seconds),
    )


def owner_usage(conn: sqlite3.Connection, owner_id: str) -> OwnerUsage:
    active, stored, weights = conn.execute(
        "SELECT COALESCE(SUM(status IN ('queued', 'running')), 0), COUNT(*), COALESCE(SUM(weights_bytes), 0) "
        "FROM runs WHERE owner_id = ?", (owner_id,)).fetchone()
    (queued,) = conn.execute("SELECT COUNT(*) FROM runs WHERE status = 'queued'").fetchone()
    return OwnerUsage(active=active, stored=stored, weights_bytes=weights, queued=queued)


def run_filter(statuses: Iterable[str] | None, owner_id: str | None) -> tuple[str, list[Any]]:
    """The WHERE clause (with its leading space, or "") and parameters of a runs query by status and owner."""
    where, params = [], []
    if statuses is not None:
        wanted = [statuses] if isinstance(statuses, str) else list(statuses)
        for status in wanted:
            check_status(status)
        where.append(f"r.status IN ({', '.join('?' * len(wanted))})")
        params += wanted
    if owner_id is not None:
        where.append("r.owner_id = ?")
        params.append(owner_id)
    return (" WHERE " + " AND ".join(where) if where else ""), params
