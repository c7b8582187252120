"""The real datasets: contents, statistics, the validation split, the download path and every way files go wrong."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import shutil
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch

from mnist_core.config import TrainConfig
from mnist_core.data import (
    DATASET_INFO,
    DatasetCorrupt,
    DatasetUnavailable,
    dataset_status,
    import_dataset,
    load_dataset,
    md5_of,
    normalize,
    split_indices,
)
from mnist_core.settings import data_dir

from conftest import PROJECT_DIR, SHARED_DATA, read_idx_gz, seed_data_dir

MNIST_FILES = DATASET_INFO["mnist"].files


# -- the real data --------------------------------------------------------------------------------


def test_mnist_shapes_and_dtypes(mnist):
    assert mnist.name == "mnist"
    assert mnist.train_images.shape == (60_000, 28, 28) and mnist.train_images.dtype == torch.uint8
    assert mnist.test_images.shape == (10_000, 28, 28) and mnist.test_images.dtype == torch.uint8
    assert mnist.train_labels.shape == (60_000,) and mnist.train_labels.dtype == torch.int64
    assert mnist.test_labels.shape == (10_000,) and mnist.test_labels.dtype == torch.int64
    assert mnist.class_names == tuple("0123456789")


@pytest.mark.parametrize("split", ["train", "t10k"])
def test_mnist_labels_and_pixels_match_the_raw_files(mnist, split):
    labels = read_idx_gz(SHARED_DATA / "MNIST" / "raw" / f"{split}-labels-idx1-ubyte.gz", header=8)
    images = read_idx_gz(SHARED_DATA / "MNIST" / "raw" / f"{split}-images-idx3-ubyte.gz", header=16)
    ours_labels = mnist.train_labels if split == "train" else mnist.test_labels
    ours_images = mnist.train_images if split == "train" else mnist.test_images
    expected_counts = np.bincount(labels, minlength=10)
    assert torch.bincount(ours_labels, minlength=10).tolist() == expected_counts.tolist()
    assert np.array_equal(ours_labels.numpy(), labels)
    assert np.array_equal(ours_images.numpy().reshape(-1), images)
    if split == "train":  # the well-known counts of MNIST's training set
        assert expected_counts[0] == 5923 and expected_counts[1] == 6742


def test_mnist_normalisation(mnist):
    assert mnist.mean == pytest.approx(0.1307, abs=5e-5)
    assert mnist.std == pytest.approx(0.3081, abs=5e-5)
    x = normalize(mnist.train_images, mnist.mean, mnist.std)
    assert x.shape == (60_000, 1, 28, 28) and x.dtype == torch.float32
    assert float(x.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(x.std()) == pytest.approx(1.0, abs=1e-4)
    # Background pixels (0) map to -mean/std, full ink (255) to (1-mean)/std.
    assert float(x.min()) == pytest.approx(-mnist.mean / mnist.std, abs=1e-5)
    assert float(x.max()) == pytest.approx((1 - mnist.mean) / mnist.std, abs=1e-5)


def test_fashion_loads_with_its_own_statistics_and_names(data_root):
    fashion = load_dataset("fashion", data_root)
    assert fashion.name == "fashion"
    assert fashion.train_images.shape == (60_000, 28, 28) and fashion.test_images.shape == (10_000, 28, 28)
    assert fashion.mean == pytest.approx(0.2860, abs=5e-5)
    assert fashion.std == pytest.approx(0.3530, abs=5e-5)
    labels = read_idx_gz(SHARED_DATA / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte.gz", header=8)
    assert np.array_equal(fashion.train_labels.numpy(), labels)
    assert fashion.class_names == (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    )
    assert DATASET_INFO["fashion"].title == "Fashion-MNIST"


def test_load_is_cached_per_root(mnist, data_root):
    assert load_dataset("mnist", data_root) is mnist


def test_unknown_dataset_is_refused(data_root):
    with pytest.raises(ValueError, match="kmnist"):
        load_dataset("kmnist", data_root)


def test_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_PLAYGROUND_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.delenv("MNIST_PLAYGROUND_DATA")
    assert data_dir().name == "data"


# -- the validation split -------------------------------------------------------------------------


def test_split_is_deterministic_and_disjoint():
    train, val = split_indices(TrainConfig())
    train2, val2 = split_indices(TrainConfig(seed=123))  # every seed validates on the same images
    assert torch.equal(train, train2) and torch.equal(val, val2)
    assert len(train) == 55_000 and len(val) == 5_000
    assert not set(train.tolist()) & set(val.tolist())
    assert sorted(train.tolist() + val.tolist()) == list(range(60_000))


def test_split_without_validation_and_with_a_limit():
    train, val = split_indices(TrainConfig(val_size=0))
    assert len(val) == 0 and sorted(train.tolist()) == list(range(60_000))

    full_train, full_val = split_indices(TrainConfig())
    limited, limited_val = split_indices(TrainConfig(train_limit=10_000))
    assert len(limited) == 10_000 == TrainConfig(train_limit=10_000).train_samples
    assert torch.equal(limited_val, full_val)
    assert set(limited.tolist()) <= set(full_train.tolist())

    assert len(split_indices(TrainConfig(val_size=1000))[1]) == 1000


def test_split_has_every_class_in_validation(mnist):
    _, val = split_indices(TrainConfig())
    counts = torch.bincount(mnist.train_labels[val], minlength=10)
    assert int(counts.min()) > 300  # a random split, not the first 5,000 of one class


# -- the download path against a local mirror -------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requested: list[str]

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.requested.append(self.path)
        super().do_GET()


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # a client closing early (torchvision probes for redirects) is not a test failure


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP mirror laid out like the data dir, serving copies of the real files."""
    base = seed_data_dir(tmp_path / "mirror", folders=("MNIST",))
    requested: list[str] = []
    handler = type("Handler", (_QuietHandler,), {"requested": requested})
    server = _QuietServer(("127.0.0.1", 0), functools.partial(handler, directory=str(base)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", base, requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_from_mirror_end_to_end(mirror, mnist, tmp_path, monkeypatch):
    url, _, requested = mirror
    monkeypatch.setenv("MNIST_PLAYGROUND_MIRROR", url + "/")
    root = tmp_path / "empty"
    root.mkdir()
    downloaded = load_dataset("mnist", root)
    assert {p.rsplit("/", 1)[-1] for p in requested} == set(MNIST_FILES)
    assert all(p.startswith("/MNIST/raw/") for p in requested)
    raw = root / "MNIST" / "raw"
    for gz, md5 in DATASET_INFO["mnist"].md5.items():
        assert md5_of(raw / gz) == md5
    assert torch.equal(downloaded.train_images, mnist.train_images)
    assert torch.equal(downloaded.test_labels, mnist.test_labels)
    assert downloaded.mean == mnist.mean
    assert dataset_status(root)[0].present


@pytest.mark.parametrize("damage", ["fashion labels served as MNIST's", "truncated"])
def test_download_of_a_bad_file_is_refused(mirror, mnist, tmp_path, monkeypatch, damage):
    url, base, _ = mirror
    bad = base / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    good = bad.read_bytes()
    if damage == "truncated":
        bad.write_bytes(good[: len(good) // 2])
    else:  # a valid gzip of valid IDX labels, only not MNIST's: loading it would give a silently wrong dataset
        shutil.copyfile(SHARED_DATA / "FashionMNIST" / "raw" / bad.name, bad)
    monkeypatch.setenv("MNIST_PLAYGROUND_MIRROR", url)
    root = tmp_path / "empty"
    root.mkdir()
    with pytest.raises(DatasetCorrupt) as caught:
        load_dataset("mnist", root)
    message = str(caught.value)
    assert "train-labels-idx1-ubyte.gz" in message and "corrupt" in message and url in message

    # Once the mirror holds the right file again, retrying works (the bad download was not kept).
    bad.write_bytes(good)
    again = load_dataset("mnist", root)
    assert torch.equal(again.train_labels, mnist.train_labels)


@pytest.mark.parametrize("name", ["mnist", "fashion"])
def test_mirror_down_and_no_files(tmp_path, monkeypatch, name):
    url = f"http://127.0.0.1:{_dead_port()}"
    monkeypatch.setenv("MNIST_PLAYGROUND_MIRROR", url)
    monkeypatch.setenv("MNIST_PLAYGROUND_DATA", str(tmp_path / "nothing-here"))
    info = DATASET_INFO[name]
    with pytest.raises(DatasetUnavailable) as caught:
        load_dataset(name)
    assert not isinstance(caught.value, DatasetCorrupt)
    message = str(caught.value)
    assert info.title in message
    assert str(tmp_path / "nothing-here" / info.folder / "raw") in message
    for gz in info.files:
        assert gz in message
    assert f"python -m mnist_core data import {name}" in message
    assert "MNIST_PLAYGROUND_MIRROR" in message and url in message


# -- damaged files in the data dir -------------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch):
    """A dead mirror, so a test of local files can never reach the internet."""
    monkeypatch.setenv("MNIST_PLAYGROUND_MIRROR", f"http://127.0.0.1:{_dead_port()}")


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
@pytest.mark.parametrize("damage", ["truncated", "one byte flipped"])
def test_corrupt_gz_in_data_dir(tmp_path, offline, name, damage):
    root = seed_data_dir(tmp_path, folders=("MNIST",))
    path = root / "MNIST" / "raw" / name
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetCorrupt) as caught:
        load_dataset("mnist", root)
    assert str(path) in str(caught.value)


def test_truncated_unpacked_file_in_data_dir(tmp_path, offline):
    root = seed_data_dir(tmp_path, folders=("MNIST",))
    unpacked = root / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    with gzip.open(SHARED_DATA / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz", "rb") as f:
        unpacked.write_bytes(f.read()[:200_000])
    with pytest.raises(DatasetCorrupt) as caught:
        load_dataset("mnist", root)
    assert str(unpacked) in str(caught.value) and "200,000" in str(caught.value)


# -- import and status -----------------------------------------------------------------------------


def test_import_dataset_and_status(tmp_path, offline, mnist):
    root = tmp_path / "data"
    before = {s.name: s for s in dataset_status(root)}
    assert set(before) == {"mnist", "fashion"}
    assert not before["mnist"].present and before["mnist"].missing == list(MNIST_FILES)
    assert before["mnist"].directory == root / "MNIST" / "raw"

    copied = import_dataset("mnist", SHARED_DATA, root)  # finds <source>/MNIST/raw/*.gz
    assert sorted(p.name for p in copied) == sorted(MNIST_FILES)
    for path in copied:
        assert path.parent == root / "MNIST" / "raw"
        assert md5_of(path) == DATASET_INFO["mnist"].md5[path.name]
    assert not list((root / "MNIST" / "raw").glob("*.part"))

    after = {s.name: s for s in dataset_status(root)}
    assert after["mnist"].present and after["mnist"].missing == []
    assert not after["fashion"].present and len(after["fashion"].missing) == 4
    assert torch.equal(load_dataset("mnist", root).train_labels, mnist.train_labels)


def test_import_from_a_flat_folder(tmp_path):
    usb = tmp_path / "usb"
    shutil.copytree(SHARED_DATA / "FashionMNIST" / "raw", usb)
    copied = import_dataset("fashion", usb, tmp_path / "data")
    assert len(copied) == 4 and all(p.parent == tmp_path / "data" / "FashionMNIST" / "raw" for p in copied)


def test_import_refuses_a_corrupt_source(tmp_path):
    usb = tmp_path / "usb"
    shutil.copytree(SHARED_DATA / "MNIST" / "raw", usb)
    bad = usb / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-100])
    root = tmp_path / "data"
    with pytest.raises(DatasetCorrupt) as caught:
        import_dataset("mnist", usb, root)
    assert str(bad) in str(caught.value)
    assert not (root / "MNIST" / "raw").exists() or not list((root / "MNIST" / "raw").iterdir())
    assert not dataset_status(root)[0].present


def test_import_names_a_missing_source_file(tmp_path):
    usb = tmp_path / "usb"
    shutil.copytree(SHARED_DATA / "MNIST" / "raw", usb)
    (usb / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetUnavailable) as caught:
        import_dataset("mnist", usb, tmp_path / "data")
    assert "train-labels-idx1-ubyte.gz" in str(caught.value) and str(usb) in str(caught.value)


def test_two_first_loads_at_once_both_succeed(tmp_path, offline, mnist):
    """Two trainings starting together on a fresh data dir: the second must not read the first's half-unpacked file."""
    root = seed_data_dir(tmp_path, folders=("MNIST",))
    unpacked = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    outcomes: list = []

    def load() -> None:
        try:
            outcomes.append(load_dataset("mnist", root).train_labels)
        except Exception as exc:  # noqa: BLE001 - the test reports whatever went wrong
            outcomes.append(exc)

    first, second = threading.Thread(target=load), threading.Thread(target=load)
    first.start()
    for _ in range(2000):  # start the second load while the first is unpacking
        if unpacked.exists() or not first.is_alive():
            break
        time.sleep(0.001)
    second.start()
    first.join(60)
    second.join(60)
    assert len(outcomes) == 2
    for outcome in outcomes:
        assert isinstance(outcome, torch.Tensor), outcome
        assert torch.equal(outcome, mnist.train_labels)


_LOAD_AND_CHECKSUM = """
import hashlib, sys
from pathlib import Path
from mnist_core.data import load_dataset
data = load_dataset("mnist", Path(sys.argv[1]))
print(hashlib.md5(data.test_images.numpy().tobytes()).hexdigest())
"""


def test_processes_loading_a_fresh_data_dir_at_once_all_read_the_whole_files(tmp_path):
    """Training workers start together on a data dir holding only the .gz files: each must read the genuine
    test images, none half an unpacked file another is still writing."""
    root = seed_data_dir(tmp_path / "fresh", folders=("MNIST",))
    expected = hashlib.md5(read_idx_gz(SHARED_DATA / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz", 16)).hexdigest()
    procs = [subprocess.Popen([sys.executable, "-c", _LOAD_AND_CHECKSUM, str(root)], cwd=PROJECT_DIR,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in results]
    assert [out.strip() for out, _ in results] == [expected] * 3
