"""The server's settings: every MNIST_PLAYGROUND_* environment variable is read here and nowhere else.

Read on each call (not at import), so a test or a CLI command that sets a variable sees it at once."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_MAX_JOBS = 4  # an optimizer race of four runs side by side; further runs queue

DATA_ENV = "MNIST_PLAYGROUND_DATA"
RUNS_ENV = "MNIST_PLAYGROUND_RUNS"
MIRROR_ENV = "MNIST_PLAYGROUND_MIRROR"
DEVICE_ENV = "MNIST_PLAYGROUND_DEVICE"
MAX_JOBS_ENV = "MNIST_PLAYGROUND_MAX_JOBS"
RAY_ADDRESS_ENV = "MNIST_PLAYGROUND_RAY_ADDRESS"
TEACHER_KEY_ENV = "MNIST_PLAYGROUND_TEACHER_KEY"
TRAINER_ENV = "MNIST_PLAYGROUND_TRAINER"
WORKER_IDLE_ENV = "MNIST_PLAYGROUND_WORKER_IDLE_S"
DEFAULT_WORKER_IDLE_S = 60.0  # a minute: a class's next run rarely waits on a fresh worker, memory soon comes back


def _get(name: str) -> str:
    return os.environ.get(name, "").strip()


def data_dir() -> Path:
    """Where the datasets live (torchvision's layout): MNIST_PLAYGROUND_DATA, else `<project>/data`."""
    return Path(_get(DATA_ENV) or PROJECT_DIR / "data")


def runs_dir() -> Path:
    """Where runs live (SQLite + weights): MNIST_PLAYGROUND_RUNS, else `<project>/runs`."""
    return Path(_get(RUNS_ENV) or PROJECT_DIR / "runs")


def mirror() -> str | None:
    """MNIST_PLAYGROUND_MIRROR: a server laid out like the data dir, in place of torchvision's mirrors."""
    return _get(MIRROR_ENV) or None


def device_preference() -> str:
    """MNIST_PLAYGROUND_DEVICE ("cpu", "cuda", "mps", ...), else "auto"."""
    return _get(DEVICE_ENV) or "auto"


def max_jobs() -> int:
    """MNIST_PLAYGROUND_MAX_JOBS: how many runs train at once; ValueError for anything but a whole number >= 1."""
    raw = _get(MAX_JOBS_ENV)
    if not raw:
        return DEFAULT_MAX_JOBS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{MAX_JOBS_ENV} must be a whole number of at least 1, got {raw!r}")
    return value


def worker_idle_s() -> float:
    """MNIST_PLAYGROUND_WORKER_IDLE_S: seconds a local worker process stays after its last run before it exits and
    gives its memory back (default 60; 0: never); ValueError for anything but a number >= 0."""
    raw = _get(WORKER_IDLE_ENV)
    if not raw:
        return DEFAULT_WORKER_IDLE_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):  # also refuses nan
        raise ValueError(f"{WORKER_IDLE_ENV} must be a number of seconds, 0 or more, got {raw!r}")
    return value


def teacher_key() -> str | None:
    """MNIST_PLAYGROUND_TEACHER_KEY: the key that unlocks teacher mode; None (no teacher mode) when unset."""
    return _get(TEACHER_KEY_ENV) or None


def trains_here() -> bool:
    """MNIST_PLAYGROUND_TRAINER: "here" (the default) trains this process's queue in worker processes it starts;
    "elsewhere" only queues runs, for another process sharing the store to train (`make serve-class`: several app
    processes and one `python -m mnist_core serve-jobs`). ValueError for anything else."""
    raw = _get(TRAINER_ENV).lower() or "here"
    if raw not in ("here", "elsewhere"):
        raise ValueError(f'{TRAINER_ENV} must be "here" or "elsewhere", got {raw!r}')
    return raw == "here"


def ray_address() -> str | None:
    """MNIST_PLAYGROUND_RAY_ADDRESS ("auto", "ray://head:10001", "head:6379"): train on that Ray cluster instead of
    the local pool of worker processes; None (the local pool) when unset."""
    return _get(RAY_ADDRESS_ENV) or None


# What one student's run may take of the server (mnist_core.cost checks a run against them before it is stored).
RUN_MEMORY_ENV = "MNIST_PLAYGROUND_RUN_MEMORY_MB"
RUN_DISK_ENV = "MNIST_PLAYGROUND_RUN_DISK_MB"
WEB_MODEL_ENV = "MNIST_PLAYGROUND_WEB_MODEL_MB"
MB = 1024 * 1024
# 0.6 of the RAM shared by the worker slots: the rest is for the web server, each worker's ~0.3 GB of PyTorch and
# the operating system, so that every slot running its largest allowed run at once still fits.
RUN_MEMORY_SHARE = 0.6
DEFAULT_RUN_DISK_MB = 200  # 13x the course's largest preset (dnn-5 with Adam, 14 MB); 30 students: 6 GB at most
DEFAULT_WEB_MODEL_MB = 300  # loading a model in the web server: 16 cached models still fit beside the app


def _megabytes(name: str, default_mb: float) -> int:
    """A size in MB (2^20 bytes) from the variable `name`, as bytes; ValueError for anything but a number > 0."""
    raw = _get(name)
    if not raw:
        return int(default_mb * MB)
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a number of megabytes greater than 0, got {raw!r}")
    return int(value * MB)


def run_memory_bytes() -> int:
    """MNIST_PLAYGROUND_RUN_MEMORY_MB: the memory one run may use, in bytes. Default: RUN_MEMORY_SHARE of this
    machine's RAM divided by the worker slots (max_jobs), e.g. 0.6 x 23 GB / 4 = 3.5 GB."""
    import psutil  # only here: reading the other settings needs no third-party module

    return _megabytes(RUN_MEMORY_ENV, RUN_MEMORY_SHARE * psutil.virtual_memory().total / max_jobs() / MB)


def run_disk_bytes() -> int:
    """MNIST_PLAYGROUND_RUN_DISK_MB: the largest weights file one run may write, in bytes (default 200 MB)."""
    return _megabytes(RUN_DISK_ENV, DEFAULT_RUN_DISK_MB)


def web_model_bytes() -> int:
    """MNIST_PLAYGROUND_WEB_MODEL_MB: the memory the web server may spend loading one model and reading one
    drawing with it, in bytes (default 300 MB)."""
    return _megabytes(WEB_MODEL_ENV, DEFAULT_WEB_MODEL_MB)
