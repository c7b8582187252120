"""TrainConfig: the course's defaults, the presets' architectures, validation messages and the batch arithmetic."""

from __future__ import annotations

import dataclasses
import json

import pytest
from torch import nn
from torch.utils.data import DataLoader

from mnist_core.config import (
    ACTIVATIONS,
    DATASETS,
    INITS,
    MODELS,
    OPTIMIZERS,
    PRESET_DESCRIPTIONS,
    PRESETS,
    ConfigError,
    TrainConfig,
    preset_config,
)
from mnist_core.models import build_model, parameter_count


def linear_shapes(model: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)]


def test_defaults_are_the_courses():
    c = TrainConfig()
    assert (c.dataset, c.model, c.optimizer, c.lr, c.batch_size, c.epochs) == ("mnist", "mlp", "adam", 1e-3, 100, 15)
    assert c.val_size == 5_000 and c.shuffle and not c.drop_last and c.dropout == 0.0 and c.init == "default"
    assert c.problems() == []
    assert DATASETS == ("mnist", "fashion") and MODELS == ("mlp", "cnn")
    assert set(ACTIVATIONS) == {"relu", "sigmoid", "tanh", "leaky_relu", "gelu"}
    assert set(INITS) == {"default", "xavier", "kaiming", "normal"}
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}


def test_presets_validate_and_follow_the_course():
    assert set(PRESETS) == {
        "softmax-sgd", "softmax-adam", "mlp-3", "mlp-3-xavier", "dnn-5-xavier", "dnn-5-dropout", "lenet",
    }
    assert set(PRESET_DESCRIPTIONS) == set(PRESETS)
    for name, config in PRESETS.items():
        assert config.validated() is config
        assert config.preset == name
        assert (config.epochs, config.batch_size) == (15, 100)
        if name != "softmax-sgd":  # plain SGD at 0.001 would barely move in 15 epochs
            assert config.lr == 1e-3
    assert PRESETS["softmax-sgd"].optimizer == "sgd" and PRESETS["softmax-adam"].optimizer == "adam"


def test_softmax_presets_have_no_hidden_layer():
    for name in ("softmax-sgd", "softmax-adam"):
        model = build_model(PRESETS[name])
        assert linear_shapes(model) == [(784, 10)]
        assert parameter_count(model) == 784 * 10 + 10


def test_mlp3_is_784_256_256_10():
    for name in ("mlp-3", "mlp-3-xavier"):
        model = build_model(PRESETS[name])
        assert linear_shapes(model) == [(784, 256), (256, 256), (256, 10)]
        assert parameter_count(model) == 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10 == 269_322
    assert PRESETS["mlp-3-xavier"].init == "xavier" and PRESETS["mlp-3"].init == "default"


def test_dnn5_has_five_linear_layers_and_dropout():
    for name in ("dnn-5-xavier", "dnn-5-dropout"):
        config = PRESETS[name]
        model = build_model(config)
        assert linear_shapes(model) == [(784, 512), (512, 512), (512, 512), (512, 512), (512, 10)]
        assert config.init == "xavier"
        assert parameter_count(model) == 784 * 512 + 512 + 3 * (512 * 512 + 512) + 512 * 10 + 10
    dropouts = [m for m in build_model(PRESETS["dnn-5-dropout"]).modules() if isinstance(m, nn.Dropout)]
    assert len(dropouts) == 4 and all(d.p == 0.3 for d in dropouts)
    assert not [m for m in build_model(PRESETS["dnn-5-xavier"]).modules() if isinstance(m, nn.Dropout)]


def test_lenet_is_a_cnn():
    config = PRESETS["lenet"]
    assert config.model == "cnn"
    model = build_model(config)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(1, 16, (5, 5)), (16, 32, (5, 5))]
    assert linear_shapes(model) == [(32 * 7 * 7, 128), (128, 10)]


def test_preset_config_overrides_and_refuses_unknown_names():
    c = preset_config("mlp-3", epochs=2, lr=0.01)
    assert (c.epochs, c.lr, c.hidden, c.preset) == (2, 0.01, (256, 256), "mlp-3")
    with pytest.raises(ConfigError) as caught:
        preset_config("resnet")
    assert caught.value.problems[0].field == "preset" and "lenet" in str(caught.value)


def test_json_round_trip():
    for config in [TrainConfig(), *PRESETS.values(), TrainConfig(hidden=(7, 3, 5), dropout=0.25, shuffle=False,
                                                                 drop_last=True, seed=2**40, val_size=0)]:
        text = config.to_json()
        json.loads(text)  # plain JSON
        back = TrainConfig.from_json(text)
        assert back == config and isinstance(back.hidden, tuple)
        assert TrainConfig.from_dict(config.to_dict()) == config
    assert TrainConfig(hidden=[256, 256]) == TrainConfig()  # lists from JSON/CLI compare equal to tuples


def test_from_dict_rejects_unknown_fields():
    data = {**TrainConfig().to_dict(), "colour": "red", "layers": 3}
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_dict(data)
    assert sorted(p.field for p in caught.value.problems) == ["colour", "layers"]
    assert "colour" in str(caught.value) and "layers" in str(caught.value)


def test_from_json_rejects_malformed_text():
    with pytest.raises(ConfigError, match="JSON"):
        TrainConfig.from_json("{not json")
    with pytest.raises(ConfigError, match="JSON object"):
        TrainConfig.from_json("[1, 2]")


def test_problems_lists_every_bad_field_at_once():
    config = TrainConfig(activation="swish", dropout=0.95, lr=0.0, epochs=0)
    problems = config.problems()
    assert [p.field for p in problems] == ["activation", "dropout", "lr", "epochs"]
    by_field = {p.field: p for p in problems}
    assert by_field["activation"].value == "swish" and "relu" in by_field["activation"].allowed
    assert by_field["dropout"].value == 0.95 and "0.9" in by_field["dropout"].allowed
    assert by_field["lr"].value == 0.0 and "greater than 0" in by_field["lr"].allowed
    assert by_field["epochs"].value == 0 and "1 to" in by_field["epochs"].allowed
    with pytest.raises(ConfigError) as caught:
        config.validated()
    assert caught.value.problems == problems
    for text in ("activation='swish'", "dropout=0.95", "lr=0.0", "epochs=0"):
        assert text in str(caught.value)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"dataset": "cifar"}, "dataset"),
        ({"model": "rnn"}, "model"),
        ({"hidden": (256,) * 9}, "hidden"),
        ({"hidden": (0,)}, "hidden"),
        ({"hidden": (4097,)}, "hidden"),
        ({"hidden": (2.5,)}, "hidden"),
        ({"conv_channels": (16,)}, "conv_channels"),
        ({"init": "zeros"}, "init"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"dropout": -0.1}, "dropout"),
        ({"dropout": float("nan")}, "dropout"),
        ({"lr": -1.0}, "lr"),
        ({"lr": "fast"}, "lr"),
        ({"weight_decay": 2.0}, "weight_decay"),
        ({"epochs": 201}, "epochs"),
        ({"epochs": True}, "epochs"),
        ({"seed": -1}, "seed"),
        ({"val_size": 59_500}, "val_size"),
        ({"train_limit": -5}, "train_limit"),
        ({"shuffle": "yes"}, "shuffle"),
        ({"drop_last": 1}, "drop_last"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_each_bad_value_is_named(changes, field):
    problems = TrainConfig(**changes).problems()
    assert [p.field for p in problems] == [field]
    assert problems[0].allowed


def test_edges_that_are_allowed():
    assert TrainConfig(hidden=()).problems() == []
    assert TrainConfig(hidden=(4096,) * 8).problems() == []
    assert TrainConfig(dropout=0.9, weight_decay=1.0, epochs=200, val_size=59_000, batch_size=1000).problems() == []


def test_batch_size_upper_bound_is_the_training_set():
    assert TrainConfig(batch_size=55_000).problems() == []
    (problem,) = TrainConfig(batch_size=55_001).problems()
    assert problem.field == "batch_size" and problem.value == 55_001 and "55000" in problem.allowed
    assert TrainConfig(val_size=0, batch_size=60_000).problems() == []
    assert [p.field for p in TrainConfig(val_size=0, batch_size=60_001).problems()] == ["batch_size"]
    (problem,) = TrainConfig(train_limit=1000, batch_size=1001).problems()
    assert "1000" in problem.allowed


def test_full_batch_is_one_iteration_per_epoch():
    config = TrainConfig(val_size=0, batch_size=60_000, epochs=3)
    assert config.iterations_per_epoch == 1 and config.total_iterations == 3


def test_iterations_per_epoch_as_the_course_teaches():
    assert TrainConfig(val_size=0).iterations_per_epoch == 600
    assert TrainConfig().iterations_per_epoch == 550
    assert TrainConfig().total_iterations == 550 * 15
    assert TrainConfig().train_samples == 55_000
    assert TrainConfig(train_limit=10_000).train_samples == 10_000
    assert TrainConfig(val_size=55_000, train_limit=10_000).train_samples == 5_000


@pytest.mark.parametrize(
    "n_kwargs, batch",
    [
        ({}, 128),  # 55,000 / 128 = 429.7
        ({}, 100),
        ({"val_size": 0}, 7),
        ({"train_limit": 1000}, 1000),
        ({"train_limit": 1000}, 999),
        ({"train_limit": 1000}, 1),
    ],
)
@pytest.mark.parametrize("drop_last", [False, True])
def test_iterations_equal_dataloaders(n_kwargs, batch, drop_last):
    config = TrainConfig(batch_size=batch, drop_last=drop_last, **n_kwargs)
    loader = DataLoader(range(config.train_samples), batch_size=batch, drop_last=drop_last)
    assert config.iterations_per_epoch == len(loader)


def test_drop_last_on_55000_by_128():
    assert TrainConfig(batch_size=128, drop_last=True).iterations_per_epoch == 429
    assert TrainConfig(batch_size=128, drop_last=False).iterations_per_epoch == 430


def test_config_is_frozen_and_replace_makes_a_copy():
    c = TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'lr'"):
        c.lr = 0.5  # type: ignore[misc]
    d = c.replace(lr=0.5)
    assert c.lr == 1e-3 and d.lr == 0.5 and c != d
    assert d == TrainConfig(lr=0.5) and {c: "course", d: "faster"}[TrainConfig(lr=0.5)] == "faster"


def test_from_dict_with_a_wrong_type_gives_a_config_error_not_a_crash() -> None:
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_dict({"hidden": 5, "conv_channels": "16,32"}).validated()
    assert {p.field for p in caught.value.problems} == {"hidden", "conv_channels"}
