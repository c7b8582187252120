"""The app's shared, process-wide objects, created once per process with st.cache_resource.

Kept outside app/pages/, which holds only pages. Every getter is keyed by the
directory it serves, so a process (or a test) that points MNIST_PLAYGROUND_RUNS / _DATA elsewhere gets its own
objects instead of another directory's.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import TypeVar

import streamlit as st

from app import i18n
from app.i18n import _
from app.run.texts import png_bytes
from mnist_core import settings
from mnist_core.backends.jobs import JobManager
from mnist_core.cost import check_web_fits
from mnist_core.data import DATASET_INFO, Dataset, load_dataset
from mnist_core.predict import DEFAULT_MODEL_PATH, load_default_model
from mnist_core.runs.record import RunRecord
from mnist_core.runs.store import RunStore
from mnist_core.weights import LoadedModel, WeightsError, load_model

T = TypeVar("T")


def runs_root() -> str:
    return _resolved(settings.runs_dir())


def data_root() -> str:
    return _resolved(settings.data_dir())


@functools.lru_cache(maxsize=16)
def _resolved(path: Path) -> str:
    # Once per directory: resolving walks the path on disk (a stat per component), and every rerun asks several times.
    return str(path.resolve())


@st.cache_resource(show_spinner=False)
def _store(root: str) -> RunStore:
    return RunStore(Path(root))


@st.cache_resource(show_spinner=False)
def _jobs(root: str, data: str) -> JobManager:
    # One manager per process: all browser sessions queue onto the same workers and see the same runs.
    return JobManager(_store(root), data_root=Path(data))


def store() -> RunStore:
    """The run store (SQLite) of MNIST_PLAYGROUND_RUNS."""
    return _store(runs_root())


def jobs() -> JobManager:
    """The process-wide background trainer."""
    return _jobs(runs_root(), data_root())


@st.cache_resource(show_spinner=False)
def _dataset(name: str, root: str) -> Dataset:
    return load_dataset(name, Path(root))


def dataset(name: str) -> Dataset:
    """A dataset's tensors; raises DatasetUnavailable (not cached, so a fixed data dir works on the next try)."""
    with st.spinner(_("Loading the dataset…")):  # shown only when loading takes a moment: a cached one is instant
        return _dataset(name, data_root())


@st.cache_resource(show_spinner=False, max_entries=512)
def _test_image_pngs(name: str, root: str, indices: tuple[int, ...], factor: int) -> list[bytes]:
    images = _dataset(name, root).test_images
    return [png_bytes(images[index].numpy(), factor) for index in indices]


def test_image_pngs(name: str, indices: Sequence[int], factor: int) -> list[bytes]:
    """Test images of a dataset, enlarged `factor` times, as PNG: encoded once per server, not on every rerun of
    every student's page (Home's 20 samples, a run's gallery of mistakes)."""
    return _test_image_pngs(name, data_root(), tuple(int(i) for i in indices), factor)


@st.cache_resource(show_spinner=False, max_entries=256)
def _ended_run_view(key: tuple, _build: Callable[[], T]) -> T:
    return _build()


def ended_run_view(record: RunRecord, what: Hashable, build: Callable[[], T]) -> T:
    """Something an ended run shows (`what`: which; its charts, say), built by `build` once per server and
    language: it can no longer change, and every student who opens the run would otherwise read and build the same
    again. Keyed by when the run ended too: SQLite may give a deleted run's id to a new one. What it gives is
    shared by every session: never change it. A run still queued or training is built anew every time."""
    if record.is_active:
        return build()
    return _ended_run_view((runs_root(), record.id, record.finished, what, i18n.language()), build)


def _mtime(path: Path) -> float:
    """A file's modification time (0.0 while it is missing): part of a cache key, so a replaced file is read anew."""
    return path.stat().st_mtime if path.is_file() else 0.0


@st.cache_resource(show_spinner=False)
def _default_model(stamp: float) -> LoadedModel:
    return load_default_model()


def default_model() -> LoadedModel:
    """The built-in LeNet; raises ModelUnavailable / WeightsError when its file is missing or damaged. Its label
    in the session's language (the cached model is shared by every session, whatever its language)."""
    model = _default_model(_mtime(DEFAULT_MODEL_PATH))
    title = DATASET_INFO[model.config.dataset].title if model.config.dataset in DATASET_INFO else model.config.dataset
    return dataclasses.replace(model, label=_("Built-in LeNet ({dataset})", dataset=title))


@st.cache_resource(show_spinner=False, max_entries=16)
def _run_model(root: str, run_id: int, stamp: float) -> LoadedModel:
    return _store(root).load_model(run_id)


def run_model(run_id: int) -> LoadedModel:
    """A stored run's model. Keyed by the weights file's modification time too: SQLite may give a deleted
    run's id to a new run, and a stale cached model must never answer for it. RunTooLarge, before a byte of the
    file is read, when loading it would take more of the web server's memory than one model may (its config says)."""
    check_web_fits(store().get(run_id).config)
    return _run_model(runs_root(), run_id, _mtime(store().weights_path(run_id)))


@st.cache_resource(show_spinner=False)
def _default_model_accuracy(stamp: float) -> float | None:
    try:
        return float(load_model(DEFAULT_MODEL_PATH).metadata["test_accuracy"])
    except (KeyError, ValueError, WeightsError):
        return None


def default_model_accuracy() -> float | None:
    """The built-in model's MNIST test accuracy from its file's metadata (written when it was trained)."""
    return _default_model_accuracy(_mtime(DEFAULT_MODEL_PATH))
