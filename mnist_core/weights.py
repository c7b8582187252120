"""The one weights-file format: safetensors (plain tensors, never unpickled) with the config in its metadata."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save_file
from torch import nn

from mnist_core.config import ConfigError, TrainConfig
from mnist_core.data import DATASET_INFO
from mnist_core.models import build_model


class WeightsError(ValueError):
    """A weights file that is missing, damaged or does not fit the network its metadata describes. `details`: the
    facts as data (problem: missing, unreadable, no_config, mismatch, not_finite or optimizer; path;
    cause), worded by the app."""

    failure_kind = "weights_damaged"

    def __init__(self, message: str, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class ModelUnavailable(WeightsError):
    """There is no weights file to load (a run still training, a failed run, or a missing built-in model).
    `details`: run_id, name and status of the run, or parent_id when a continued run's parent was deleted."""

    failure_kind = "model_unavailable"


@dataclass(frozen=True)
class LoadedModel:
    """A trained model ready to predict, with what it needs to read a drawing: its normalisation and classes."""

    model: nn.Module  # on the CPU, eval mode
    config: TrainConfig
    mean: float
    std: float
    metadata: dict[str, str]
    label: str  # what the UI calls it: a run's name, or the built-in model's description
    run_id: int | None  # None for a file outside the run store (the built-in model)

    @property
    def class_names(self) -> tuple[str, ...]:
        return DATASET_INFO[self.config.dataset].class_names


def save_model(path: Path, model: nn.Module, config: TrainConfig, mean: float, std: float,
               metadata: dict[str, str] | None = None, optimizer_state: dict | None = None) -> None:
    """Write atomically (temp file + rename), so a crash never leaves half a weights file under the real name.
    With `optimizer_state` (an optimizer's state_dict) a later run can continue training from this file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {**(metadata or {}), "config": config.to_json(), "mean": repr(mean), "std": repr(std)}
    tensors = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    if optimizer_state is not None:
        optimizer_tensors, meta[OPTIMIZER_GROUPS_KEY] = _flatten_optimizer(optimizer_state)
        tensors.update(optimizer_tensors)
    tmp = path.with_name(path.name + ".part")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, path)


# The optimizer's state sits in the same file as plain tensors named "optimizer.<parameter>.<name>" (Adam's
# moments, SGD's momentum, the step counts) and its hyperparameter groups as JSON metadata: nothing is pickled.
OPTIMIZER_PREFIX = "optimizer."
OPTIMIZER_GROUPS_KEY = "optimizer_param_groups"


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], str]:
    tensors = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):  # SGD without momentum keeps None: nothing to restore
                tensors[f"{OPTIMIZER_PREFIX}{int(index)}.{name}"] = value.detach().cpu().contiguous()
    return tensors, json.dumps(state["param_groups"])


def load_optimizer_state(path: Path) -> dict | None:
    """The optimizer state_dict saved with a weights file, or None when the file has none (saved without it)."""
    path = Path(path)
    tensors, meta = _read(path)
    if OPTIMIZER_GROUPS_KEY not in meta:
        return None
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in tensors.items():
        if name.startswith(OPTIMIZER_PREFIX):
            index, key = name[len(OPTIMIZER_PREFIX):].split(".", 1)
            state.setdefault(int(index), {})[key] = tensor
    try:
        groups = json.loads(meta[OPTIMIZER_GROUPS_KEY])
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path} has damaged optimizer metadata ({exc.msg})",
                           {"problem": "optimizer", "path": str(path), "cause": exc.msg}) from None
    return {"state": state, "param_groups": groups}


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A weights file's tensors and string metadata. Read into memory rather than memory-mapped: a file replaced
    or truncated later can't fault live tensors."""
    try:
        raw = path.read_bytes()
        return load(raw), _metadata(raw)
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path} is not a readable safetensors weights file ({exc})",
                           {"problem": "unreadable", "path": str(path), "cause": str(exc)}) from None


def _metadata(raw: bytes) -> dict[str, str]:
    """The string metadata of a safetensors file: an 8-byte little-endian header length, then a JSON header."""
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    return dict(header.get("__metadata__") or {})


def update_metadata(path: Path, updates: dict[str, str]) -> None:
    """Add or replace string metadata of a weights file (e.g. the fitted temperature, see calibration.py), every
    tensor and other entry kept; written atomically like save_model."""
    path = Path(path)
    tensors, meta = _read(path)
    tmp = path.with_name(path.name + ".part")
    save_file(tensors, str(tmp), metadata={**meta, **updates})
    os.replace(tmp, path)


def load_model(path: Path, label: str | None = None, run_id: int | None = None) -> LoadedModel:
    """Rebuild the network from the file's config and load its tensors, checking names and shapes."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist", {"problem": "missing", "path": str(path)})
    tensors, meta = _read(path)
    try:
        config = TrainConfig.from_json(meta["config"]).validated()
        mean, std = float(meta["mean"]), float(meta["std"])
    except (KeyError, ValueError, TypeError, ConfigError) as exc:
        raise WeightsError(f"{path} has no valid training config in its metadata ({exc})",
                           {"problem": "no_config", "path": str(path), "cause": str(exc)}) from None
    model = build_model(config)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    tensors = {name: t for name, t in tensors.items() if not name.startswith(OPTIMIZER_PREFIX)}
    found = {name: tuple(t.shape) for name, t in tensors.items()}
    if expected != found:
        wrong = sorted(set(expected.items()) ^ set(found.items()))[:3]
        raise WeightsError(f"{path} does not match its config's network (first differences: {wrong})",
                           {"problem": "mismatch", "path": str(path), "cause": str(wrong)})
    blown = [name for name, tensor in tensors.items() if tensor.is_floating_point() and not tensor.isfinite().all()]
    if blown:  # a network whose training diverged (saved before runs stopped at a NaN loss): it can only say NaN
        raise WeightsError(f"{path} holds weights that are not numbers (NaN or infinite: {', '.join(blown[:3])}): "
                           "its training diverged", {"problem": "not_finite", "path": str(path),
                                                     "cause": ", ".join(blown[:3])})
    model.load_state_dict(tensors)
    return LoadedModel(model.eval(), config, mean, std, meta, label or path.stem, run_id)
