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


def teacher_key() -> str | None:
    """MNIST_PLAYGROUND_TEACHER_KEY: the key that unlocks teacher mode; None (no teacher mode) when unset."""
    return _get(TEACHER_KEY_ENV) or None


def ray_address() -> str | None:
    """MNIST_PLAYGROUND_RAY_ADDRESS ("auto", "ray://head:10001", "head:6379"): train on that Ray cluster instead of
    the local pool of worker processes; None (the local pool) when unset."""
    return _get(RAY_ADDRESS_ENV) or None
