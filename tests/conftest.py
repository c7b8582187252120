"""Shared fixtures: a writable data dir seeded with the real MNIST/Fashion-MNIST .gz files from ../shared/data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

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


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeded data dir for the whole session (unpacking 4 files per test would be slow)."""
    return seed_data_dir(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def mnist(data_root: Path):
    from mnist_core.data import load_dataset

    return load_dataset("mnist", data_root)
