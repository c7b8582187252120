"""mnist_core.cost, checked against PyTorch itself: the layer table and parameter count against the built network,
the activations kept for backward against the tensors autograd really saves, the weights file against files
save_model really writes, the memory of a whole run and of loading a model against a real process's peak (RSS);
then the budgets: the issue's 32 GB run is refused naming the batch size, small runs fit. Also the upload limits
of mnist_core.image_files (checked from the header, before decoding)."""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from mnist_core import cost, settings
from mnist_core.config import ACTIVATIONS, OPTIMIZERS, PRESETS, TrainConfig, preset_config
from mnist_core.image_files import MAX_BYTES, ImageFileError, read_image_file
from mnist_core.models import SeededDropout, build_model, layer_summary, parameter_count
from mnist_core.training import make_optimizer
from mnist_core.weights import save_model

from conftest import PROJECT_DIR, TINY

GRID = [TrainConfig(model=model, activation=activation, dropout=dropout, hidden=hidden, conv_channels=(4, 6))
        for model, activation, dropout, hidden in itertools.product(
            ("mlp", "cnn"), ACTIVATIONS, (0.0, 0.3), ((), (24,), (32, 16)))]
ISSUE_RUN = preset_config("lenet", batch_size=55_000, conv_channels=(256, 256))  # "needs about 32 GB"
MB = settings.MB
RAW_DATASET = 70_000 * (28 * 28 + 8)  # uint8 images and int64 labels: loaded before the measurement starts


def real_step(config: TrainConfig, batch: int = 4):
    """A built network and its optimizer after one real training step on random images (the state exists)."""
    model = build_model(config)
    optimizer = make_optimizer(config, model.parameters(), torch.device("cpu"))
    F.cross_entropy(model(torch.randn(batch, 1, 28, 28)), torch.arange(batch) % 10).backward()
    optimizer.step()
    return model, optimizer


def autograd_saved_per_sample(config: TrainConfig, batch: int = 8) -> float:
    """Float32 values per sample that autograd keeps for backward in the trainer's forward pass (channels_last CNN,
    seeded dropout), counted by saved_tensors_hooks: each storage once, the weights left out."""
    model = build_model(config)
    if config.model == "cnn":
        model = model.to(memory_format=torch.channels_last)
    for module in model.modules():
        if isinstance(module, SeededDropout):
            module.generator = torch.Generator().manual_seed(1)
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        F.cross_entropy(model(torch.randn(batch, 1, 28, 28)), torch.arange(batch) % 10)
    total_weight = 4  # cross_entropy's one float32 scalar, not per sample
    return (sum(saved.values()) - total_weight) / 4 / batch


@pytest.mark.parametrize("config", GRID + list(PRESETS.values()), ids=lambda c: f"{c.model}-{c.activation}-"
                         f"{c.dropout}-{'x'.join(map(str, c.hidden)) or 'none'}")
def test_layers_and_parameters_are_those_of_the_built_network(config: TrainConfig) -> None:
    model = build_model(config)
    assert [(r.name, r.kind, r.output_shape, r.params) for r in cost.layers(config)] == [
        (r.name, r.kind, r.output_shape, r.params) for r in layer_summary(model)]
    assert cost.run_cost(config).parameters == parameter_count(model)


@pytest.mark.parametrize("config", GRID, ids=lambda c: f"{c.model}-{c.activation}-{c.dropout}-{len(c.hidden)}")
def test_activations_kept_for_backward_are_exactly_what_autograd_saves(config: TrainConfig) -> None:
    assert cost.saved_per_sample(cost.layers(config)) == autograd_saved_per_sample(config)


@pytest.mark.parametrize("config", [TrainConfig(hidden=(), optimizer=o) for o in OPTIMIZERS]
                         + [preset_config("lenet"), preset_config("dnn-5-dropout", optimizer="rmsprop")],
                         ids=lambda c: f"{c.preset or c.model}-{c.optimizer}")
def test_weights_file_estimate_is_the_real_file_size(config: TrainConfig, tmp_path: Path) -> None:
    model, optimizer = real_step(config)
    path = tmp_path / "run.safetensors"
    save_model(path, model, config, 0.13066047430038452, 0.30810782313346863,
               metadata={"run_id": "123", "name": "my first Adam run"}, optimizer_state=optimizer.state_dict())
    real, estimate = path.stat().st_size, cost.run_cost(config).weights_file_bytes
    assert real <= estimate <= real * 1.01, (real, estimate)


def test_the_largest_network_writes_the_issues_1_45_gb() -> None:
    largest = TrainConfig(hidden=(4096,) * 8)  # Adam: weights and two moments
    assert cost.run_cost(largest).weights_file_bytes == pytest.approx(1.45e9, rel=0.01)


# The peak RSS of this process's memory since it started: VmHWM, not getrusage's ru_maxrss, which a child keeps
# from the process it was forked from (the test runner, hundreds of MB) across exec.
PEAK = """
def peak():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
"""


def peak_rss(script: str, *args: str, data_root: Path | None = None) -> dict:
    """Run `script` in a fresh Python (its own peak RSS) and return the JSON it prints last."""
    if not Path("/proc/self/status").is_file():
        pytest.skip("measures peak memory through Linux's /proc/self/status")
    env = {"PYTHONPATH": str(PROJECT_DIR), "PATH": "/usr/bin:/bin"}
    if data_root is not None:
        env["MNIST_PLAYGROUND_DATA"] = str(data_root)
    done = subprocess.run([sys.executable, "-c", PEAK + script, *args], capture_output=True, text=True, timeout=300,
                          env=env, cwd=PROJECT_DIR)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# A real run (train, then save_model as a worker does), its peak RSS above what it had before training.
TRAIN_AND_SAVE = """
import gc, json, sys, tempfile, pathlib, psutil
from mnist_core.config import TrainConfig
from mnist_core.data import load_dataset
from mnist_core.training import train
from mnist_core.weights import save_model
config = TrainConfig.from_json(sys.argv[1])
data = load_dataset(config.dataset)
gc.collect()
before = psutil.Process().memory_info().rss
result = train(config, data=data, device="cpu")
save_model(pathlib.Path(tempfile.mkdtemp()) / "w.safetensors", result.model, config, result.mean, result.std,
           optimizer_state=result.optimizer_state)
print(json.dumps({"peak": peak() - before}))
"""


@pytest.mark.parametrize("config", [
    # big batches of an MLP: the step's activations and gradients are most of it (estimate 508 MB)
    TrainConfig(hidden=(1024, 1024), batch_size=20_000, train_limit=20_000, epochs=1, val_size=1_000),
    # a CNN step in channels_last, the trainer's format on the CPU (estimate 1.1 GB)
    preset_config("lenet", conv_channels=(8, 64), batch_size=4_000, train_limit=4_000, epochs=1, val_size=0),
], ids=["mlp-batch-20000", "cnn-batch-4000"])
def test_memory_estimate_matches_a_real_runs_peak(config: TrainConfig, data_root: Path) -> None:
    """Runs whose memory is mostly large tensors, which the C allocator returns on release: their peak is the
    tensors counted (measured 0.95-0.98x). Runs of many small batches keep freed memory in the allocator, up to
    1.65x measured: that is what the budget's share of RAM leaves room for."""
    measured = peak_rss(TRAIN_AND_SAVE, config.to_json(), data_root=data_root)["peak"]
    estimate = cost.run_cost(config).memory_bytes - RAW_DATASET
    assert 0.85 * estimate <= measured <= 1.2 * estimate, (measured / MB, estimate / MB)


LOAD = """
import gc, json, sys, psutil
from mnist_core.weights import load_model
gc.collect()
before = psutil.Process().memory_info().rss
load_model(sys.argv[1])
print(json.dumps({"peak": peak() - before}))
"""


def test_web_estimate_matches_loading_the_model_for_real(tmp_path: Path) -> None:
    config = TrainConfig(hidden=(2048, 2048))  # 6 million parameters, Adam: a 75 MB file
    model, optimizer = real_step(config)
    path = tmp_path / "big.safetensors"
    save_model(path, model, config, 0.13, 0.31, optimizer_state=optimizer.state_dict())
    del model, optimizer
    measured = peak_rss(LOAD, str(path))["peak"]
    estimate = cost.run_cost(config).web_bytes
    assert 0.85 * estimate <= measured <= 1.15 * estimate, (measured / MB, estimate / MB)


def test_the_issues_run_is_refused_naming_the_batch_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.RUN_MEMORY_ENV, raising=False)  # the default: a share of this machine's RAM
    with pytest.raises(cost.RunTooLarge) as refused:
        cost.check_fits(ISSUE_RUN)
    exc = refused.value
    assert (exc.resource, exc.field) == ("memory", "batch_size")
    assert exc.need > 32 * 2**30 > exc.budget == settings.run_memory_bytes()
    assert "batch_size" in str(exc) and settings.RUN_MEMORY_ENV in str(exc)
    # the same channels with the course's batch of 100: the 2,000-image evaluation batch is now the biggest part
    monkeypatch.setenv(settings.RUN_MEMORY_ENV, "2000")
    with pytest.raises(cost.RunTooLarge) as refused:
        cost.check_fits(ISSUE_RUN.replace(batch_size=100))
    assert refused.value.field == "conv_channels" and refused.value.budget == 2000 * MB


def test_small_runs_and_the_course_presets_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.RUN_MEMORY_ENV, "1000")  # a small school server: 1 GB per run
    monkeypatch.delenv(settings.RUN_DISK_ENV, raising=False)
    assert cost.check_fits(TINY).parameters == 784 * 32 + 32 + 32 * 10 + 10
    for preset in PRESETS.values():
        assert cost.check_fits(preset).memory_bytes < 500 * MB


def test_a_weights_file_over_the_disk_limit_is_refused_naming_the_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.RUN_MEMORY_ENV, "100000")
    monkeypatch.delenv(settings.RUN_DISK_ENV, raising=False)  # 200 MB
    with pytest.raises(cost.RunTooLarge) as refused:
        cost.check_fits(TrainConfig(hidden=(4096,) * 8))
    assert (refused.value.resource, refused.value.field, refused.value.budget) == ("disk", "hidden", 200 * MB)
    monkeypatch.setenv(settings.RUN_DISK_ENV, "2000")
    assert cost.check_fits(TrainConfig(hidden=(4096,) * 8)).weights_file_bytes < 2000 * MB


def test_a_model_too_big_for_the_web_server_is_refused_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.WEB_MODEL_ENV, raising=False)  # 300 MB
    with pytest.raises(cost.RunTooLarge) as refused:
        cost.check_web_fits(TrainConfig(hidden=(4096,) * 8))
    assert refused.value.resource == "web" and refused.value.need > 2.5 * 2**30  # the issue: a 3.36 GB peak
    assert cost.check_web_fits(preset_config("lenet")).web_bytes < 10 * MB


def test_budget_settings_default_and_refuse_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    for name in (settings.RUN_MEMORY_ENV, settings.RUN_DISK_ENV, settings.WEB_MODEL_ENV, settings.MAX_JOBS_ENV):
        monkeypatch.delenv(name, raising=False)
    ram = psutil.virtual_memory().total
    assert settings.run_memory_bytes() == int(0.6 * ram / settings.DEFAULT_MAX_JOBS)
    monkeypatch.setenv(settings.MAX_JOBS_ENV, "2")
    assert settings.run_memory_bytes() == int(0.6 * ram / 2)
    assert (settings.run_disk_bytes(), settings.web_model_bytes()) == (200 * MB, 300 * MB)
    monkeypatch.setenv(settings.RUN_DISK_ENV, "12.5")
    assert settings.run_disk_bytes() == int(12.5 * MB)
    for bad in ("0", "-3", "lots", "inf", "nan"):
        monkeypatch.setenv(settings.WEB_MODEL_ENV, bad)
        with pytest.raises(ValueError, match=settings.WEB_MODEL_ENV):
            settings.web_model_bytes()


def test_rough_time_follows_the_work() -> None:
    """Not a timing: the estimate grows with epochs and network size, and the course's mlp-3 (about 10 s on this
    server's 2 cores, `make bench`) comes out in that range."""
    mlp = cost.run_cost(PRESETS["mlp-3"])
    assert 5 < mlp.seconds < 30
    assert cost.run_cost(PRESETS["mlp-3"].replace(epochs=30)).seconds == pytest.approx(2 * mlp.seconds, rel=0.05)
    assert cost.run_cost(PRESETS["lenet"]).seconds > 5 * mlp.seconds


# -- uploads: bounded in bytes and pixels before decoding ---------------------------------------------------------

def test_a_file_over_the_byte_limit_is_refused_unread() -> None:
    with pytest.raises(ImageFileError) as refused:
        read_image_file(b"\x89PNG" + bytes(MAX_BYTES), "huge.png")
    assert (refused.value.reason, refused.value.detail) == ("file_too_large", str(MAX_BYTES + 4))


def test_too_many_pixels_are_refused_from_the_header() -> None:
    """A 5000 x 4000 PNG of one colour is a few KB: its size is read from the header and it is never decoded."""
    buffer = io.BytesIO()
    Image.new("L", (5000, 4000)).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < 100_000
    with pytest.raises(ImageFileError) as refused:
        read_image_file(buffer.getvalue(), "bomb.png")
    assert (refused.value.reason, refused.value.detail) == ("too_large", "5000x4000")


def test_a_phone_photo_is_read_upright_and_small() -> None:
    """A 4000 x 3000 JPEG held sideways (EXIF orientation 6), decoded at a reduced scale: upright, 1024 px long."""
    photo = np.full((3000, 4000, 3), 210, np.uint8)
    photo[:, :200] = 20  # a dark band on the left edge: after turning, it is along the top
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=90, exif=exif)
    pixels = read_image_file(buffer.getvalue(), "phone.jpg")
    assert pixels.shape == (1024, 768, 3)
    assert pixels[:40].mean() < 60 and pixels[100:].mean() > 180
