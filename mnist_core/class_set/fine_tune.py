"""Continue training a run on MNIST plus the class set, honestly: the student who asks is held out. The network
trains on everyone else's handwriting and is tested on theirs, before and after, so the score measures how well it
reads handwriting it never saw, not how well it remembers.

The class's drawings take the places of as many MNIST training images (repeated until they are a tenth of an
epoch, since a few hundred among 55,000 would change nothing), so the trainer itself needs no change: it trains on
a Dataset whose training images are MNIST's with those places replaced. Validation and test images stay MNIST's.

Where it runs: like every other training, in a worker process, never in the web server (an epoch there would hold
the server's GIL for the whole class). `start_fine_tune` (the web process) checks, measures the parent on the
held-out drawings ("before") and submits an ordinary queued run through the JobManager, so the quotas, the class
rules, Stop and the live views all apply. The job carries a `FineTuneTask`, plain JSON (who is held out, the newest
sample id then); the worker rebuilds the training set itself from the run store's database (`fine_tune_trainer`),
trains, and stores the held-out student's score "after" before the run is marked finished.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from mnist_core.class_set.meeting import Meeting, NotDigits, TooFewSamples, meet
from mnist_core.class_set.samples import ClassSet, ClassSetRefused, FineTuneRow, Sample
from mnist_core.config import TrainConfig
from mnist_core.data import Dataset, split_indices
from mnist_core.runs.continuation import continued_config
from mnist_core.runs.permissions import Actor
from mnist_core.runs.store import RunStore
from mnist_core.training import TrainResult, train
from mnist_core.weights import LoadedModel

MIN_HELD_OUT = 5  # the asking student's own drawings, to test on
MIN_TRAIN = 10  # the others' drawings, to train on
CLASS_SHARE = 0.1  # the class's drawings (repeated) fill this share of the training images
MAX_REPEATS = 50
FINE_TUNE_KIND = "class_set_fine_tune"  # the job kind (mnist_core.backends.tasks)

# JobManager.submit, passed in by the caller: the class set sits below the backends and must not import them.
Submit = Callable[..., int]


@dataclass(frozen=True)
class FineTuneTask:
    """What a fine-tune's job carries to the worker: whose drawings are held out, and the newest sample id when it
    was asked for (drawings added later are left out, so "before" and "after" are measured on the same set)."""

    held_out_owner: str
    upto: int

    def as_json(self) -> dict[str, object]:
        return {"kind": FINE_TUNE_KIND, "held_out_owner": self.held_out_owner, "upto": self.upto}

    @classmethod
    def from_json(cls, value: Mapping[str, object]) -> FineTuneTask:
        owner, upto = value.get("held_out_owner"), value.get("upto")
        if (value.get("kind") != FINE_TUNE_KIND or not isinstance(owner, str) or not owner
                or not isinstance(upto, int) or isinstance(upto, bool)):
            raise ValueError(f"not a class-set fine-tune task: {dict(value)!r}")
        return cls(owner, upto)


@dataclass(frozen=True)
class FineTuneStarted:
    run_id: int  # queued (or already training in a worker)
    before: Meeting  # the parent run on the held-out student's samples
    train_samples: int


def with_extra_training_images(data: Dataset, config: TrainConfig, images: np.ndarray,
                               labels: np.ndarray) -> Dataset:
    """`data` with `images` (uint8 [N, 28, 28]) in the places of the first training images of `config`'s split,
    repeated to fill CLASS_SHARE of them; the normalisation (mean, std) stays MNIST's, as the parent learnt it."""
    train_idx, _ = split_indices(config)
    if not len(images):
        return data
    repeats = int(min(MAX_REPEATS, max(1, round(CLASS_SHARE * len(train_idx) / len(images)))))
    count = min(len(train_idx), repeats * len(images))
    places = train_idx[:count]
    source = np.arange(count) % len(images)
    train_images, train_labels = data.train_images.clone(), data.train_labels.clone()
    train_images[places] = torch.from_numpy(np.ascontiguousarray(images[source], dtype=np.uint8))
    train_labels[places] = torch.from_numpy(np.asarray(labels[source], dtype=np.int64))
    return dataclasses.replace(data, train_images=train_images, train_labels=train_labels)


def split_for(class_set: ClassSet, owner_id: str, upto: int | None = None) -> tuple[list[Sample], list[Sample]]:
    """(the others' samples to train on, `owner_id`'s to test on), up to sample id `upto`; ClassSetRefused when
    either is too small."""
    held_out = class_set.samples(owner_id=owner_id, upto=upto)
    others = class_set.samples(exclude_owner=owner_id, upto=upto)
    if len(held_out) < MIN_HELD_OUT:
        raise ClassSetRefused("own_samples", f"add at least {MIN_HELD_OUT - len(held_out)} more drawings of your "
                              f"own first: the fine-tuned network is tested on yours ({len(held_out)} now)",
                              missing=MIN_HELD_OUT - len(held_out), have=len(held_out))
    if len(others) < MIN_TRAIN:
        raise ClassSetRefused("others_samples", f"the others have drawn {len(others)} samples; at least "
                              f"{MIN_TRAIN} are needed to train on", missing=MIN_TRAIN - len(others),
                              have=len(others))
    return others, held_out


def start_fine_tune(store: RunStore, parent_id: int, actor: Actor, submit: Submit, more_epochs: int = 1,
                    name: str | None = None, parent_model: LoadedModel | None = None) -> FineTuneStarted:
    """Queue run `parent_id` trained `more_epochs` further on MNIST plus everyone's class samples but `actor`'s, as
    a new run of `actor`'s, through `submit` (a JobManager's), and return at once with the parent's score on
    `actor`'s samples. RunNotFound, CannotContinue, ConfigError, NotDigits, ClassSetRefused, and whatever `submit`
    refuses (RunTooLarge, LimitReached): nothing stored. `parent_model`: the parent already loaded (the app's cache)."""
    parent = store.get(parent_id)
    if parent.config.dataset != "mnist":
        raise NotDigits(f"run {parent_id} was trained on {parent.config.dataset}, not on handwritten digits")
    class_set = ClassSet(store)
    task = FineTuneTask(actor.owner_id, class_set.newest_id())
    others, held_out = split_for(class_set, actor.owner_id, task.upto)
    before = meet(parent_model or store.load_model(parent_id), held_out, parent_id, parent.test_accuracy,
                  per_digit=0)
    config = continued_config(store, parent, more_epochs)
    run_id = submit(config, name=name, actor=actor, parent_id=parent_id, task=task.as_json())
    class_set.record_fine_tune(FineTuneRow(run_id, parent_id, actor.owner_id, len(others), task.upto,
                                           before.accuracy, before.count))
    return FineTuneStarted(run_id, before, len(others))


def train_prepared(config: TrainConfig, *, data: Dataset,
                   prepare: Callable[[Dataset, TrainConfig], Dataset] | None = None, **rest) -> TrainResult:
    """`training.train` on `prepare(data, config)`: the local base of a fine-tune. (A Ray node takes the same
    `prepare` and applies it to the dataset it loads itself.)"""
    return train(config, data=data if prepare is None else prepare(data, config), **rest)


def fine_tune_trainer(store: RunStore, run_id: int, task: Mapping[str, object],
                      base: Callable[..., TrainResult] | None = None) -> Callable[..., TrainResult]:
    """The trainer (training.train's call) that `execute_run` uses for fine-tune run `run_id` in a worker: it
    reads the others' drawings from `store` when it starts, trains with them through `base` (default:
    `train_prepared`; it must take `prepare`), then stores the held-out student's score after."""
    return partial(_train_fine_tune, store, run_id, task, base or train_prepared)


def _train_fine_tune(store: RunStore, run_id: int, task_json: Mapping[str, object], base: Callable[..., TrainResult],
                     config: TrainConfig, *, data: Dataset, **rest) -> TrainResult:
    task = FineTuneTask.from_json(task_json)  # here, not earlier: a bad task fails its run, not the worker
    class_set = ClassSet(store)
    others = class_set.samples(exclude_owner=task.held_out_owner, upto=task.upto)
    images, labels = class_set.arrays(others)
    # A module function and two arrays: it can travel to a Ray node, where the dataset is loaded.
    prepare = partial(with_extra_training_images, images=images, labels=labels)
    result = base(config, data=data, prepare=prepare, **rest)
    held_out = class_set.samples(owner_id=task.held_out_owner, upto=task.upto)
    loaded = LoadedModel(result.model, config, result.mean, result.std, {}, "", run_id)
    try:
        after = meet(loaded, held_out, run_id, result.test_accuracy, per_digit=0)
    except TooFewSamples:  # the student deleted all their drawings meanwhile: nothing to test on
        after = None
    parent_id = store.get(run_id).parent_id  # RunNotFound when it was deleted meanwhile: execute_run drops it
    class_set.record_fine_tuned(FineTuneRow(
        run_id, int(parent_id or 0), task.held_out_owner, len(others), task.upto,
        after_accuracy=None if after is None else after.accuracy, after_count=None if after is None else after.count))
    return result
