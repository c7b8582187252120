"""The Train form's values <-> TrainConfig, with every problem named by the label the student sees.

Form widgets give strings ("256, 256") and floats; this turns them into a TrainConfig the same way every time and
collects parse problems together with TrainConfig's own validation, so all bad fields show at once.
"""

from __future__ import annotations

from typing import Any

from app.i18n import N_, _
from mnist_core.config import (
    PRESET_DESCRIPTIONS,
    ConfigProblem,
    LayerSizeError,
    TrainConfig,
    layers_to_text,
    parse_layers,
)

# The label each field has in the form; messages use them so a student knows which box to fix.
FIELD_LABELS: dict[str, str] = {
    "dataset": N_("Dataset"),
    "val_size": N_("Validation images"),
    "train_limit": N_("Training images (0 = all)"),
    "batch_size": N_("Batch size"),
    "shuffle": N_("Shuffle each epoch"),
    "drop_last": N_("Drop the last partial batch"),
    "model": N_("Network"),
    "hidden": N_("Hidden layers"),
    "conv_channels": N_("Convolution channels"),
    "activation": N_("Activation"),
    "dropout": N_("Dropout"),
    "init": N_("Initialisation"),
    "optimizer": N_("Optimizer"),
    "lr": N_("Learning rate"),
    "weight_decay": N_("Weight decay"),
    "epochs": N_("Epochs"),
    "seed": N_("Seed"),
    "preset": N_("Preset"),
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
            except LayerSizeError as exc:
                allowed = f"comma-separated whole numbers like 256, 256 ({exc})"
                problems.append(ConfigProblem(name, values[name], allowed, "whole_numbers", {"part": exc.part}))
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
    """E.g. "Batch size: 100000 is not allowed — use 1 to 55000 (...)", in the student's language."""
    label = _(FIELD_LABELS[problem.field]) if problem.field in FIELD_LABELS else problem.field
    value = layers_to_text(problem.value) if isinstance(problem.value, tuple) else problem.value
    shown = f"“{value}”" if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)
    return _("{field}: {value} is not allowed — use {allowed}.", field=label, value=shown,
             allowed=allowed_text(problem))


def allowed_text(problem: ConfigProblem) -> str:
    """What the field accepts, worded here from the problem's data (mnist_core words it in English only)."""
    limits = {name: str(value) for name, value in problem.limits.items()}
    worded = {
        "choice": lambda: _("one of {choices}", choices=", ".join(problem.limits.get("choices", ()))),
        "range": lambda: _("{low} to {high}", **limits),
        "range_all": lambda: _("0 (all) to {high}", **limits),
        "above_zero": lambda: _("greater than 0, at most {high}", **limits),
        "layers": lambda: _("0 to {max_layers} layers of 1 to {max_units} units", **limits),
        "channels": lambda: _("two channel counts, each 1 to {high}", **limits),
        "batch": lambda: _("1 to {high} (the training-set size; {high} = full-batch gradient descent)", **limits),
        "flag": lambda: _("true or false"),
        "whole_numbers": lambda: _("comma-separated whole numbers like 256, 256 ({part} is not a whole number)",
                                   part=repr(problem.limits.get("part", ""))),
        "unknown_field": lambda: _("not a setting of a run"),
        "json": lambda: _("valid JSON ({error})", **limits),
        "json_object": lambda: _("a JSON object"),
        "preset_name": lambda: _("a preset name or empty"),
    }
    word = worded.get(problem.rule)
    try:
        return word() if word else problem.allowed
    except KeyError:  # limits without the names the wording needs: core's own words rather than nothing
        return problem.allowed


def preset_description(name: str) -> str:
    """A course preset's one-line description (mnist_core's English text, translated in the catalog)."""
    return _(PRESET_DESCRIPTIONS[name])


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
