"""Every hyperparameter of a training run in one place: `TrainConfig`, its validation and the course presets."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

DATASETS = ("mnist", "fashion")
MODELS = ("mlp", "cnn")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "gelu")
INITS = ("default", "xavier", "kaiming", "normal")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
# A sensible starting learning rate for each optimizer (the usual defaults for MNIST-sized networks): plain SGD
# needs a step about 100 times larger than Adam's, so one shared rate makes a race unfair to some of them.
DEFAULT_LEARNING_RATES = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01, "rmsprop": 0.001,
                          "adam": 0.001, "adamw": 0.001}
TRAIN_SET_SIZE = 60_000  # both MNIST and Fashion-MNIST
MAX_HIDDEN_LAYERS = 8
MAX_UNITS = 4096
MAX_EPOCHS = 200


def parse_layers(text: str) -> tuple[int, ...]:
    """Layer sizes as people type them: "256, 256", "256-256" or "256 256" -> (256, 256); "", "0" or "none" -> ()
    (no hidden layer: softmax regression). ValueError names the part that is not a whole number."""
    cleaned = str(text).strip().lower()
    if cleaned in ("", "0", "none", "-"):
        return ()
    sizes = []
    for part in (p for p in cleaned.replace("-", ",").replace(" ", ",").split(",") if p):
        if not part.isdigit():
            raise LayerSizeError(part)
        sizes.append(int(part))
    return tuple(sizes)


class LayerSizeError(ValueError):
    """A layer size that is not a whole number; `part` is the offending text, so the app can word it."""

    def __init__(self, part: str) -> None:
        self.part = part
        super().__init__(f"{part!r} is not a whole number")


def layers_to_text(sizes: tuple[int, ...]) -> str:
    """(256, 256) -> "256, 256"; () -> "" (no hidden layer). The inverse of parse_layers."""
    return ", ".join(str(s) for s in sizes)


@dataclass(frozen=True)
class TrainConfig:
    """One training run's hyperparameters. Defaults are the course's: Adam, lr 0.001, batch 100, 15 epochs."""

    dataset: str = "mnist"
    model: str = "mlp"
    hidden: tuple[int, ...] = (256, 256)  # MLP hidden layers; for the CNN, the dense layers after the convolutions
    conv_channels: tuple[int, int] = (16, 32)  # CNN only: channels of its two 5x5 convolution blocks
    activation: str = "relu"
    dropout: float = 0.0
    init: str = "default"
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 100
    epochs: int = 15
    shuffle: bool = True
    drop_last: bool = False
    seed: int = 0
    val_size: int = 5_000
    train_limit: int = 0  # use only the first N training samples (after the validation split); 0 = all
    preset: str = ""  # which preset this started from, for labels only; "" = custom

    def __post_init__(self) -> None:
        # JSON and CLI give lists; keep tuples so configs stay hashable and compare equal.
        for name in ("hidden", "conv_channels"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))

    # -- derived numbers the UI teaches with -------------------------------------------------
    @property
    def train_samples(self) -> int:
        """Samples seen per epoch: the training set minus the validation split, capped by train_limit."""
        available = TRAIN_SET_SIZE - self.val_size
        return min(available, self.train_limit) if self.train_limit else available

    @property
    def iterations_per_epoch(self) -> int:
        """What DataLoader(batch_size, drop_last) gives: 60000/100 = 600; a partial last batch counts unless dropped."""
        n, b = self.train_samples, self.batch_size
        return n // b if self.drop_last else math.ceil(n / b)

    @property
    def total_iterations(self) -> int:
        return self.iterations_per_epoch * self.epochs

    # -- validation ----------------------------------------------------------------------------
    def problems(self) -> list[ConfigProblem]:
        """Every problem at once, so a form can mark all bad fields in one go."""
        found: list[ConfigProblem] = []

        def bad(name: str, allowed: str, rule: str, **limits: Any) -> None:
            found.append(ConfigProblem(name, getattr(self, name), allowed, rule, limits))

        for name, choices in (
            ("dataset", DATASETS),
            ("model", MODELS),
            ("activation", ACTIVATIONS),
            ("init", INITS),
            ("optimizer", OPTIMIZERS),
        ):
            if getattr(self, name) not in choices:
                bad(name, "one of " + ", ".join(choices), "choice", choices=choices)
        if (not isinstance(self.hidden, tuple) or len(self.hidden) > MAX_HIDDEN_LAYERS
                or not all(_is_int(u) and 1 <= u <= MAX_UNITS for u in self.hidden)):
            bad("hidden", f"0 to {MAX_HIDDEN_LAYERS} layers of 1 to {MAX_UNITS} units", "layers",
                max_layers=MAX_HIDDEN_LAYERS, max_units=MAX_UNITS)
        if (not isinstance(self.conv_channels, tuple) or len(self.conv_channels) != 2
                or not all(_is_int(c) and 1 <= c <= 256 for c in self.conv_channels)):
            bad("conv_channels", "two channel counts, each 1 to 256", "channels", high=256)
        if not _is_number(self.dropout) or not 0.0 <= self.dropout <= 0.9:
            bad("dropout", "0 to 0.9", "range", low=0, high=0.9)
        if not _is_number(self.lr) or not 0.0 < self.lr <= 10.0:
            bad("lr", "greater than 0, at most 10", "above_zero", high=10)
        if not _is_number(self.weight_decay) or not 0.0 <= self.weight_decay <= 1.0:
            bad("weight_decay", "0 to 1", "range", low=0, high=1)
        if not _is_int(self.epochs) or not 1 <= self.epochs <= MAX_EPOCHS:
            bad("epochs", f"1 to {MAX_EPOCHS}", "range", low=1, high=MAX_EPOCHS)
        if not _is_int(self.seed) or not 0 <= self.seed < 2**63:
            bad("seed", "0 to 2^63-1", "range", low=0, high="2^63-1")
        if not _is_int(self.val_size) or not 0 <= self.val_size <= TRAIN_SET_SIZE - 1000:
            bad("val_size", f"0 to {TRAIN_SET_SIZE - 1000}", "range", low=0, high=TRAIN_SET_SIZE - 1000)
        if not _is_int(self.train_limit) or not 0 <= self.train_limit <= TRAIN_SET_SIZE:
            bad("train_limit", f"0 (all) to {TRAIN_SET_SIZE}", "range_all", high=TRAIN_SET_SIZE)
        for flag in ("shuffle", "drop_last"):
            if not isinstance(getattr(self, flag), bool):
                bad(flag, "true or false", "flag")
        if not isinstance(self.preset, str):
            bad("preset", "a preset name or empty", "preset_name")
        # The batch limit depends on the split, so it is only meaningful once the split is valid.
        if not any(p.field in ("val_size", "train_limit") for p in found):
            limit = self.train_samples
            if not _is_int(self.batch_size) or not 1 <= self.batch_size <= limit:
                bad("batch_size", f"1 to {limit} (the training-set size; {limit} = full-batch gradient descent)",
                    "batch", high=limit)
        return found

    def validated(self) -> TrainConfig:
        """Return self, or raise ConfigError listing every problem."""
        problems = self.problems()
        if problems:
            raise ConfigError(problems)
        return self

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden"], d["conv_channels"] = list(self.hidden), list(self.conv_channels)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError([ConfigProblem(name, data[name], "not a TrainConfig field", "unknown_field")
                               for name in unknown])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError([ConfigProblem("config", text[:40], f"valid JSON ({exc.msg})", "json",
                                             {"error": exc.msg})]) from None
        if not isinstance(data, dict):
            raise ConfigError([ConfigProblem("config", data, "a JSON object", "json_object")])
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ConfigProblem:
    """One bad field. `allowed` says in English what would be accepted (the CLI prints it); `rule` and `limits`
    carry the same as data ("range", {"low": 1, "high": 200}), so the app words it in the student's language."""

    field: str
    value: Any
    allowed: str
    rule: str = ""  # "" when only `allowed` describes it
    limits: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.field}={self.value!r}: allowed {self.allowed}"


class ConfigError(ValueError):
    """Raised with every problem of a config; `problems` keeps them for forms that mark fields."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# The course's experiments: 15 epochs, batch 100, learning rate 0.001 unless the experiment is about changing it.
_COURSE = TrainConfig(epochs=15, batch_size=100, lr=1e-3)
PRESETS: dict[str, TrainConfig] = {
    "softmax-sgd": _COURSE.replace(hidden=(), optimizer="sgd", lr=0.1),
    "softmax-adam": _COURSE.replace(hidden=(), optimizer="adam"),
    "mlp-3": _COURSE.replace(hidden=(256, 256)),
    "mlp-3-xavier": _COURSE.replace(hidden=(256, 256), init="xavier"),
    "dnn-5-xavier": _COURSE.replace(hidden=(512, 512, 512, 512), init="xavier"),
    "dnn-5-dropout": _COURSE.replace(hidden=(512, 512, 512, 512), init="xavier", dropout=0.3),
    "lenet": _COURSE.replace(model="cnn", hidden=(128,), conv_channels=(16, 32)),
}
PRESETS = {name: cfg.replace(preset=name) for name, cfg in PRESETS.items()}

PRESET_DESCRIPTIONS: dict[str, str] = {
    "softmax-sgd": "One Linear layer (784-10, softmax regression) trained with plain SGD.",
    "softmax-adam": "The same single layer with Adam: compare how fast each optimizer gets there.",
    "mlp-3": "Three Linear layers, 784-256-256-10, ReLU.",
    "mlp-3-xavier": "The same three layers with Xavier initialisation instead of PyTorch's default.",
    "dnn-5-xavier": "Five Linear layers, 784-512-512-512-512-10, Xavier initialisation.",
    "dnn-5-dropout": "The five-layer net with dropout p=0.3 between layers, against overfitting.",
    "lenet": "A small CNN: two 5x5 convolution blocks (16 and 32 channels) and a 128-unit dense layer.",
}


def preset_config(name: str, **overrides: Any) -> TrainConfig:
    """A preset with some fields changed (explicit CLI options override the preset)."""
    if name not in PRESETS:
        raise ConfigError([ConfigProblem("preset", name, "one of " + ", ".join(PRESETS), "choice",
                                         {"choices": tuple(PRESETS)})])
    return PRESETS[name].replace(**overrides)
