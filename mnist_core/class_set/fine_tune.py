"""Continue training a run on MNIST plus the class set, honestly: the student who asks is held out. The network
trains on everyone else's handwriting and is tested on theirs, before and after, so the score measures how well it
reads handwriting it never saw, not how well it remembers.

The class's drawings take the places of as many MNIST training images (repeated until they are a tenth of an
epoch, since a few hundred among 55,000 would change nothing), so the trainer itself needs no change: it trains on
a Dataset whose training images are MNIST's with those places replaced. Validation and test images stay MNIST's.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from mnist_core.backends.execution import execute_run
from mnist_core.class_set.meeting import Meeting, NotDigits, meet
from mnist_core.class_set.samples import ClassSet, ClassSetRefused, Sample
from mnist_core.config import TrainConfig
from mnist_core.cost import check_fits
from mnist_core.data import Dataset, split_indices
from mnist_core.runs.class_rules import OwnerUsage, check_may_submit, rules_in_force
from mnist_core.runs.continuation import continued_config
from mnist_core.runs.permissions import Actor
from mnist_core.runs.store import RunStore
from mnist_core.training import train

MIN_HELD_OUT = 5  # the asking student's own drawings, to test on
MIN_TRAIN = 10  # the others' drawings, to train on
CLASS_SHARE = 0.1  # the class's drawings (repeated) fill this share of the training images
MAX_REPEATS = 50


@dataclass(frozen=True)
class FineTuned:
    run_id: int
    before: Meeting  # the parent run on the held-out student's samples
    after: Meeting | None  # the new run on them; None when it failed (its row says why)
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


def _trainer(images: np.ndarray, labels: np.ndarray, config: TrainConfig, *, data: Dataset, **rest):
    return train(config, data=with_extra_training_images(data, config, images, labels), **rest)


def split_for(class_set: ClassSet, owner_id: str) -> tuple[list[Sample], list[Sample]]:
    """(the others' samples to train on, `owner_id`'s to test on); ClassSetRefused when either is too small."""
    held_out = class_set.samples(owner_id=owner_id)
    others = class_set.samples(exclude_owner=owner_id)
    if len(held_out) < MIN_HELD_OUT:
        raise ClassSetRefused("own_samples", f"add at least {MIN_HELD_OUT - len(held_out)} more drawings of your "
                              f"own first: the fine-tuned network is tested on yours ({len(held_out)} now)",
                              missing=MIN_HELD_OUT - len(held_out), have=len(held_out))
    if len(others) < MIN_TRAIN:
        raise ClassSetRefused("others_samples", f"the others have drawn {len(others)} samples; at least "
                              f"{MIN_TRAIN} are needed to train on", missing=MIN_TRAIN - len(others),
                              have=len(others))
    return others, held_out


def fine_tune(store: RunStore, parent_id: int, actor: Actor, more_epochs: int = 1, name: str | None = None,
              stop: threading.Event | None = None) -> FineTuned:
    """Train run `parent_id` `more_epochs` further on MNIST plus everyone's class samples but `actor`'s, as a new
    run of `actor`'s, in this thread; then test the parent and the new run on `actor`'s samples. RunNotFound,
    CannotContinue, ConfigError, NotDigits, ClassSetRefused, RunTooLarge or LimitReached: nothing stored."""
    parent = store.get(parent_id)
    if parent.config.dataset != "mnist":
        raise NotDigits(f"run {parent_id} was trained on {parent.config.dataset}, not on handwritten digits")
    class_set = ClassSet(store)
    others, held_out = split_for(class_set, actor.owner_id)
    before = meet(store.load_model(parent_id), held_out, parent_id, parent.test_accuracy, per_digit=0)
    config = continued_config(store, parent, more_epochs)
    check_fits(config)
    rules = rules_in_force(store.root)

    def admit(usage: OwnerUsage) -> None:
        check_may_submit(rules, actor, [config], usage)

    run_id = store.create_runs([config], [name], owner=actor, parent_id=parent_id, admit=admit)[0]
    class_set.record_fine_tune(run_id, parent_id, actor.owner_id, len(others))
    images, labels = class_set.arrays(others)
    result = execute_run(store, run_id, config, stop=stop, trainer=partial(_trainer, images, labels))
    after = None
    if result is not None:
        after = meet(store.load_model(run_id), held_out, run_id, store.get(run_id).test_accuracy, per_digit=0)
    return FineTuned(run_id, before, after, len(others))
