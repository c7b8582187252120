"""Training and evaluation: the whole story of one run, from config to test accuracy.

Batches come from indexing tensors that already sit on the device (normalised once), with a permutation per
epoch: the same batches DataLoader(batch_size, shuffle, drop_last) would give, without its per-sample cost.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mnist_core import settings
from mnist_core.config import TrainConfig
from mnist_core.data import Dataset, load_dataset, normalize, split_indices
from mnist_core.events import EpochMetrics, LossPoints, Progress, TrainEvent
from mnist_core.models import SeededDropout, build_model

MAX_LOSS_POINTS = 20_000  # longer runs report block means, so charts and the database stay small
FLUSH_SECONDS = 0.25  # how often live loss points and progress are sent
FUSED_OPTIMIZER_DEVICES = ("cpu", "cuda")  # where torch has fused SGD, Adagrad, Adam and AdamW kernels


@dataclass
class TrainResult:
    status: str  # "completed" or "stopped"
    model: nn.Module  # on the CPU, in eval mode
    epochs: list[EpochMetrics]
    losses: LossPoints
    test_loss: float
    test_accuracy: float
    test_predictions: torch.Tensor  # int64 [10000]
    seconds: float
    device: str
    samples_per_s: float
    mean: float  # the normalisation the model expects
    std: float


def pick_device(preference: str | None = None) -> torch.device:
    """CUDA, then Apple's MPS, then the CPU; `preference` or MNIST_PLAYGROUND_DEVICE ("cpu", "cuda", ...) overrides."""
    preference = preference or settings.device_preference()
    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def flush_denormals() -> None:
    """Compute denormal floats (below 1.2e-38) as zero in this thread and in the torch worker threads it starts
    from now on, as TensorFlow does on CPUs. Late in an epoch softmax outputs and gradients underflow into
    denormals, which x86 CPUs handle many times slower: on 2 cores that costs ~10% of an MLP epoch. Worker
    threads copy the setting only when they are created, so call it before the thread's first torch operation."""
    torch.set_flush_denormal(True)


def make_optimizer(config: TrainConfig, params, device: torch.device) -> torch.optim.Optimizer:
    """The configured optimizer, as one fused kernel per step where torch has one: for the course's MLP on two CPU
    cores that takes Adam's step from ~400 to ~190 microseconds, a sixth of an iteration."""
    lr, wd = config.lr, config.weight_decay
    fused = {"fused": True} if device.type in FUSED_OPTIMIZER_DEVICES else {}
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=wd, **fused)
    if config.optimizer in ("momentum", "nesterov"):
        nesterov = config.optimizer == "nesterov"
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=nesterov, weight_decay=wd, **fused)
    if config.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd, **fused)
    if config.optimizer == "rmsprop":  # torch has no fused RMSprop
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, **fused)
    return torch.optim.AdamW(params, lr=lr, weight_decay=wd, **fused)


@torch.inference_mode()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 2000) -> tuple[float, float, torch.Tensor]:
    """Mean cross-entropy, accuracy and predicted classes of already-normalised images, in eval mode."""
    was_training = model.training
    model.eval()
    total_loss, predictions = 0.0, []
    for start in range(0, len(images), batch_size):
        logits = model(images[start : start + batch_size])
        total_loss += float(F.cross_entropy(logits, labels[start : start + batch_size], reduction="sum"))
        predictions.append(logits.argmax(1))
    model.train(was_training)
    predicted = torch.cat(predictions)
    accuracy = float((predicted == labels).float().mean())
    return total_loss / len(images), accuracy, predicted.cpu()


class _LossReporter:
    """Collects per-iteration losses and sends them in chunks; for very long runs, as block means."""

    def __init__(self, total_iterations: int, emit: Callable[[TrainEvent], None]) -> None:
        self.block = max(1, math.ceil(total_iterations / MAX_LOSS_POINTS))
        self.emit = emit
        self.pending: list[float] = []  # losses not yet reported
        self.next_iteration = 1  # global iteration number of pending[0]
        self.all = LossPoints()

    def add(self, losses: list[float], final: bool = False) -> None:
        self.pending += losses
        usable = len(self.pending) if final else len(self.pending) - len(self.pending) % self.block
        if usable == 0:
            return
        points = LossPoints()
        for start in range(0, usable, self.block):
            chunk = self.pending[start : min(start + self.block, usable)]
            points.iterations.append(self.next_iteration + start + len(chunk) - 1)
            points.losses.append(sum(chunk) / len(chunk))
        self.pending = self.pending[usable:]
        self.next_iteration += usable
        self.all.extend(points)
        self.emit(points)


def train(
    config: TrainConfig,
    *,
    data: Dataset | None = None,
    device: torch.device | str | None = None,
    on_event: Callable[[TrainEvent], None] | None = None,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Train one network as configured; stoppable between any two iterations via `stop`."""
    config = config.validated()
    data = data or load_dataset(config.dataset)
    device = torch.device(device) if device is not None else pick_device()
    emit = on_event or (lambda event: None)
    stop = stop or threading.Event()
    started = time.perf_counter()

    train_idx, val_idx = split_indices(config)
    images = normalize(data.train_images, data.mean, data.std)
    x_train, y_train = images[train_idx].to(device), data.train_labels[train_idx].to(device)
    x_val, y_val = images[val_idx].to(device), data.train_labels[val_idx].to(device)
    x_test = normalize(data.test_images, data.mean, data.std).to(device)
    y_test = data.test_labels.to(device)
    del images

    model = build_model(config).to(device)
    optimizer = make_optimizer(config, model.parameters(), device)
    shuffle_gen = torch.Generator().manual_seed(config.seed)
    for module in model.modules():
        if isinstance(module, SeededDropout):
            module.generator = torch.Generator(device=device).manual_seed(config.seed + 1)

    n, batch = len(x_train), config.batch_size
    per_epoch, total = config.iterations_per_epoch, config.total_iterations
    reporter = _LossReporter(total, emit)
    epochs: list[EpochMetrics] = []
    iteration, samples_seen, train_seconds, stopped = 0, 0, 0.0, False

    for epoch in range(1, config.epochs + 1):
        model.train()
        order = (torch.randperm(n, generator=shuffle_gen) if config.shuffle else torch.arange(n)).to(device)
        batch_losses = torch.empty(per_epoch, device=device)
        predicted = torch.empty(n, dtype=torch.long, device=device)  # in `order`, for the epoch's train accuracy
        epoch_start, last_flush, reported, done = time.perf_counter(), time.perf_counter(), 0, 0
        for i in range(per_epoch):
            idx = order[i * batch : (i + 1) * batch]
            xb, yb = x_train.index_select(0, idx), y_train.index_select(0, idx)  # whole rows: ~2x faster than x[idx]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():  # kept on the device: no sync per iteration on a GPU
                batch_losses[i] = loss
                torch.argmax(logits, 1, out=predicted[i * batch : i * batch + len(yb)])
            iteration, samples_seen, done = iteration + 1, samples_seen + len(yb), i + 1
            now = time.perf_counter()
            if stop.is_set() or now - last_flush >= FLUSH_SECONDS:
                reporter.add(batch_losses[reported:done].tolist())
                reported, last_flush = done, now
                rate = samples_seen / (train_seconds + now - epoch_start)
                emit(_progress(config, iteration, epoch, samples_seen, rate, now - started))
                if stop.is_set():
                    stopped = True
                    break
        train_seconds += time.perf_counter() - epoch_start
        reporter.add(batch_losses[reported:done].tolist(), final=stopped or epoch == config.epochs)
        if done < per_epoch:  # stopped inside the epoch: it has no metrics
            break
        seen_this_epoch = min(n, per_epoch * batch)
        batch_sizes = torch.full((per_epoch,), float(batch), device=device)
        batch_sizes[-1] = seen_this_epoch - (per_epoch - 1) * batch  # smaller when drop_last is off
        correct = (predicted[:seen_this_epoch] == y_train[order[:seen_this_epoch]]).sum()
        val_loss, val_acc = (evaluate(model, x_val, y_val)[:2]) if len(x_val) else (None, None)
        metrics = EpochMetrics(
            epoch=epoch,
            train_loss=float(batch_losses @ batch_sizes) / seen_this_epoch,
            train_accuracy=float(correct) / seen_this_epoch,
            val_loss=val_loss,
            val_accuracy=val_acc,
            seconds=time.perf_counter() - started,
        )
        epochs.append(metrics)
        emit(metrics)
        emit(_progress(config, iteration, min(epoch + 1, config.epochs), samples_seen,
                       samples_seen / max(train_seconds, 1e-9), time.perf_counter() - started))
        if stopped:  # on the epoch's last iteration: the epoch counts, the rest is not trained
            break

    test_loss, test_acc, test_pred = evaluate(model, x_test, y_test)
    return TrainResult(
        status="stopped" if stopped else "completed",
        model=model.cpu().eval(),
        epochs=epochs,
        losses=reporter.all,
        test_loss=test_loss,
        test_accuracy=test_acc,
        test_predictions=test_pred,
        seconds=time.perf_counter() - started,
        device=str(device),
        samples_per_s=samples_seen / max(train_seconds, 1e-9),
        mean=data.mean,
        std=data.std,
    )


def _progress(config: TrainConfig, iteration: int, epoch: int, samples: int, rate: float, elapsed: float) -> Progress:
    remaining_samples = (config.total_iterations - iteration) * config.batch_size
    return Progress(
        iteration=iteration,
        total_iterations=config.total_iterations,
        epoch=epoch,
        samples_seen=samples,
        samples_per_s=rate,
        eta_s=remaining_samples / rate if rate > 0 else 0.0,
        elapsed_s=elapsed,
    )
