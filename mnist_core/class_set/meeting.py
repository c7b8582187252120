"""A trained run meets the class's handwriting: its accuracy on the class set next to its MNIST test accuracy,
the confusion matrix and the samples it read worst. The gap between the two accuracies is the dataset shift: the
model learnt from MNIST's writers, and the class writes differently."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mnist_core.class_set.samples import DIGITS, ClassSet, Sample
from mnist_core.data import normalize
from mnist_core.evaluation import evaluate_with_confidence
from mnist_core.runs.store import RunStore
from mnist_core.weights import LoadedModel

MIN_PER_DIGIT = 3  # fewer drawings of a digit say nothing about how well it is read
WORST_SHOWN = 12


class TooFewSamples(ValueError):
    """The set is too small to evaluate on: `missing[d]` more samples of digit d are needed."""

    def __init__(self, missing: list[int], per_digit: int = MIN_PER_DIGIT) -> None:
        needs = ", ".join(f"{d}: {n}" for d, n in enumerate(missing) if n)
        super().__init__(f"the class set is too small to evaluate on: it needs at least {per_digit} samples of "
                         f"every digit; still missing (digit: samples) {needs}")
        self.missing, self.per_digit = missing, per_digit


class NotDigits(ValueError):
    """The run was not trained on handwritten digits (Fashion-MNIST): the class set means nothing to it."""


@dataclass(frozen=True)
class Meeting:
    run_id: int | None
    count: int
    accuracy: float
    mnist_test_accuracy: float | None
    confusion: np.ndarray  # int [10, 10]: rows the true digit, columns the model's answer
    labels: np.ndarray  # int [N]: the true digits
    predicted: np.ndarray  # int [N]
    true_confidence: np.ndarray  # float [N]: the probability the model gave the true digit
    sample_ids: list[int]

    @property
    def gap(self) -> float | None:
        """MNIST test accuracy minus class-set accuracy (positive: the class's handwriting is harder for it)."""
        return None if self.mnist_test_accuracy is None else self.mnist_test_accuracy - self.accuracy

    def worst(self, n: int = WORST_SHOWN) -> list[tuple[int, int, float]]:
        """The misread samples the model was surest were something else: (sample id, its answer, the probability
        it gave the true digit), lowest probability first."""
        wrong = np.flatnonzero(self.predicted != self.labels)
        order = wrong[np.argsort(self.true_confidence[wrong], kind="stable")][:n]
        return [(self.sample_ids[i], int(self.predicted[i]), float(self.true_confidence[i])) for i in order]

    def as_json(self) -> dict[str, object]:
        return {"run_id": self.run_id, "count": self.count, "accuracy": self.accuracy,
                "mnist_test_accuracy": self.mnist_test_accuracy, "gap": self.gap,
                "confusion": self.confusion.tolist()}


def missing_per_digit(counts: list[int], per_digit: int = MIN_PER_DIGIT) -> list[int]:
    """How many more samples of each digit the set needs before it can be evaluated on."""
    return [max(0, per_digit - n) for n in counts]


def check_enough(counts: list[int], per_digit: int = MIN_PER_DIGIT) -> None:
    """TooFewSamples unless every digit has `per_digit` samples (and the set has any at all)."""
    missing = missing_per_digit(counts, per_digit)
    if any(missing) or not sum(counts):
        raise TooFewSamples(missing if any(missing) else [1] * DIGITS, per_digit)


def meet(loaded: LoadedModel, samples: list[Sample], run_id: int | None = None,
         mnist_test_accuracy: float | None = None, per_digit: int = MIN_PER_DIGIT) -> Meeting:
    """`loaded` reads each sample's 28x28 image, normalised as it was trained; TooFewSamples for a small set."""
    if loaded.config.dataset != "mnist":
        raise NotDigits(f"run {run_id} was trained on {loaded.config.dataset}, not on handwritten digits")
    counts = [0] * DIGITS
    for sample in samples:
        counts[sample.label] += 1
    check_enough(counts, per_digit)
    inputs = normalize(torch.from_numpy(np.stack([s.image for s in samples])), loaded.mean, loaded.std)
    labels = torch.tensor([s.label for s in samples], dtype=torch.long)
    _, accuracy, predicted, _ = evaluate_with_confidence(loaded.model, inputs, labels)
    with torch.inference_mode():
        probabilities = torch.softmax(loaded.model.eval()(inputs).float(), 1)
    true_confidence = probabilities[torch.arange(len(labels)), labels].numpy()
    confusion = np.zeros((DIGITS, DIGITS), dtype=np.int64)
    np.add.at(confusion, (labels.numpy(), predicted.numpy()), 1)
    return Meeting(run_id, len(samples), accuracy, mnist_test_accuracy, confusion, labels.numpy(),
                   predicted.numpy(), true_confidence, [s.id for s in samples])


def unseen_samples(class_set: ClassSet, run_id: int | None) -> tuple[list[Sample], str | None]:
    """The samples run `run_id` never trained on, and whose they are: the whole set, except for a run fine-tuned
    on the class set, which is measured only on the student it held out (it learnt from everyone else's)."""
    tuned = class_set.fine_tune_of(run_id) if run_id is not None else None
    if tuned is None:
        return class_set.samples(), None
    return class_set.samples(owner_id=tuned[1]), tuned[1]


def meet_run(store: RunStore, run_id: int, owner_id: str | None = None, per_digit: int = MIN_PER_DIGIT) -> Meeting:
    """Stored run `run_id` on the samples of the class set it never trained on (or on one student's):
    RunNotFound, ModelUnavailable, NotDigits or TooFewSamples."""
    record = store.get(run_id)
    loaded = store.load_model(run_id)
    class_set = ClassSet(store)
    if owner_id is not None:
        samples = class_set.samples(owner_id=owner_id)
    else:
        samples, held_out = unseen_samples(class_set, run_id)
        per_digit = 0 if held_out is not None else per_digit
    return meet(loaded, samples, run_id, record.test_accuracy, per_digit)
