"""MNIST and Fashion-MNIST as uint8 tensors in memory, loaded once per process through torchvision.

Training indexes these tensors directly (see training.py), so there is no per-sample PIL transform.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import FileLock
from torchvision import datasets

from mnist_core import settings
from mnist_core.config import TrainConfig

VALIDATION_SPLIT_SEED = 20_240_601  # fixed, so every run of every seed validates on the same images
# Two trainings starting at once on a fresh data dir would unpack the same files concurrently, and one would
# read the other's half-written file as corrupt: loads happen one at a time.
_LOAD_LOCK = threading.Lock()


class DatasetUnavailable(RuntimeError):
    """The dataset's files are missing and could not be downloaded. `details` (when known) holds the facts of the
    message as data (dataset, missing, directory, source, cause), so the app can word them in the student's language."""

    failure_kind = "dataset_unavailable"

    def __init__(self, message: str, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class DatasetCorrupt(DatasetUnavailable):
    """A dataset file is present but damaged (wrong checksum, truncated, wrong format). `details`: dataset, problem
    (size, md5, download, unreadable or shape), path, and that problem's facts."""

    failure_kind = "dataset_corrupt"


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    folder: str  # torchvision's folder under the data dir: <root>/<folder>/raw/
    torchvision_class: type[datasets.MNIST]
    md5: dict[str, str]  # .gz file name -> md5 (torchvision's own list)
    unpacked_sizes: dict[str, int]  # unpacked file name -> exact byte size (IDX header + payload)
    class_names: tuple[str, ...]

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(self.md5)


def _unpacked_sizes() -> dict[str, int]:
    return {
        "train-images-idx3-ubyte": 16 + 60_000 * 28 * 28,
        "train-labels-idx1-ubyte": 8 + 60_000,
        "t10k-images-idx3-ubyte": 16 + 10_000 * 28 * 28,
        "t10k-labels-idx1-ubyte": 8 + 10_000,
    }


DATASET_INFO: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST",
        folder="MNIST",
        torchvision_class=datasets.MNIST,
        md5=dict(datasets.MNIST.resources),
        unpacked_sizes=_unpacked_sizes(),
        class_names=tuple(str(d) for d in range(10)),
    ),
    "fashion": DatasetInfo(
        name="fashion",
        title="Fashion-MNIST",
        folder="FashionMNIST",
        torchvision_class=datasets.FashionMNIST,
        md5=dict(datasets.FashionMNIST.resources),
        unpacked_sizes=_unpacked_sizes(),
        class_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
    ),
}


@dataclass(frozen=True)
class Dataset:
    name: str
    train_images: torch.Tensor  # uint8 [60000, 28, 28]
    train_labels: torch.Tensor  # int64 [60000]
    test_images: torch.Tensor  # uint8 [10000, 28, 28]
    test_labels: torch.Tensor  # int64 [10000]
    mean: float  # of the training images scaled to [0, 1]
    std: float
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class DatasetStatus:
    name: str
    title: str
    present: bool
    missing: list[str]
    directory: Path


def raw_dir(name: str, root: Path | None = None) -> Path:
    return (root or settings.data_dir()) / _info(name).folder / "raw"


def _info(name: str) -> DatasetInfo:
    if name not in DATASET_INFO:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(DATASET_INFO)}")
    return DATASET_INFO[name]


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_status(root: Path | None = None) -> list[DatasetStatus]:
    """Which datasets can be loaded without a download: each file present packed (.gz) or unpacked."""
    result = []
    for info in DATASET_INFO.values():
        raw = raw_dir(info.name, root)
        missing = [gz for gz in info.files if not (raw / gz).exists() and not (raw / gz.removesuffix(".gz")).exists()]
        result.append(DatasetStatus(info.name, info.title, not missing, missing, raw))
    return result


def import_dataset(name: str, source_dir: Path, root: Path | None = None) -> list[Path]:
    """Copy a dataset's four .gz files from a folder (a USB stick, say) into the data dir, md5-checked first."""
    info, source_dir = _info(name), Path(source_dir)
    sources = []
    for gz, md5 in info.md5.items():
        candidates = [source_dir / gz, source_dir / "raw" / gz, source_dir / info.folder / "raw" / gz]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            looked = ", ".join(str(c.parent) for c in candidates)
            raise DatasetUnavailable(f"{gz} is not in {source_dir} (looked in {looked})")
        if md5_of(found) != md5:
            raise DatasetCorrupt(f"{found} is corrupt: its md5 is not {md5}; copy it again from a good source",
                                 {"dataset": info.name, "problem": "md5", "path": str(found)})
        sources.append(found)
    target = raw_dir(name, root)
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for src in sources:
        tmp = target / (src.name + ".part")
        shutil.copyfile(src, tmp)
        os.replace(tmp, target / src.name)  # atomic: a half-copied file never looks complete
        copied.append(target / src.name)
    return copied


def _mirror_class(info: DatasetInfo) -> type[datasets.MNIST]:
    """torchvision's class, with MNIST_PLAYGROUND_MIRROR (laid out like the data dir) in place of its mirrors."""
    mirror = settings.mirror()
    if not mirror:
        return info.torchvision_class
    base = mirror.rstrip("/") + f"/{info.folder}/raw/"
    # Same class name, so torchvision keeps using <root>/<folder>/raw.
    return type(info.torchvision_class.__name__, (info.torchvision_class,), {"mirrors": [base]})


def _unavailable_message(info: DatasetInfo, raw: Path, missing: list[str], cause: str) -> str:
    mirror = settings.mirror()
    source = f"the mirror {mirror}" if mirror else "the internet"
    return (
        f"{info.title} is not available: {', '.join(missing)} missing from {raw} and could not be downloaded "
        f"from {source} ({cause}). Fix it either way: (1) copy the four files {', '.join(info.files)} from a "
        f"folder or USB stick with `python -m mnist_core data import {info.name} DIR`, or (2) set "
        f"MNIST_PLAYGROUND_MIRROR to a server holding {info.folder}/raw/<file> and retry."
    )


def _check_files(info: DatasetInfo, raw: Path) -> list[str]:
    """Refuse damaged files by name; return the .gz names that are absent (to be downloaded)."""
    missing = []
    for gz, md5 in info.md5.items():
        unpacked = raw / gz.removesuffix(".gz")
        if unpacked.exists():
            expected = info.unpacked_sizes[unpacked.name]
            if unpacked.stat().st_size != expected:
                raise DatasetCorrupt(
                    f"{unpacked} is corrupt: {unpacked.stat().st_size:,} bytes instead of {expected:,}. "
                    "Delete it and load again (the .gz is unpacked anew or downloaded).",
                    {"dataset": info.name, "problem": "size", "path": str(unpacked),
                     "size": unpacked.stat().st_size, "expected": expected},
                )
        elif (raw / gz).exists():
            if md5_of(raw / gz) != md5:
                raise DatasetCorrupt(
                    f"{raw / gz} is corrupt or truncated (md5 is not {md5}). "
                    "Delete it and import or download it again.",
                    {"dataset": info.name, "problem": "md5", "path": str(raw / gz)},
                )
        else:
            missing.append(gz)
    return missing


def _refuse_bad_downloads(info: DatasetInfo, raw: Path, downloaded: list[str]) -> None:
    """A download that failed its md5 check: name the file and remove it, so fixing the source and retrying works."""
    for gz in downloaded:
        path = raw / gz
        if path.exists() and md5_of(path) != info.md5[gz]:
            path.unlink()
            mirror = settings.mirror()
            source = f"the mirror {mirror}" if mirror else "the internet"
            raise DatasetCorrupt(
                f"{gz} downloaded from {source} is corrupt (md5 is not {info.md5[gz]}), so it was not used and "
                f"was removed from {raw}. Replace the mirror's copy, or copy the four files {', '.join(info.files)} "
                f"with `python -m mnist_core data import {info.name} DIR`.",
                {"dataset": info.name, "problem": "download", "path": str(path), "mirror": mirror or ""},
            )


@functools.lru_cache(maxsize=4)
def _load(name: str, root: Path) -> Dataset:
    info = _info(name)
    raw = raw_dir(name, root)
    missing = _check_files(info, raw)
    cls = _mirror_class(info)
    try:
        train = cls(str(root), train=True, download=True)
        test = cls(str(root), train=False, download=True)
    except (RuntimeError, OSError, ValueError) as exc:  # torchvision: md5 RuntimeError, URLError (OSError), ...
        cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        _refuse_bad_downloads(info, raw, missing)
        if missing:
            raise DatasetUnavailable(_unavailable_message(info, raw, missing, cause),
                                     {"dataset": info.name, "missing": tuple(missing), "directory": str(raw),
                                      "mirror": settings.mirror() or "", "cause": cause}) from None
        raise DatasetCorrupt(f"{info.title} files in {raw} could not be read: {cause}",
                             {"dataset": info.name, "problem": "unreadable", "path": str(raw),
                              "cause": cause}) from None
    splits = (("train", train.data, train.targets, 60_000), ("test", test.data, test.targets, 10_000))
    for split, images, labels, count in splits:
        if (images.shape != (count, 28, 28) or labels.shape != (count,)
                or int(labels.min()) < 0 or int(labels.max()) > 9):
            raise DatasetCorrupt(f"{info.title} {split} files in {raw} do not hold {count:,} 28x28 images "
                                 "with labels 0-9",
                                 {"dataset": info.name, "problem": "shape", "path": str(raw), "count": count})
    scaled = train.data.float().div_(255)
    return Dataset(
        name=name,
        train_images=train.data,
        train_labels=train.targets.long(),
        test_images=test.data,
        test_labels=test.targets.long(),
        mean=float(scaled.mean()),
        std=float(scaled.std()),
        class_names=info.class_names,
    )


def load_dataset(name: str, root: Path | None = None) -> Dataset:
    """Load (and on first use unpack or download) a dataset; cached for the life of the process."""
    _info(name)
    root = Path(root or settings.data_dir()).resolve()
    root.mkdir(parents=True, exist_ok=True)
    # Threads of this process and other processes (training workers, the CLI beside the app) must not unpack or
    # download the same files at once: torchvision writes them in place, and a reader would see half a file.
    with _LOAD_LOCK, FileLock(root / f".{_info(name).folder}.load.lock"):
        return _load(name, root)


def dataset_loads() -> int:
    """How many datasets this process has read from disk (cache misses): a worker process loads each once."""
    return _load.cache_info().misses


def normalize(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 [N,28,28] -> float32 [N,1,28,28], standardised with the training set's statistics."""
    return images.unsqueeze(1).float().div_(255).sub_(mean).div_(std)


def split_indices(config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic train/validation split of the 60,000 training images; train_limit caps the train part."""
    order = torch.randperm(60_000, generator=torch.Generator().manual_seed(VALIDATION_SPLIT_SEED))
    val, train = order[: config.val_size], order[config.val_size :]
    if config.train_limit:
        train = train[: config.train_limit]
    return train, val
