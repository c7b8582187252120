"""Continue training: a new run that starts from a finished run's weights and optimizer state.

The new run is stored with its parent's id (`runs.parent_id`); its config is the parent's with `epochs` raised to
the total the network will have trained, and its iterations, epochs and clock continue the parent's numbering, so
its curves pick up where the parent's ended.
"""

from __future__ import annotations

from mnist_core.config import MAX_EPOCHS, ConfigError, ConfigProblem, TrainConfig
from mnist_core.runs.record import RunRecord
from mnist_core.runs.store import RunNotFound, RunStore
from mnist_core.training import ResumeFrom
from mnist_core.weights import ModelUnavailable, load_optimizer_state

CONTINUABLE_STATUSES = ("completed", "stopped")


class CannotContinue(ValueError):
    """The run cannot be continued (still training, failed, or without weights); the message says why."""

    def __init__(self, run_id: int, status: str) -> None:
        super().__init__(f"run {run_id} cannot be continued: it is {status}")
        self.run_id, self.status = run_id, status


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
    except RunNotFound:  # the child fails with a reason the student can read
        raise ModelUnavailable(f"run {parent_id}, which this run continues, was deleted",
                               {"parent_id": parent_id}) from None
    losses, epochs = store.losses(parent_id), store.epochs(parent_id)
    progress = parent.progress or {}
    iteration = max(losses.iterations[-1] if losses.iterations else 0, progress.get("iteration", 0))
    seconds = max(epochs[-1].seconds if epochs else 0.0, progress.get("elapsed_s", 0.0))
    return ResumeFrom(model_state=loaded.model.state_dict(),
                      optimizer_state=load_optimizer_state(store.weights_path(parent_id)),
                      iteration=iteration, epoch=len(epochs), seconds=seconds)

