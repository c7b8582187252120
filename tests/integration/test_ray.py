"""The Ray backend on a real local Ray cluster (2 CPUs, this machine only, one cluster shared by the module's tests):
a run trains on a Ray worker with its events arriving live in the head's store, Stop works, and a killed Ray
worker fails its run with a message while the next run still trains."""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path

import pytest
import ray

from mnist_core.backends.jobs import JobManager
from mnist_core.backends.ray_cluster import RayBackend, node_address
from mnist_core.config import TrainConfig
from mnist_core.runs.store import RunStore

from conftest import wait_for

TINY = TrainConfig(hidden=(32,), epochs=1, train_limit=2000, val_size=500)
LONG = TINY.replace(epochs=200, train_limit=20_000)  # minutes if nobody stops it


@pytest.fixture(scope="module")
def cluster():
    # A short temp dir: Ray's unix socket paths must stay under ~107 characters. Ray swaps 127.0.0.1 for the
    # machine's own address (services.resolve_ip_for_localhost), so the node is named by that one.
    with tempfile.TemporaryDirectory(prefix="ray", dir="/tmp") as temp:
        ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp, _node_ip_address="127.0.0.1",
                 log_to_driver=False, configure_logging=False)
        try:
            yield
        finally:
            ray.shutdown()


@pytest.fixture
def manager(cluster, tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MNIST_PLAYGROUND_RAY_ADDRESS", "auto")  # the app's switch; ray is already connected here
    jobs = JobManager(RunStore(tmp_path / "runs"), max_concurrent=2, data_root=data_root, device="cpu")
    assert isinstance(jobs.backend, RayBackend)
    yield jobs
    jobs.shutdown(timeout=60)


def test_a_run_trains_on_ray_with_live_events_and_stops(manager: JobManager) -> None:
    store = manager.store
    run_id = manager.submit(LONG, name="on the cluster")
    # Events reach the head's store while the run still trains on the Ray worker.
    wait_for(lambda: len(store.losses(run_id).iterations) >= 20 and store.get(run_id).progress is not None, 90)
    record = store.get(run_id)
    assert record.status == "running" and record.progress["iteration"] >= 20
    pid, node = manager.backend.worker(run_id)
    assert pid != os.getpid() and node == ray.get_runtime_context().get_node_id()  # a Ray worker of this node
    assert node_address(node) == ray.util.get_node_ip_address()  # errors name the node by its address
    assert manager.stop(run_id)
    assert manager.wait(run_id, timeout=90)
    record = store.get(run_id)
    assert record.status == "stopped" and record.error is None
    assert record.progress["iteration"] < LONG.total_iterations
    assert record.test_accuracy > 0.5 and record.device == "cpu"
    model = store.load_model(run_id)  # the final weights came back to the head
    assert model.config == LONG and model.label == "on the cluster"


def test_a_killed_ray_worker_fails_its_run_and_the_next_run_trains(manager: JobManager) -> None:
    store = manager.store
    doomed = manager.submit(LONG)
    wait_for(lambda: manager.backend.worker(doomed) is not None and store.losses(doomed).iterations, 90)
    pid, _ = manager.backend.worker(doomed)
    os.kill(pid, signal.SIGKILL)
    assert manager.wait(doomed, timeout=90)
    record = store.get(doomed)
    assert record.status == "failed"
    assert "Ray worker training this run" in record.error
    assert f"pid {pid} on {ray.util.get_node_ip_address()}" in record.error
    assert record.failure.kind == "ray_worker_lost"
    assert (record.failure.facts["pid"], record.failure.facts["node"]) == (pid, ray.util.get_node_ip_address())
    assert not store.has_weights(doomed)

    after = manager.submit(TINY.replace(epochs=2))
    assert manager.wait(after, timeout=120)
    record = store.get(after)
    assert record.status == "completed" and record.test_accuracy > 0.5
    assert [e.epoch for e in store.epochs(after)] == [1, 2]
    assert store.losses(after).iterations[-1] == TINY.replace(epochs=2).total_iterations
    assert store.has_weights(after)
