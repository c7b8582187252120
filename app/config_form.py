"""The Train form's values <-> TrainConfig, with every problem named by the label the student sees.

Form widgets give strings ("256, 256") and floats; this turns them into a TrainConfig the same way every time and
collects parse problems together with TrainConfig's own validation, so all bad fields show at once.
"""

from __future__ import annotations

from typing import Any

from mnist_core.config import ConfigProblem, TrainConfig, layers_to_text, parse_layers

# The label each field has in the form; messages use them so a student knows which box to fix.
FIELD_LABELS: dict[str, str] = {
    "dataset": "Dataset",
    "val_size": "Validation images",
    "train_limit": "Training images (0 = all)",
    "batch_size": "Batch size",
    "shuffle": "Shuffle each epoch",
    "drop_last": "Drop the last partial batch",
    "model": "Network",
    "hidden": "Hidden layers",
    "conv_channels": "Convolution channels",
    "activation": "Activation",
    "dropout": "Dropout",
    "init": "Initialisation",
    "optimizer": "Optimizer",
    "lr": "Learning rate",
    "weight_decay": "Weight decay",
    "epochs": "Epochs",
    "seed": "Seed",
    "preset": "Preset",
}
_LAYER_FIELDS = ("hidden", "conv_channels")


def form_values(config: TrainConfig) -> dict[str, Any]:
    """A config as the form shows it (layer sizes as text); the inverse of `config_from_form`."""
    values = config.to_dict()
    for name in _LAYER_FIELDS:
        values[name] = layers_to_text(getattr(config, name))
    return values


def config_from_form(values: dict[str, Any]) -> tuple[TrainConfig | None, list[ConfigProblem]]:
    """Build a validated TrainConfig, or return None with every problem (parse errors and range checks)."""
    problems: list[ConfigProblem] = []
    cleaned = {k: v for k, v in values.items() if k in FIELD_LABELS}
    for name in _LAYER_FIELDS:
        if name in cleaned and isinstance(cleaned[name], str):
            try:
                cleaned[name] = parse_layers(cleaned[name])
            except ValueError as exc:
                allowed = f"comma-separated whole numbers like 256, 256 ({exc})"
                problems.append(ConfigProblem(name, values[name], allowed))
                cleaned[name] = TrainConfig.__dataclass_fields__[name].default
    for name in ("val_size", "train_limit", "batch_size", "epochs", "seed"):
        # number_input gives floats when a student types "1e3"; a whole float is the int they meant.
        value = cleaned.get(name)
        if isinstance(value, float) and value.is_integer():
            cleaned[name] = int(value)
    cleaned.pop("preset", None)
    config = TrainConfig(**cleaned)
    problems += [p for p in config.problems() if p.field not in {q.field for q in problems}]
    if problems:
        return None, problems
    # The label follows the settings, not the preset picked earlier: edited settings are "custom".
    return config.replace(preset=matching_preset(config)), []


def problem_message(problem: ConfigProblem) -> str:
    """E.g. "Batch size: 100000 is not allowed — use 1 to 55000 (...)"."""
    label = FIELD_LABELS.get(problem.field, problem.field)
    value = layers_to_text(problem.value) if isinstance(problem.value, tuple) else problem.value
    shown = f"“{value}”" if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)
    return f"{label}: {shown} is not allowed — use {problem.allowed}."


# What makes a run "the course's mlp-3": the network and how it is optimised. Data amount, batch size, epochs
# and seed are what students vary around a preset, so they keep its name.
PRESET_DEFINING = ("model", "hidden", "conv_channels", "activation", "dropout", "init", "optimizer", "lr",
                   "weight_decay")


def matching_preset(config: TrainConfig) -> str:
    """The preset whose network and optimisation this config has, or "" once a student changed one of those."""
    from mnist_core.config import PRESETS

    for name, preset in PRESETS.items():
        if all(getattr(preset, f) == getattr(config, f) for f in PRESET_DEFINING):
            return name
    return ""
