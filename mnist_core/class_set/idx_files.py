"""The class set as MNIST's own files: IDX (big-endian magic, dimensions, then uint8 data), gzip-packed, so any
MNIST reader (torchvision's included) reads it. Files are written byte for byte the same for the same samples
(gzip without a time stamp or name), so an export, imported and exported again, gives identical files."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile
from pathlib import Path

import numpy as np

from mnist_core.preprocess import SIZE

IMAGES_FILE = "class-images-idx3-ubyte.gz"
LABELS_FILE = "class-labels-idx1-ubyte.gz"
IMAGES_MAGIC = 0x00000803  # uint8 data, 3 dimensions
LABELS_MAGIC = 0x00000801  # uint8 data, 1 dimension


class NotIdxFiles(ValueError):
    """The files are not a class set in IDX format; the message says which file and what is wrong."""


def _packed(payload: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as packed:
        packed.write(payload)
    return buffer.getvalue()


def idx_bytes(images: np.ndarray, labels: np.ndarray) -> tuple[bytes, bytes]:
    """The gzip-packed images and labels files of uint8 images [N, 28, 28] and labels [N]."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    header = struct.pack(">IIII", IMAGES_MAGIC, len(images), SIZE, SIZE)
    return (_packed(header + images.tobytes()),
            _packed(struct.pack(">II", LABELS_MAGIC, len(labels)) + labels.tobytes()))


def write_idx(directory: Path, images: np.ndarray, labels: np.ndarray) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in zip((IMAGES_FILE, LABELS_FILE), idx_bytes(images, labels), strict=True):
        (directory / name).write_bytes(data)
        written.append(directory / name)
    return written


def zip_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    """Both files in one zip, for the teacher's download."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # already gzip-packed
        for name, data in zip((IMAGES_FILE, LABELS_FILE), idx_bytes(images, labels), strict=True):
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def _unpacked(path: Path, limit: int) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as packed:
                data = packed.read(limit + 1)
        except (OSError, EOFError) as exc:
            raise NotIdxFiles(f"{path.name} is not a readable gzip file ({exc})") from None
    if len(data) > limit:
        raise NotIdxFiles(f"{path.name} is larger than any class set may be")
    return data


def _find(directory: Path, names: tuple[str, ...]) -> Path:
    for name in names:
        for candidate in (directory / name, directory / name.removesuffix(".gz")):
            if candidate.is_file():
                return candidate
    raise NotIdxFiles(f"{directory} holds no {names[0]} (nor an unpacked copy)")


def read_idx(directory: Path, max_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, 28, 28] and labels uint8 [N] from a folder holding the two files (packed or not);
    NotIdxFiles when they are missing, are not IDX, disagree on N, or hold a label that is not a digit."""
    directory = Path(directory)
    if not directory.is_dir():
        raise NotIdxFiles(f"{directory} is not a folder")
    images_path = _find(directory, (IMAGES_FILE, "t10k-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz"))
    labels_path = _find(directory, (LABELS_FILE, "t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz"))
    raw_images = _unpacked(images_path, 16 + max_samples * SIZE * SIZE)
    raw_labels = _unpacked(labels_path, 8 + max_samples)
    if len(raw_images) < 16 or struct.unpack(">IIII", raw_images[:16])[0] != IMAGES_MAGIC:
        raise NotIdxFiles(f"{images_path.name} is not an IDX images file (its first bytes are not 00 00 08 03)")
    _, count, rows, cols = struct.unpack(">IIII", raw_images[:16])
    if (rows, cols) != (SIZE, SIZE) or len(raw_images) != 16 + count * SIZE * SIZE:
        raise NotIdxFiles(f"{images_path.name} does not hold {count:,} images of 28x28 pixels "
                          f"({rows}x{cols}, {len(raw_images) - 16:,} bytes of pixels)")
    if len(raw_labels) < 8 or struct.unpack(">II", raw_labels[:8])[0] != LABELS_MAGIC:
        raise NotIdxFiles(f"{labels_path.name} is not an IDX labels file (its first bytes are not 00 00 08 01)")
    (label_count,) = struct.unpack(">I", raw_labels[4:8])
    if label_count != count or len(raw_labels) != 8 + count:
        raise NotIdxFiles(f"{labels_path.name} holds {len(raw_labels) - 8:,} labels for {count:,} images")
    labels = np.frombuffer(raw_labels, np.uint8, offset=8).copy()
    if count and labels.max() > 9:
        raise NotIdxFiles(f"{labels_path.name} holds the label {int(labels.max())}, which is not a digit 0-9")
    return np.frombuffer(raw_images, np.uint8, offset=16).reshape(count, SIZE, SIZE).copy(), labels
