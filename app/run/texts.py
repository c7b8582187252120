"""What the app says about configs and runs, as plain data: labels, the iteration arithmetic, progress lines,
comparison tables and chart x axes. No Streamlit, so each sentence a student reads is unit-testable."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from app.i18n import N_, _, ngettext, number, percent
from mnist_core.config import TRAIN_SET_SIZE, TrainConfig
from mnist_core.data import DATASET_INFO
from mnist_core.events import EpochMetrics, LossPoints
from mnist_core.runs.record import RunRecord

COURSE_BATCH = 100
# Loss chart x axes on the Compare page: key -> axis title.
X_AXES = {
    "iteration": N_("iteration (mini-batch updates)"),
    "epoch": N_("epoch (fractional)"),
    "samples": N_("training samples seen"),
    "seconds": N_("wall-clock time (s)"),
}
# A run's status (RunRecord.status) as a word on screen.
STATUS_WORDS = {"queued": N_("queued"), "running": N_("running"), "completed": N_("completed"),
                "stopped": N_("stopped"), "failed": N_("failed"), "interrupted": N_("interrupted")}
# Column titles of the run tables on screen and in CSV downloads. In English a title is the column's own name
# (the TrainConfig field), so scripts reading an English CSV keep working.
COLUMN_TITLES = {
    "run": N_("run"), "id": N_("id"), "continues run": N_("continues run"), "status": N_("status"),
    "test accuracy (%)": N_("test accuracy (%)"), "test loss": N_("test loss"),
    "train accuracy (%)": N_("train accuracy (%)"), "validation accuracy (%)": N_("validation accuracy (%)"),
    "duration (s)": N_("duration (s)"),
    "dataset": N_("dataset"), "model": N_("model"), "hidden": N_("hidden"), "conv_channels": N_("conv_channels"),
    "activation": N_("activation"), "dropout": N_("dropout"), "init": N_("init"), "optimizer": N_("optimizer"),
    "lr": N_("lr"), "weight_decay": N_("weight_decay"), "batch_size": N_("batch_size"), "epochs": N_("epochs"),
    "shuffle": N_("shuffle"), "drop_last": N_("drop_last"), "seed": N_("seed"), "val_size": N_("val_size"),
    "train_limit": N_("train_limit"), "preset": N_("preset"),
}
# Fields a comparison table never lists as "differing": labels, not hyperparameters.
_NOT_HYPERPARAMETERS = {"preset"}


def dataset_title(name: str) -> str:
    info = DATASET_INFO.get(name)
    return info.title if info else name


def class_name(name: str) -> str:
    """A class as the student reads it: "T-shirt/top" -> "티셔츠/탑" in Korean; digits stay digits. mnist_core names
    the classes in English (data); their translations are in the catalog (tests/test_i18n.py checks each)."""
    return _(name) if name in DATASET_INFO["fashion"].class_names else name


def status_word(status: str) -> str:
    """A run's status in the student's language ("completed" -> "완료")."""
    return _(STATUS_WORDS[status]) if status in STATUS_WORDS else status


def localized_columns(table: pd.DataFrame) -> pd.DataFrame:
    """A run table with its column titles and status words in the student's language (screen and CSV)."""
    table = table.rename(columns=lambda c: _(COLUMN_TITLES[c]) if c in COLUMN_TITLES else c)
    status = _(COLUMN_TITLES["status"])
    if status in table.columns:
        table[status] = table[status].map(status_word)
    return table


def epochs_text(epochs: int) -> str:
    """"1 epoch", "15 epochs" ("15 에포크")."""
    return ngettext("{n} epoch", "{n} epochs", epochs)


def architecture(config: TrainConfig) -> str:
    """E.g. "MLP 784-256-256-10", "softmax regression 784-10" or "CNN 16/32 conv + 128-10"."""
    if config.model == "cnn":
        dense = "-".join(str(u) for u in (*config.hidden, 10))
        return _("CNN {first}/{second} conv + {dense}", first=config.conv_channels[0],
                 second=config.conv_channels[1], dense=dense)
    if not config.hidden:
        return _("softmax regression 784-10")
    return "MLP " + "-".join(str(u) for u in (784, *config.hidden, 10))


def queue_place(position: int | None) -> str:
    """Where a queued run waits, the same words everywhere: "number 2 in the queue", or "about to start" once a
    worker has taken it (no longer in the queue, not yet running)."""
    return _("number {position} in the queue", position=position) if position else _("about to start")


def run_label(record: RunRecord) -> str:
    """A run in pickers: name, dataset, preset/optimizer. Nothing that changes while it trains: a keyed
    selectbox keeps the option labels it was first drawn with, so a status here would go stale."""
    what = f"{record.config.preset or record.config.model}/{record.config.optimizer}"
    return _("{run} — {dataset}, {what}", run=record.name, dataset=dataset_title(record.config.dataset), what=what)


def model_label(name: str, config: TrainConfig, test_accuracy: float | None) -> str:
    """A model in the Draw page's picker: the same facts as `run_label`, for the built-in model too."""
    score = (_("{accuracy} test", accuracy=percent(test_accuracy)) if test_accuracy is not None
             else _("test accuracy unknown"))
    return _("{model} — {dataset}, {what}, {score}", model=name, dataset=dataset_title(config.dataset),
             what=f"{config.preset or config.model}/{config.optimizer}", score=score)


def iteration_lines(config: TrainConfig) -> list[str]:
    """The arithmetic of an epoch, as the course teaches it: samples / batch = iterations per epoch."""
    n, b, per_epoch = config.train_samples, config.batch_size, config.iterations_per_epoch
    numbers = {"samples": number(n), "batch": number(b), "ratio": number(n / b, 2), "rest": number(n % b)}
    if n % b == 0:
        first = ngettext("{samples} / {batch} = {n} iteration per epoch",
                         "{samples} / {batch} = {n} iterations per epoch", per_epoch, **numbers)
    elif config.drop_last:
        first = ngettext("{samples} / {batch} = {ratio} → {n} iteration per epoch "
                         "(drop_last skips the last {rest} samples of each epoch)",
                         "{samples} / {batch} = {ratio} → {n} iterations per epoch "
                         "(drop_last skips the last {rest} samples of each epoch)", per_epoch, **numbers)
    else:
        first = ngettext("{samples} / {batch} = {ratio} → {n} iteration per epoch "
                         "(the last batch holds only {rest} samples)",
                         "{samples} / {batch} = {ratio} → {n} iterations per epoch "
                         "(the last batch holds only {rest} samples)", per_epoch, **numbers)
    total = ngettext("{per_epoch} × {n} epoch = {total} iterations in total",
                     "{per_epoch} × {n} epochs = {total} iterations in total", config.epochs,
                     per_epoch=number(per_epoch), total=number(config.total_iterations))
    lines = [first, total]
    if b == n:
        lines.append(_("The batch is the whole training set: this is full-batch gradient descent."))
    course = _("{samples} / {batch} = {iterations} iterations per epoch", samples=number(TRAIN_SET_SIZE),
               batch=number(COURSE_BATCH), iterations=number(TRAIN_SET_SIZE // COURSE_BATCH))
    if config.val_size == 0 and not config.train_limit and b == COURSE_BATCH:
        lines.append(_("This is the course's number: {course}.", course=course))
    elif config.train_limit:
        lines.append(_("The course trained on all {all} images ({course}); here only the first {samples} are used, "
                       "for a quick run.", all=number(TRAIN_SET_SIZE), course=course, samples=number(n)))
    elif config.val_size > 0:
        lines.append(_("The course trained on all {all} images ({course}); here {held_out} are held out for "
                       "validation (set the validation images to 0 to match).", all=number(TRAIN_SET_SIZE),
                       course=course, held_out=number(config.val_size)))
    return lines


def format_seconds(seconds: float | None) -> str:
    """1:05 or 1:02:03; "-" when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = round(max(seconds, 0.0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def progress_fraction(record: RunRecord) -> float:
    progress = record.progress or {}
    total = progress.get("total_iterations") or record.config.total_iterations
    if record.status in ("completed",):
        return 1.0
    return min(1.0, max(0.0, progress.get("iteration", 0) / total)) if total else 0.0


def progress_line(record: RunRecord) -> str:
    """E.g. "epoch 2/15 · iteration 650/8,250 · 61,000 samples/s · ETA 0:42"."""
    p = record.progress
    if not p:
        return _("starting: loading the data and building the network…")
    return _("epoch {epoch}/{epochs} · iteration {iteration}/{iterations} · {speed} samples/s · ETA {eta}",
             epoch=p["epoch"], epochs=record.config.epochs, iteration=number(p["iteration"]),
             iterations=number(p["total_iterations"]), speed=number(p["samples_per_s"], 0),
             eta=format_seconds(p["eta_s"]))


def activity_line(record: RunRecord, queue_position: int | None = None, *, label: str | None = None,
                  brief: bool = False) -> str:
    """What a queued or running run is doing, in one line: its place in the queue (`queue_position`), else its
    progress. With a `label` (a run in a list) the line names it; `brief`: only the percentage, for the narrow
    sidebar. E.g. ":material/hourglass_empty: Run 3: queued, number 2 in the queue", "Run 3 · 40%"."""
    if record.status == "queued":
        place = queue_place(queue_position)
        return (_("Queued: {place}. It starts as soon as a running training finishes.", place=place) if label is None
                else _(":material/hourglass_empty: {run}: queued, {place}", run=label, place=place))
    if brief:
        return f"{label} · {percent(progress_fraction(record), 0)}"
    return progress_line(record) if label is None else _("{run}: {progress}", run=label, progress=progress_line(record))


def samples_seen(config: TrainConfig, iterations: np.ndarray) -> np.ndarray:
    """Training samples consumed after each iteration: full batches, and the short last batch of each epoch."""
    per_epoch_iters = config.iterations_per_epoch
    per_epoch_samples = per_epoch_iters * config.batch_size if config.drop_last else config.train_samples
    full, rest = np.divmod(np.asarray(iterations, dtype=np.int64), per_epoch_iters)
    return full * per_epoch_samples + rest * config.batch_size


def loss_x_values(axis: str, record: RunRecord, points: LossPoints, epochs: Sequence[EpochMetrics]) -> list[float]:
    """x coordinates of a run's loss points on the chosen axis (see X_AXES).

    "seconds" interpolates between the wall-clock times known for sure (each epoch's end, the latest progress):
    iterations inside an epoch are assumed evenly paced, which they are up to noise."""
    its = np.asarray(points.iterations, dtype=np.float64)
    config = record.config
    if axis == "iteration":
        return its.tolist()
    if axis == "epoch":
        return (its / config.iterations_per_epoch).tolist()
    if axis == "samples":
        return samples_seen(config, its.astype(np.int64)).astype(np.float64).tolist()
    if axis == "seconds":
        known_it, known_s = [0.0], [0.0]
        for m in epochs:
            known_it.append(float(m.epoch * config.iterations_per_epoch))
            known_s.append(float(m.seconds))
        p = record.progress
        if p and p.get("iteration", 0) > known_it[-1]:
            known_it.append(float(p["iteration"]))
            known_s.append(float(p["elapsed_s"]))
        if len(known_it) == 1:
            return its.tolist()  # nothing timed yet: better iterations than a made-up clock
        # Beyond the last known time, extrapolate at the last known pace.
        pace = (known_s[-1] - known_s[-2]) / max(known_it[-1] - known_it[-2], 1.0)
        result = np.interp(its, known_it, known_s)
        beyond = its > known_it[-1]
        result[beyond] = known_s[-1] + (its[beyond] - known_it[-1]) * pace
        return result.tolist()
    raise ValueError(f"unknown x axis {axis!r}; choose one of {', '.join(X_AXES)}")


def differing_fields(configs: Sequence[TrainConfig]) -> list[str]:
    """TrainConfig fields whose value is not the same in every config, in declaration order."""
    if len(configs) < 2:
        return []
    names = [f.name for f in fields(TrainConfig) if f.name not in _NOT_HYPERPARAMETERS]
    return [n for n in names if len({repr(getattr(c, n)) for c in configs}) > 1]


def _display(value: Any) -> Any:
    if isinstance(value, tuple):
        return "-".join(map(str, value)) if value else _("(none)")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return value


def comparison_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run: its name, the config fields that differ between the runs, then the final metrics."""
    differing = differing_fields([r.config for r in records])

    def pct(value: float | None) -> float | None:
        return None if value is None else round(value * 100, 2)

    rows = []
    for r in records:
        row: dict[str, Any] = {"run": r.name, "id": r.id}
        row.update({name: _display(getattr(r.config, name)) for name in differing})
        row.update({
            "status": r.status,
            "test accuracy (%)": pct(r.test_accuracy),
            "test loss": None if r.test_loss is None else round(r.test_loss, 4),
            "train accuracy (%)": pct(r.train_accuracy),
            "validation accuracy (%)": pct(r.val_accuracy),
            "duration (s)": None if r.duration_s is None else round(r.duration_s, 1),
        })
        rows.append(row)
    return pd.DataFrame(rows)


def export_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run with every setting (not only those that differ) and its results: the CSV download."""
    rows = []
    for r in records:
        row: dict[str, Any] = {"run": r.name, "id": r.id, "continues run": r.parent_id, "status": r.status}
        row.update({f.name: _display(getattr(r.config, f.name)) for f in fields(TrainConfig)})
        row.update(comparison_table([r]).iloc[0].drop(["run", "id", "status"]).to_dict())
        rows.append(row)
    return pd.DataFrame(rows)


ANY_WRONG = -1  # the gallery's "predicted" choice for every misclassified image, whatever the wrong class


def gallery_indices(labels: np.ndarray, predictions: np.ndarray, true_class: int | None, predicted: int,
                    limit: int) -> tuple[list[int], int]:
    """The test images of a confusion-matrix cell, or a row's mistakes: true class `true_class` (None: any) and
    predicted `predicted` (ANY_WRONG: any class but the true one). The first `limit` in test-set order (stable
    between reruns) and how many there are in all."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    chosen = labels != predictions if predicted == ANY_WRONG else predictions == predicted
    if true_class is not None:
        chosen &= labels == true_class
    found = np.flatnonzero(chosen)
    return found[:limit].tolist(), len(found)


def upscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement: each of the 28x28 pixels stays a visible square."""
    return np.repeat(np.repeat(np.asarray(image), factor, axis=0), factor, axis=1)


def png_bytes(image: np.ndarray, factor: int) -> bytes:
    """A grey uint8 image enlarged `factor` times, as the PNG file st.image sends (given bytes, st.image sends them
    as they are instead of encoding the array again on every rerun)."""
    buffer = io.BytesIO()
    Image.fromarray(upscale(image, factor)).save(buffer, format="PNG")
    return buffer.getvalue()
