"""Shared fixtures: a writable data dir seeded with the real MNIST/Fashion-MNIST .gz files from ../shared/data."""

from __future__ import annotations

import functools
import gzip
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_core.config import TrainConfig

PROJECT_DIR = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("MNIST_PLAYGROUND_SHARED_DATA", PROJECT_DIR.parent / "shared" / "data"))


def seed_data_dir(target: Path, folders: tuple[str, ...] = ("MNIST", "FashionMNIST")) -> Path:
    """Copy the genuine raw .gz files into target/<Folder>/raw (torchvision unpacks them there on first load)."""
    for folder in folders:
        src = SHARED_DATA / folder / "raw"
        if not src.is_dir():
            pytest.fail(f"real dataset files missing: {src} (see ../shared/data/README.md)")
        dst = target / folder / "raw"
        dst.mkdir(parents=True, exist_ok=True)
        for gz in src.glob("*.gz"):
            if not (dst / gz.name).exists():
                shutil.copyfile(gz, dst / gz.name)
    return target


CANVAS = 280  # the app's drawing canvas, in pixels
# A real run small enough for any test: 20 iterations of a 784-32-10 MLP on 2,000 images, ~0.1 s on 2 cores.
TINY = TrainConfig(hidden=(32,), epochs=1, train_limit=2000, val_size=500)


def read_idx_gz(path: Path, header: int) -> np.ndarray:
    """A raw IDX .gz file's bytes after its header (16 for images, 8 for labels), parsed with nothing but gzip and
    numpy: independent of mnist_core and torchvision, so tests check our code against the source."""
    if not path.is_file():
        pytest.fail(f"real dataset file missing: {path} (see ../shared/data/README.md)")
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


@functools.lru_cache(maxsize=2)
def raw_test_set(folder: str = "MNIST") -> tuple[np.ndarray, np.ndarray]:
    """The genuine test images (uint8 [10000,28,28]) and labels, read straight from the shared .gz files."""
    raw = SHARED_DATA / folder / "raw"
    images = read_idx_gz(raw / "t10k-images-idx3-ubyte.gz", header=16).reshape(-1, 28, 28)
    return images, read_idx_gz(raw / "t10k-labels-idx1-ubyte.gz", header=8)


def on_canvas(image: np.ndarray, size: int, top: int, left: int) -> np.ndarray:
    """The 28x28 image scaled to size x size px (smooth, like a brush) at (top, left) on the app's opaque black
    RGBA canvas, as a student's drawing arrives from the canvas."""
    stroke = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))
    canvas = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    canvas[..., 3] = 255  # a canvas with a background colour is opaque
    canvas[top : top + size, left : left + size, :3] = stroke[..., None]
    return canvas


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeded data dir for the whole session (unpacking 4 files per test would be slow)."""
    return seed_data_dir(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def mnist(data_root: Path):
    from mnist_core.data import load_dataset

    return load_dataset("mnist", data_root)


def wait_for(condition, timeout: float = 30.0, interval: float = 0.02) -> None:
    """Poll `condition()` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(interval)


@pytest.fixture
def runs_root(tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app (AppTest) on the real dataset files, an empty runs dir of its own, and the CPU as its device, so a
    page that names the device says the same on a machine with a GPU."""
    monkeypatch.setenv("MNIST_PLAYGROUND_DATA", str(data_root))
    monkeypatch.setenv("MNIST_PLAYGROUND_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_PLAYGROUND_DEVICE", "cpu")
    return tmp_path / "runs"


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch):
    """Read an AppTest download button's file as the browser would fetch it. AppTest drops its in-memory media
    store after each run, so the last one is kept here."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.testing.v1 import app_test

    latest: dict[str, MemoryMediaFileStorage] = {}

    class Recording(MemoryMediaFileStorage):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            latest["store"] = self

    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", Recording)

    def read(button) -> bytes:
        file_id = button.proto.url.rsplit("/", 1)[-1].split(".")[0]
        return latest["store"].get_file(file_id).content

    return read


# The browser tests' fixtures (the real app in a subprocess, Chromium), registered once for every
# test_browser*.py module so that the session-scoped server and browser are shared, not started per module.
pytest_plugins = ("browser_support",)
