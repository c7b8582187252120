"""Networks built from configs (activations, initialisations, seeds, layer table) and the weights-file format."""

from __future__ import annotations

import math
import os
import pathlib

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from mnist_core.config import ACTIVATIONS, INITS, TrainConfig
from mnist_core.data import normalize
from mnist_core.models import ACTIVATION_LAYERS, build_model, layer_summary, parameter_count
from mnist_core.weights import WeightsError, load_model, save_model


@pytest.fixture(scope="module")
def batch(mnist) -> torch.Tensor:
    return normalize(mnist.test_images[:64], mnist.mean, mnist.std)


def first_linear(model: nn.Module) -> nn.Linear:
    return next(m for m in model.modules() if isinstance(m, nn.Linear))


def weights_equal(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("model_kind", ["mlp", "cnn"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_builds_and_gives_logits(batch, model_kind, activation):
    config = TrainConfig(model=model_kind, activation=activation, hidden=(32,), dropout=0.2)
    model = build_model(config).eval()
    with torch.no_grad():
        out = model(batch)
    assert out.shape == (64, 10) and out.dtype == torch.float32 and torch.isfinite(out).all()
    kinds = {type(m) for m in model.modules()}
    assert ACTIVATION_LAYERS[activation] in kinds
    assert not (kinds & (set(ACTIVATION_LAYERS.values()) - {ACTIVATION_LAYERS[activation]}))


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("hidden", [(), (64, 32)])
def test_every_init_builds_and_gives_logits(batch, init, hidden):
    model = build_model(TrainConfig(init=init, hidden=hidden)).eval()
    with torch.no_grad():
        assert model(batch).shape == (64, 10)


def test_softmax_regression_has_no_activation():
    model = build_model(TrainConfig(hidden=()))
    assert not any(isinstance(m, tuple(ACTIVATION_LAYERS.values())) for m in model.modules())


def test_same_seed_same_weights_different_seed_different():
    for kind in ("mlp", "cnn"):
        a = build_model(TrainConfig(model=kind, hidden=(64,), seed=3))
        torch.rand(100)  # global RNG activity in between must not matter
        b = build_model(TrainConfig(model=kind, hidden=(64,), seed=3))
        c = build_model(TrainConfig(model=kind, hidden=(64,), seed=4))
        assert weights_equal(a, b)
        assert not weights_equal(a, c)


def test_building_leaves_the_global_generator_alone():
    torch.manual_seed(11)
    expected = torch.rand(5)
    torch.manual_seed(11)
    build_model(TrainConfig(seed=99))
    assert torch.equal(torch.rand(5), expected)


def test_inits_shape_the_weight_distribution():
    hidden = (256, 256)
    fan_in, fan_out = 784, 256
    layers = {init: first_linear(build_model(TrainConfig(hidden=hidden, init=init))) for init in INITS}
    std = {init: float(layer.weight.detach().std()) for init, layer in layers.items()}

    # PyTorch's default: uniform(+-1/sqrt(fan_in)), std = bound/sqrt(3), biases not zero.
    default_bound = 1 / math.sqrt(fan_in)
    assert float(layers["default"].weight.detach().abs().max()) <= default_bound
    assert std["default"] == pytest.approx(default_bound / math.sqrt(3), rel=0.03)
    assert float(layers["default"].bias.detach().abs().sum()) > 0

    xavier_bound = math.sqrt(6 / (fan_in + fan_out))
    assert float(layers["xavier"].weight.detach().abs().max()) <= xavier_bound
    assert std["xavier"] == pytest.approx(xavier_bound / math.sqrt(3), rel=0.03)

    assert std["kaiming"] == pytest.approx(math.sqrt(2 / fan_in), rel=0.03)  # ReLU gain
    assert float(layers["kaiming"].weight.detach().abs().max()) > math.sqrt(2 / fan_in) * 3  # a normal, not a uniform

    assert std["normal"] == pytest.approx(0.01, rel=0.03)
    assert float(layers["normal"].weight.detach().mean()) == pytest.approx(0.0, abs=1e-3)

    for init in ("xavier", "kaiming", "normal"):
        assert float(layers[init].bias.detach().abs().sum()) == 0.0


def test_inits_reach_every_layer_including_convolutions():
    model = build_model(TrainConfig(model="cnn", hidden=(128,), init="normal"))
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            assert float(m.weight.detach().std()) == pytest.approx(0.01, rel=0.15)
            assert float(m.bias.detach().abs().sum()) == 0.0


def test_lenet_layer_summary():
    config = TrainConfig(model="cnn", hidden=(128,), conv_channels=(16, 32))
    model = build_model(config)
    rows = layer_summary(model)
    assert [(r.kind, r.output_shape) for r in rows] == [
        ("Conv2d", (16, 28, 28)),
        ("ReLU", (16, 28, 28)),
        ("MaxPool2d", (16, 14, 14)),
        ("Conv2d", (32, 14, 14)),
        ("ReLU", (32, 14, 14)),
        ("MaxPool2d", (32, 7, 7)),
        ("Flatten", (1568,)),
        ("Linear", (128,)),
        ("ReLU", (128,)),
        ("Linear", (10,)),
    ]
    expected = [1 * 16 * 25 + 16, 16 * 32 * 25 + 32, 1568 * 128 + 128, 128 * 10 + 10]
    assert [r.params for r in rows if r.params] == expected
    assert sum(r.params for r in rows) == parameter_count(model)
    assert len({r.name for r in rows}) == len(rows)


def test_mlp_layer_summary_matches_parameter_count():
    model = build_model(TrainConfig(hidden=(300, 100), dropout=0.5))
    rows = layer_summary(model)
    assert rows[0].kind == "Flatten" and rows[0].output_shape == (784,)
    assert rows[-1].kind == "Linear" and rows[-1].output_shape == (10,)
    assert sum(r.params for r in rows) == parameter_count(model) == 784 * 300 + 300 + 300 * 100 + 100 + 1010
    assert model.training  # the summary does not leave the model in another mode


# -- the weights file -------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [TrainConfig(hidden=(64, 32), dropout=0.3),
                                    TrainConfig(model="cnn", hidden=(16,), conv_channels=(4, 8), seed=5)])
def test_save_and_load_round_trip(tmp_path, batch, config):
    model = build_model(config.replace(seed=config.seed + 100))  # weights a fresh build_model would not give
    path = tmp_path / "nested" / "run.safetensors"
    save_model(path, model, config, 0.1307, 0.3081, metadata={"note": "hello"})
    assert not list(path.parent.glob("*.part"))
    loaded = load_model(path)
    assert loaded.config == config
    assert (loaded.mean, loaded.std) == (0.1307, 0.3081)
    assert loaded.metadata["note"] == "hello"
    assert not loaded.model.training
    assert weights_equal(loaded.model, model)
    with torch.no_grad():
        assert torch.equal(loaded.model(batch), model.eval()(batch))


@pytest.fixture
def saved(tmp_path) -> pathlib.Path:
    path = tmp_path / "good.safetensors"
    save_model(path, build_model(TrainConfig(hidden=(32,))), TrainConfig(hidden=(32,)), 0.13, 0.31)
    return path


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        load_model(tmp_path / "nope.safetensors")


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "noise.safetensors"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(WeightsError) as caught:
        load_model(path)
    assert str(path) in str(caught.value)


def test_truncated_file_is_refused(saved):
    saved.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(WeightsError) as caught:
        load_model(saved)
    assert str(saved) in str(caught.value)


def test_config_that_does_not_match_the_tensors_is_refused(tmp_path):
    path = tmp_path / "tampered.safetensors"
    # The tensors of a 784-256-256-10 net, with metadata claiming 784-128-10.
    save_model(path, build_model(TrainConfig()), TrainConfig(hidden=(128,)), 0.13, 0.31)
    with pytest.raises(WeightsError) as caught:
        load_model(path)
    assert str(path) in str(caught.value) and "does not match" in str(caught.value)


def test_a_tensor_of_the_wrong_shape_is_refused(tmp_path):
    config = TrainConfig(hidden=(32,))
    tensors = {k: v.clone() for k, v in build_model(config).state_dict().items()}
    tensors["1.weight"] = torch.zeros(32, 783)
    path = tmp_path / "reshaped.safetensors"
    save_file(tensors, str(path), metadata={"config": config.to_json(), "mean": "0.13", "std": "0.31"})
    with pytest.raises(WeightsError, match="does not match"):
        load_model(path)


@pytest.mark.parametrize("metadata", [{}, {"config": "{oops", "mean": "0.1", "std": "0.3"},
                                      {"config": TrainConfig(lr=-1.0).to_json(), "mean": "0.1", "std": "0.3"},
                                      {"config": TrainConfig().to_json(), "mean": "zero", "std": "0.3"}])
def test_missing_or_bad_metadata_is_refused(tmp_path, metadata):
    path = tmp_path / "meta.safetensors"
    save_file({k: v.clone() for k, v in build_model(TrainConfig()).state_dict().items()}, str(path), metadata=metadata)
    with pytest.raises(WeightsError) as caught:
        load_model(path)
    assert str(path) in str(caught.value)


class _Trap:
    """Unpickling this creates a marker file: proof that a loader executed pickle code."""

    marker: pathlib.Path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_a_pickle_file_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    trap = _Trap()
    trap.marker = marker
    path = tmp_path / "model.safetensors"  # the right name, the wrong format
    torch.save({"state": build_model(TrainConfig(hidden=(32,))).state_dict(), "trap": trap}, path)
    assert path.stat().st_size > 0 and not marker.exists()
    with pytest.raises(WeightsError) as caught:
        load_model(path)
    assert str(path) in str(caught.value)
    assert not marker.exists()
