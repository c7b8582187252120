"""Job kinds: what a queued run trains on besides its config's dataset. A run's job may carry a `task`, plain JSON
with a "kind", never a pickled object (it crosses a pipe to a worker process, or the network to a Ray node); this
maps each kind to the trainer that `execution.execute_run` calls in place of `training.train`. One kind so far: a
class-set fine-tune (`mnist_core.class_set.fine_tune`), whose trainer reads the class's drawings from the run store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import partial

from mnist_core.class_set.fine_tune import FINE_TUNE_KIND, fine_tune_trainer
from mnist_core.runs.store import RunStore
from mnist_core.training import TrainResult, train

# kind -> (store, run id, task, base trainer or None) -> the run's trainer
KINDS: dict[str, Callable[..., Callable[..., TrainResult]]] = {FINE_TUNE_KIND: fine_tune_trainer}
MAX_TASK_BYTES = 4096  # a task names what to read, it does not carry data


def checked_task(task: Mapping[str, object] | None) -> dict | None:
    """A copy of `task` as plain JSON (so nothing the caller changes later reaches the worker); ValueError, before
    anything is stored, for a task that is not plain JSON, too large, or of no known kind."""
    if task is None:
        return None
    try:
        text = json.dumps(task, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a job's task must be plain JSON: {exc}") from None
    plain = json.loads(text)
    if not isinstance(plain, dict) or plain.get("kind") not in KINDS or len(text) > MAX_TASK_BYTES:
        raise ValueError(f"not a job task this server runs: {text[:200]}")
    return plain


def trainer_for(store: RunStore, run_id: int, task: Mapping[str, object] | None,
                base: Callable[..., TrainResult] | None = None) -> Callable[..., TrainResult]:
    """The trainer of run `run_id`: `base` (default `training.train`) for a plain run, the task kind's otherwise.
    A task of no known kind gets a trainer that raises, so its run fails with the reason instead of the worker."""
    if task is None:
        return base or train
    factory = KINDS.get(task.get("kind")) if isinstance(task, Mapping) else None
    if factory is None:
        return partial(_unknown_kind, task)
    return factory(store, run_id, task, base)


def _unknown_kind(task: object, *args, **kwargs) -> TrainResult:
    raise ValueError(f"this worker does not know the job task {task!r}")
