"""Training and evaluation: the whole story of one run, from config to test accuracy.

Batches come from indexing tensors that already sit on the device (normalised once), with a permutation per
epoch: the same batches DataLoader(batch_size, shuffle, drop_last) would give, without its per-sample cost
(mnist_core/batches.py). Nothing in an iteration waits for the device or builds Python objects per sample: losses
and predictions stay on the device and are read every FLUSH_SECONDS.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mnist_core import settings
from mnist_core.batches import Batches, epoch_order
from mnist_core.config import TrainConfig
from mnist_core.data import Dataset, load_dataset, normalize, split_indices
from mnist_core.evaluation import evaluate, evaluate_with_confidence
from mnist_core.events import EpochMetrics, LossPoints, Progress, TrainEvent
from mnist_core.models import SeededDropout, build_model
from mnist_core.optimizers import make_optimizer, match_parameter_layout, step_function

MAX_LOSS_POINTS = 20_000  # longer runs report block means, so charts and the database stay small
FLUSH_SECONDS = 0.25  # how often live loss points and progress are sent


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
    test_confidences: torch.Tensor | None = None  # float32 [10000]: the softmax probability of each prediction
    optimizer_state: dict | None = None  # optimizer.state_dict() on the CPU, so a later run can continue this one


class TrainingDiverged(ArithmeticError):
    """The loss stopped being a number (NaN or infinite): the weights have blown up and every later step would keep
    them so, so the run ends here. `details`: where (iteration, epoch), with what (optimizer, learning rate), and
    the last loss that was still a number; app/errors.py words them for the student."""

    failure_kind = "diverged"

    def __init__(self, config: TrainConfig, iteration: int, epoch: int, last_finite_loss: float | None) -> None:
        super().__init__(f"the loss became NaN or infinite at iteration {iteration} (epoch {epoch}): "
                         f"learning rate {config.lr:g} is too large for {config.optimizer}")
        self.details = {"iteration": iteration, "epoch": epoch, "lr": config.lr, "optimizer": config.optimizer,
                        "last_finite_loss": last_finite_loss}


@dataclass(frozen=True)
class ResumeFrom:
    """Where a continued run picks up its parent: the parent's weights and optimizer state, and how far it got,
    so the new run's iterations, epochs and clock continue the parent's curves instead of starting at zero."""

    model_state: dict[str, torch.Tensor]
    optimizer_state: dict | None  # None for a parent saved before optimizer state was kept: a fresh optimizer
    iteration: int  # iterations the parent trained
    epoch: int  # epochs the parent completed
    seconds: float  # the parent's clock when it ended


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


@dataclass(frozen=True)
class _DeviceData:
    """The run's images, normalised once and moved to the device, and their labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


@dataclass
class _Run:
    """What a run carries from one iteration and epoch to the next: where it is, how it reports, when to stop."""

    config: TrainConfig
    device: torch.device
    emit: Callable[[TrainEvent], None]
    stop: threading.Event
    reporter: _LossReporter
    started: float  # time.perf_counter() when train() was called
    clock: float  # the parent's seconds when continuing a run, else 0
    first_epoch: int  # 1, or the epoch after the parent's last
    total: int  # the iteration number the run ends at
    iteration: int  # iterations trained, the parent's included
    samples_seen: int = 0
    train_seconds: float = 0.0  # inside the epochs' loops: no evaluation, no setup
    stopped: bool = False
    epochs: list[EpochMetrics] = field(default_factory=list)

    def progress(self, epoch: int, rate: float, now: float) -> Progress:
        elapsed = self.clock + now - self.started
        return _progress(self.config, self.iteration, self.total, epoch, self.samples_seen, rate, elapsed)


def train(
    config: TrainConfig,
    *,
    data: Dataset | None = None,
    device: torch.device | str | None = None,
    on_event: Callable[[TrainEvent], None] | None = None,
    stop: threading.Event | None = None,
    resume: ResumeFrom | None = None,
) -> TrainResult:
    """Train one network as configured; stoppable between any two iterations via `stop`.

    With `resume`, the network starts from a parent run's weights and optimizer state and trains the epochs from
    `resume.epoch + 1` to `config.epochs`; iterations, epochs and seconds continue the parent's numbering."""
    config = config.validated()
    data = data or load_dataset(config.dataset)
    device = torch.device(device) if device is not None else pick_device()
    run = _start_run(config, device, on_event or (lambda event: None), stop or threading.Event(), resume)
    tensors = _to_device(config, data, device)
    model, optimizer = _model_and_optimizer(config, device, resume)
    batches = Batches(tensors.x_train, tensors.y_train, config.batch_size, config.iterations_per_epoch)
    n = len(tensors.x_train)
    shuffle_gen = _seeded_generators(config, model, device, run.first_epoch, n)

    for epoch in range(run.first_epoch, config.epochs + 1):
        order = epoch_order(n, config.shuffle, shuffle_gen, device)
        trained = _train_epoch(run, model, optimizer, batches(order), len(order), epoch)
        if trained is None:  # stopped inside the epoch: it has no metrics
            break
        batch_losses, predicted = trained
        _end_epoch(run, model, tensors, order, batch_losses, predicted, epoch)
        if run.stopped:  # on the epoch's last iteration: the epoch counts, the rest is not trained
            break

    return _test(run, model, optimizer, tensors, data)


def _start_run(config: TrainConfig, device: torch.device, emit: Callable[[TrainEvent], None],
               stop: threading.Event, resume: ResumeFrom | None) -> _Run:
    """The run's counters and clock, continuing the parent's numbering when `resume` is given."""
    started = time.perf_counter()
    first_epoch = resume.epoch + 1 if resume else 1
    start_iteration, clock = (resume.iteration, resume.seconds) if resume else (0, 0.0)
    total = start_iteration + config.iterations_per_epoch * (config.epochs - first_epoch + 1)
    reporter = _LossReporter(total, emit)
    reporter.next_iteration = start_iteration + 1
    return _Run(config, device, emit, stop, reporter, started, clock, first_epoch, total, iteration=start_iteration)


def _to_device(config: TrainConfig, data: Dataset, device: torch.device) -> _DeviceData:
    """The training, validation and test sets, normalised once and on the device, split as `config` says. Only the
    images the run uses are normalised (normalize works pixel by pixel: the same values as normalising all)."""
    train_idx, val_idx = split_indices(config)
    return _DeviceData(
        x_train=normalize(data.train_images[train_idx], data.mean, data.std).to(device),
        y_train=data.train_labels[train_idx].to(device),
        x_val=normalize(data.train_images[val_idx], data.mean, data.std).to(device),
        y_val=data.train_labels[val_idx].to(device),
        x_test=normalize(data.test_images, data.mean, data.std).to(device),
        y_test=data.test_labels.to(device),
    )


def _model_and_optimizer(config: TrainConfig, device: torch.device,
                         resume: ResumeFrom | None) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The network on the device and its optimizer: fresh, or carrying on from the parent run's state."""
    model = build_model(config)
    if resume is not None:
        model.load_state_dict(resume.model_state)
    model = model.to(device)
    if config.model == "cnn" and device.type == "cpu":
        # oneDNN's channels_last convolutions: the whole lenet trainer 1.05-1.45x faster on 2 cores, measured side
        # by side (mnist_core.bench's step: 1.10-1.23x). Weights files are written contiguous as before.
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(config, model.parameters(), device)
    if resume is not None and resume.optimizer_state is not None:
        optimizer.load_state_dict(resume.optimizer_state)  # moves the state onto the parameters' device
        match_parameter_layout(optimizer)
    return model, optimizer


def _seeded_generators(config: TrainConfig, model: nn.Module, device: torch.device, first_epoch: int,
                       n: int) -> torch.Generator:
    """The generator of the batch orders, and the dropout layers' own: a run is the same for the same seed,
    whatever else draws random numbers meanwhile."""
    shuffle_gen = torch.Generator().manual_seed(config.seed)
    if config.shuffle:  # skip the batch orders the parent's epochs used: continuing = having trained on
        for _ in range(first_epoch - 1):
            torch.randperm(n, generator=shuffle_gen)  # as epoch_order draws them
    for module in model.modules():
        if isinstance(module, SeededDropout):
            module.generator = torch.Generator(device=device).manual_seed(config.seed + 1)
    return shuffle_gen


def _train_epoch(run: _Run, model: nn.Module, optimizer: torch.optim.Optimizer,
                 batches: Iterator[tuple[torch.Tensor, torch.Tensor]], samples: int,
                 epoch: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """One epoch's iterations over `batches`, sending loss points and progress every FLUSH_SECONDS. Returns each
    batch's loss and each of the epoch's `samples` predicted class (in batch order), or None if stopped inside it."""
    per_epoch, batch = run.config.iterations_per_epoch, run.config.batch_size
    optimizer_step = step_function(optimizer)
    model.train()
    batch_losses = torch.empty(per_epoch, device=run.device)
    predicted = torch.empty(samples, dtype=torch.long, device=run.device)
    epoch_start, last_flush, reported, done = time.perf_counter(), time.perf_counter(), 0, 0
    for i, ((xb, yb), batch_predicted) in enumerate(zip(batches, predicted.split(batch), strict=False)):
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer_step()
        with torch.no_grad():  # kept on the device: no sync per iteration on a GPU
            batch_losses[i] = loss
            torch.argmax(logits, 1, out=batch_predicted)
        run.iteration, run.samples_seen, done = run.iteration + 1, run.samples_seen + len(yb), i + 1
        now = time.perf_counter()
        if run.stop.is_set() or now - last_flush >= FLUSH_SECONDS:
            _report_losses(run, batch_losses[reported:done].tolist(), epoch)
            reported, last_flush = done, now
            rate = run.samples_seen / (run.train_seconds + now - epoch_start)
            run.emit(run.progress(epoch, rate, now))
            if run.stop.is_set():
                run.stopped = True
                break
    run.train_seconds += time.perf_counter() - epoch_start
    _report_losses(run, batch_losses[reported:done].tolist(), epoch, final=run.stopped or epoch == run.config.epochs)
    return (batch_losses, predicted) if done == per_epoch else None


def _report_losses(run: _Run, losses: list[float], epoch: int, final: bool = False) -> None:
    """Send these iterations' losses; TrainingDiverged at the first that is not a number, after sending those
    before it, so the stored curve shows the climb up to where the run blew up. Checked when the losses reach the
    CPU anyway (every FLUSH_SECONDS), so a GPU is never made to wait for it each iteration."""
    bad = next((i for i, loss in enumerate(losses) if not math.isfinite(loss)), None)
    if bad is None:
        run.reporter.add(losses, final=final)
        return
    run.reporter.add(losses[:bad], final=True)
    finite = run.reporter.all.losses
    at = run.reporter.next_iteration  # the iteration whose loss was the first that is not a number
    raise TrainingDiverged(run.config, at, epoch, finite[-1] if finite else None)


def _end_epoch(run: _Run, model: nn.Module, tensors: _DeviceData, order: torch.Tensor, batch_losses: torch.Tensor,
               predicted: torch.Tensor, epoch: int) -> None:
    """Measure the finished epoch (train loss and accuracy over the samples it saw, the short last batch weighed
    fairly; validation loss and accuracy), keep and send its metrics, then the progress into the next epoch."""
    config = run.config
    per_epoch, batch = config.iterations_per_epoch, config.batch_size
    seen_this_epoch = min(len(tensors.x_train), per_epoch * batch)
    batch_sizes = torch.full((per_epoch,), float(batch), device=run.device)
    batch_sizes[-1] = seen_this_epoch - (per_epoch - 1) * batch  # smaller when drop_last is off
    correct = (predicted[:seen_this_epoch] == tensors.y_train[order[:seen_this_epoch]]).sum()
    has_val = len(tensors.x_val) > 0
    val_loss, val_acc = evaluate(model, tensors.x_val, tensors.y_val)[:2] if has_val else (None, None)
    metrics = EpochMetrics(
        epoch=epoch,
        train_loss=float(batch_losses @ batch_sizes) / seen_this_epoch,
        train_accuracy=float(correct) / seen_this_epoch,
        val_loss=val_loss,
        val_accuracy=val_acc,
        seconds=run.clock + time.perf_counter() - run.started,
    )
    run.epochs.append(metrics)
    run.emit(metrics)
    rate = run.samples_seen / max(run.train_seconds, 1e-9)
    run.emit(run.progress(min(epoch + 1, config.epochs), rate, time.perf_counter()))


def _test(run: _Run, model: nn.Module, optimizer: torch.optim.Optimizer, tensors: _DeviceData,
          data: Dataset) -> TrainResult:
    """The trained network on the test set, and everything the run computed."""
    test_loss, test_acc, test_pred, test_confidence = evaluate_with_confidence(model, tensors.x_test, tensors.y_test)
    return TrainResult(
        status="stopped" if run.stopped else "completed",
        model=model.cpu().eval(),
        epochs=run.epochs,
        losses=run.reporter.all,
        test_loss=test_loss,
        test_accuracy=test_acc,
        test_predictions=test_pred,
        seconds=time.perf_counter() - run.started,
        device=str(run.device),
        samples_per_s=run.samples_seen / max(run.train_seconds, 1e-9),
        mean=data.mean,
        std=data.std,
        test_confidences=test_confidence,
        optimizer_state=_to_cpu(optimizer.state_dict()),
    )


def _to_cpu(state: dict) -> dict:
    """An optimizer state_dict with its tensors copied to the CPU (the model goes back to the CPU as well)."""
    return {"state": {i: {k: v.detach().cpu().clone() if torch.is_tensor(v) else v for k, v in s.items()}
                      for i, s in state["state"].items()},
            "param_groups": [dict(g) for g in state["param_groups"]]}


def _progress(config: TrainConfig, iteration: int, total: int, epoch: int, samples: int, rate: float,
              elapsed: float) -> Progress:
    remaining_samples = (total - iteration) * config.batch_size
    return Progress(
        iteration=iteration,
        total_iterations=total,
        epoch=epoch,
        samples_seen=samples,
        samples_per_s=rate,
        eta_s=remaining_samples / rate if rate > 0 else 0.0,
        elapsed_s=elapsed,
    )
