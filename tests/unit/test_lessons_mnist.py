"""Lessons 7 and 8 on the real MNIST test images: what initialisation passes to deep layers, parameter counts,
and training against inference."""

from __future__ import annotations

import pytest
import torch

from mnist_core.config import PRESETS
from mnist_core.data import normalize
from mnist_core.lessons import initialisation, parameters
from mnist_core.models import build_model, parameter_count


@pytest.fixture(scope="module")
def images(mnist):
    return normalize(mnist.test_images[:300], mnist.mean, mnist.std)


def test_random_normal_weights_starve_the_deep_layers_and_xavier_does_not(images) -> None:
    normal = initialisation.activation_stats(images, "normal", "tanh")
    xavier = initialisation.activation_stats(images, "xavier", "tanh")
    assert len(normal) == initialisation.LAYERS
    assert normal[-1].std < 1e-6  # N(0, 0.01^2): the signal shrinks ~100x per layer of 256
    assert 0.05 < xavier[-1].std < 1.0  # Xavier keeps it alive to the last layer
    assert xavier[-1].std > 1000 * normal[-1].std


def test_kaiming_keeps_relu_layers_alive(images) -> None:
    kaiming = initialisation.activation_stats(images, "kaiming", "relu")
    stds = [s.std for s in kaiming]
    assert min(stds) > 0.1 and max(stds) / min(stds) < 10


def test_the_dropout_runs_differ_only_in_dropout() -> None:
    configs = initialisation.dropout_comparison(epochs=12, p=0.3)
    without, with_dropout = configs.values()
    assert (without.dropout, with_dropout.dropout) == (0.0, 0.3)
    assert without == with_dropout.replace(dropout=0.0) and without.epochs == 12


@pytest.mark.parametrize("preset", ["softmax-sgd", "mlp-3", "lenet"])
def test_parameter_rows_add_up_to_the_model(preset: str) -> None:
    rows = parameters.parameter_rows(PRESETS[preset])
    assert sum(r.count for r in rows) == parameter_count(build_model(PRESETS[preset]))
    if preset == "mlp-3":
        assert [(r.name, r.count) for r in rows[:2]] == [("1.weight", 784 * 256), ("1.bias", 256)]


def test_inference_changes_no_parameter_and_a_training_step_does(mnist, images) -> None:
    effect = parameters.training_vs_inference(PRESETS["mlp-3"], images[0], int(mnist.test_labels[0]))
    assert effect.changed_by_inference == 0
    assert effect.total == parameter_count(build_model(PRESETS["mlp-3"]))
    # Adam's first step moves exactly the values whose gradient is not 0 (dead ReLU units' weights stay).
    model = build_model(PRESETS["mlp-3"])
    torch.nn.functional.cross_entropy(model(images[:1]), mnist.test_labels[:1]).backward()
    assert effect.changed_by_training == sum(int((p.grad != 0).sum()) for p in model.parameters()) > 0
    assert 0 <= effect.prediction <= 9


def test_hyperparameters_are_the_train_forms_fields() -> None:
    from app.config_form import FIELD_LABELS

    assert set(parameters.HYPERPARAMETERS) == set(FIELD_LABELS) - {"preset"}
