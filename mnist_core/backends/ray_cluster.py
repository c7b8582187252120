"""Trainings on a Ray cluster (a lab of PCs): MNIST_PLAYGROUND_RAY_ADDRESS ("auto", "ray://head:10001", ...).

Each run is one Ray task on any node with a free CPU (and a share of a GPU when the cluster has GPUs). A remote
node has no access to the head's SQLite file, so its events travel back: the task pushes them, a few times a
second, to one small actor (`RunHub`, no CPU of its own) that the head's JobManager slot thread drains into the
RunStore, exactly as a local training's events would be written. The task returns the final result (the weights
as plain tensors, rebuilt on the head into the model; nothing model-shaped is unpickled) and the head stores it
through `execution.execute_run` like any other run. Stop: the head marks the run in the hub and the task's next push
sees it. A node or worker that dies fails the run with a message; the next runs go elsewhere.

Datasets: a node loads them as the local path does (its own MNIST_PLAYGROUND_DATA / mirror / download), from the
head's data folder when the node sees the same path (a shared folder).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import ray
import ray.exceptions

from mnist_core.backends.execution import execute_run
from mnist_core.backends.tasks import trainer_for
from mnist_core.config import TrainConfig
from mnist_core.events import EpochMetrics, TrainEvent
from mnist_core.runs.store import RunStore
from mnist_core.training import TrainResult

PUSH_INTERVAL_S = 0.25  # as often as a local worker writes into the store
POLL_S = 0.25
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # mnist_core: shipped whole to the nodes


class RayWorkerLost(RuntimeError):
    """The Ray worker or node training a run died before returning its result. `details`: pid and node of the
    worker when known, and the Ray error's name."""

    failure_kind = "ray_worker_lost"

    def __init__(self, message: str, details: dict[str, object]) -> None:
        super().__init__(message)
        self.details = details


class RunHub:
    """The head's mailbox on the cluster: events and worker pids per run (from the tasks), stop requests (from
    the head). A Ray actor without a CPU of its own, one per JobManager."""

    def __init__(self) -> None:
        self.events: dict[int, list[TrainEvent]] = defaultdict(list)
        self.stops: set[int] = set()
        self.workers: dict[int, tuple[int, str]] = {}

    def push(self, run_id: int, events: list[TrainEvent], pid: int, node: str) -> bool:
        """Called by a task; returns whether the head asked the run to stop."""
        self.events[run_id].extend(events)
        self.workers[run_id] = (pid, node)
        return run_id in self.stops

    def drain(self, run_id: int) -> list[TrainEvent]:
        return self.events.pop(run_id, [])

    def stop(self, run_id: int) -> None:
        self.stops.add(run_id)

    def worker(self, run_id: int) -> tuple[int, str] | None:
        """(pid, Ray node id) of the worker training the run, once it has reported."""
        return self.workers.get(run_id)

    def forget(self, run_id: int) -> None:
        self.events.pop(run_id, None)
        self.stops.discard(run_id)
        self.workers.pop(run_id, None)


def _train_on_node(run_id: int, config: TrainConfig, hub, data_root: str | None, device: str | None,
                   options: dict, prepare: Callable | None = None) -> tuple[dict, TrainResult]:
    """The Ray task: train on this node, pushing events to the hub; returns (weights, result without its model).
    `prepare(data, config)`: what a job kind changes in the dataset (a class-set fine-tune adds the class's drawings,
    read on the head, which holds the run store)."""
    import torch

    from mnist_core.data import load_dataset
    from mnist_core.training import flush_denormals, train

    flush_denormals()
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    torch.set_num_threads(max(1, int(cpus)))  # the CPUs Ray gave this task, no more: other tasks share the node
    node, pid = ray.get_runtime_context().get_node_id(), os.getpid()
    if device is None or device == "auto":
        device = "cuda" if ray.get_gpu_ids() else "cpu"
    stop, pending, last_push = threading.Event(), [], [0.0]

    def push() -> None:
        if ray.get(hub.push.remote(run_id, list(pending), pid, node)):
            stop.set()
        pending.clear()
        last_push[0] = time.monotonic()

    def on_event(event: TrainEvent) -> None:
        pending.append(event)
        if isinstance(event, EpochMetrics) or time.monotonic() - last_push[0] >= PUSH_INTERVAL_S:
            push()

    push()  # the head learns where the run trains before the dataset loads
    root = Path(data_root) if data_root and Path(data_root).is_dir() else None  # else the node's own data dir
    data = load_dataset(config.dataset, root)
    if prepare is not None:
        data = prepare(data, config)
    result = train(config, data=data, device=device, on_event=on_event, stop=stop, **options)
    push()
    weights = {name: tensor.detach().cpu() for name, tensor in result.model.state_dict().items()}
    return weights, dataclasses.replace(result, model=None)


def node_address(node_id: str) -> str:
    """A node's IP address (what a teacher recognises), or its id when the cluster no longer lists it."""
    return next((n["NodeManagerAddress"] for n in ray.nodes() if n["NodeID"] == node_id), f"node {node_id[:8]}")


class RemoteTrainer:
    """A stand-in for `training.train` (same call) that trains on the cluster and relays the task's events to
    `on_event` in the calling thread, so `execution.execute_run` stores a remote run as it stores a local one."""

    def __init__(self, hub, data_root: Path | None, remote_device: str | None, gpus_per_run: float) -> None:
        self.hub, self.data_root, self.remote_device = hub, data_root, remote_device
        self.task = ray.remote(_train_on_node).options(num_cpus=1, num_gpus=gpus_per_run, max_retries=0)

    def __call__(self, config: TrainConfig, *, data=None, device=None, on_event: Callable | None = None,
                 stop: threading.Event | None = None, run_id: int = 0, prepare: Callable | None = None,
                 **options) -> TrainResult:
        ref = self.task.remote(run_id, config, self.hub, str(self.data_root) if self.data_root else None,
                          self.remote_device, {k: v for k, v in options.items() if v is not None}, prepare)
        stop_sent = False
        try:
            while True:
                done, _ = ray.wait([ref], timeout=POLL_S)
                self._relay(run_id, on_event)
                if stop is not None and stop.is_set() and not stop_sent:
                    self.hub.stop.remote(run_id)
                    stop_sent = True
                if done:
                    break
            weights, result = self._result(ref, run_id)
            self._relay(run_id, on_event)
        except BaseException:
            self.hub.stop.remote(run_id)  # e.g. the run was deleted meanwhile: the node stops training it
            ray.cancel(ref, force=False)
            raise
        finally:
            self.hub.forget.remote(run_id)
        return self._rebuild(config, weights, result)

    def _relay(self, run_id: int, on_event: Callable | None) -> None:
        for event in ray.get(self.hub.drain.remote(run_id)):
            if on_event is not None:
                on_event(event)

    def _result(self, ref, run_id: int) -> tuple[dict, TrainResult]:
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the training raised: its own error, worded as a local one's
            cause = getattr(exc, "cause", None)
            raise (cause if isinstance(cause, BaseException) else exc.as_instanceof_cause()) from None
        except ray.exceptions.RayError as exc:  # worker or node died, task cancelled, ...
            where = ray.get(self.hub.worker.remote(run_id))
            place = f" (pid {where[0]} on {node_address(where[1])})" if where else ""
            raise RayWorkerLost(f"the Ray worker training this run{place} was lost: {type(exc).__name__}",
                                {"pid": where[0] if where else None, "node": node_address(where[1]) if where else "",
                                 "error": type(exc).__name__}) from None

    @staticmethod
    def _rebuild(config: TrainConfig, weights: dict, result: TrainResult) -> TrainResult:
        from mnist_core.models import build_model

        model = build_model(config)
        model.load_state_dict(weights)
        return dataclasses.replace(result, model=model.eval())


class RayBackend:
    """The JobManager's backend for a Ray cluster: one remote task per run, events relayed by the slot thread."""

    def __init__(self, store: RunStore, address: str, *, slots: int, data_root: Path | None = None,
                 device: str | None = None) -> None:
        self.store, self.data_root, self.device = store, data_root, device
        self._owns_connection = not ray.is_initialized()
        if self._owns_connection:
            # The cluster's nodes get this package from the head: lab PCs need the Python packages, not the code.
            ray.init(address=address, runtime_env={"py_modules": [str(PACKAGE_DIR)]}, log_to_driver=False)
        gpus = ray.cluster_resources().get("GPU", 0.0)
        gpus_per_run = min(1.0, gpus / slots) if gpus else 0.0  # `slots` runs share the cluster's GPUs
        self.hub = ray.remote(RunHub).options(num_cpus=0).remote()
        self.trainer = RemoteTrainer(self.hub, data_root, device, gpus_per_run)

    def run(self, slot: int, run_id: int, config: TrainConfig, stop: threading.Event,
            task: dict | None = None) -> None:
        def remote(*args, **kwargs) -> TrainResult:
            return self.trainer(*args, run_id=run_id, **kwargs)

        # A job kind's trainer (a fine-tune's) runs here on the head, which holds the run store, around the remote one.
        execute_run(self.store, run_id, config, stop=stop, device="cpu", data_root=self.data_root,
                    trainer=trainer_for(self.store, run_id, task, base=remote))

    def worker(self, run_id: int) -> tuple[int, str] | None:
        """(pid, Ray node id) of the Ray worker training a run, once it has started there."""
        return ray.get(self.hub.worker.remote(run_id))

    def close(self, timeout: float) -> None:
        ray.kill(self.hub)
        if self._owns_connection:
            ray.shutdown()
