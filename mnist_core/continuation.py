"""Continue training: a new run that starts from a finished run's weights and optimizer state.

The new run is stored with its parent's id (`runs.parent_id`); its config is the parent's with `epochs` raised to
the total the network will have trained, and its iterations, epochs and clock continue the parent's numbering, so
its curves pick up where the parent's ended. Also the columns this and the misclassified gallery added to the
runs table (created in place in an older database).
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import numpy as np
import torch

from mnist_core.config import MAX_EPOCHS, ConfigError, ConfigProblem, TrainConfig
from mnist_core.training import ResumeFrom
from mnist_core.weights import ModelUnavailable, load_optimizer_state

if TYPE_CHECKING:
    from mnist_core.run_record import RunRecord
    from mnist_core.store import RunStore

CONTINUABLE_STATUSES = ("completed", "stopped")
# Columns added after schema 1, each created when missing: an older database gains them on open, and an older app,
# which names the columns it reads, keeps working with the new database.
ADDED_COLUMNS = {
    "parent_id": "INTEGER",  # the run this one continues training, NULL for a fresh run
    "test_confidences": "BLOB",  # uint8 [10000]: each test prediction's softmax probability, in 1/255 steps
}


class CannotContinue(ValueError):
    """The run cannot be continued (still training, failed, or without weights); the message says why."""

    def __init__(self, run_id: int, status: str) -> None:
        super().__init__(f"run {run_id} cannot be continued: it is {status}")
        self.run_id, self.status = run_id, status


def add_continuation_columns(conn: sqlite3.Connection) -> None:
    present = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    for column, kind in ADDED_COLUMNS.items():
        if column not in present:
            conn.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")


def epochs_done(store: RunStore, run_id: int) -> int:
    return len(store.epochs(run_id))


def continued_config(store: RunStore, parent: RunRecord, more_epochs: int) -> TrainConfig:
    """The parent's config trained `more_epochs` further; CannotContinue or ConfigError (epochs out of range)."""
    if parent.status not in CONTINUABLE_STATUSES or not store.has_weights(parent.id):
        raise CannotContinue(parent.id, parent.status)
    done = epochs_done(store, parent.id)
    if not isinstance(more_epochs, int) or isinstance(more_epochs, bool) or not 1 <= more_epochs <= MAX_EPOCHS - done:
        raise ConfigError([ConfigProblem("epochs", more_epochs, f"1 to {MAX_EPOCHS - done}")])
    return parent.config.replace(epochs=done + more_epochs).validated()


def resume_point(store: RunStore, run_id: int) -> ResumeFrom | None:
    """Where a continued run starts: its parent's weights, optimizer state, iterations, epochs and clock.
    None for a run that continues nothing; ModelUnavailable when the parent has no weights (any more)."""
    parent_id = store.get(run_id).parent_id
    if parent_id is None:
        return None
    try:
        parent, loaded = store.get(parent_id), store.load_model(parent_id)
    except KeyError:  # store.RunNotFound (a KeyError; store imports this module): the child fails with a reason
        raise ModelUnavailable(f"run {parent_id}, which this run continues, was deleted",
                               {"parent_id": parent_id}) from None
    losses, epochs = store.losses(parent_id), store.epochs(parent_id)
    progress = parent.progress or {}
    iteration = max(losses.iterations[-1] if losses.iterations else 0, progress.get("iteration", 0))
    seconds = max(epochs[-1].seconds if epochs else 0.0, progress.get("elapsed_s", 0.0))
    return ResumeFrom(model_state=loaded.model.state_dict(),
                      optimizer_state=load_optimizer_state(store.weights_path(parent_id)),
                      iteration=iteration, epoch=len(epochs), seconds=seconds)


def confidence_bytes(confidences: torch.Tensor | None) -> bytes | None:
    """Softmax probabilities as 1/255 steps (10 KB per run): finer than the whole percent the gallery shows."""
    if confidences is None:
        return None
    scaled = np.rint(np.clip(np.asarray(confidences.cpu(), dtype=np.float32), 0.0, 1.0) * 255.0)
    return scaled.astype(np.uint8).tobytes()


def confidences_from_bytes(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.frombuffer(blob, dtype=np.uint8).astype(np.float32) / 255.0
