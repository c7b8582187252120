"""Shared fixtures: a writable data dir seeded with the real MNIST/Fashion-MNIST .gz files from ../shared/data."""

from __future__ import annotations

import functools
import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

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


@functools.lru_cache(maxsize=2)
def raw_test_set(folder: str = "MNIST") -> tuple[np.ndarray, np.ndarray]:
    """The genuine test images (uint8 [10000,28,28]) and labels, read straight from the shared .gz files:
    independent of mnist_core, so tests check our code against the source, not against itself."""
    raw = SHARED_DATA / folder / "raw"
    if not raw.is_dir():
        pytest.fail(f"real dataset files missing: {raw} (see ../shared/data/README.md)")
    with gzip.open(raw / "t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(raw / "t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images, labels


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeded data dir for the whole session (unpacking 4 files per test would be slow)."""
    return seed_data_dir(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def mnist(data_root: Path):
    from mnist_core.data import load_dataset

    return load_dataset("mnist", data_root)


# The browser tests' fixtures (the real app in a subprocess, Chromium), registered once for every
# test_browser*.py module so that the session-scoped server and browser are shared, not started per module.
pytest_plugins = ("browser_support",)
