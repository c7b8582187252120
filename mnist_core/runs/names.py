"""Run names: the one place that builds them (a default from the settings, a racer's) and checks a typed one."""

from __future__ import annotations

from mnist_core.config import TrainConfig

MAX_NAME_LENGTH = 120


def default_run_name(run_id: int, config: TrainConfig) -> str:
    """E.g. "#12 mlp-3 · adam": the preset (or the architecture) and the optimizer."""
    what = config.preset or config.model
    if not config.preset and config.model == "mlp":
        what = "mlp " + "-".join(map(str, config.hidden)) if config.hidden else "softmax"
    return f"#{run_id} {what} · {config.optimizer}"


def race_run_name(optimizer: str) -> str:
    """A racer in an optimizer race: "race · adam"."""
    return f"race · {optimizer}"


class RunNameError(ValueError):
    """A run name that cannot be used; `length` and `limit` let the app word it (length 0: empty)."""

    def __init__(self, length: int, limit: int) -> None:
        self.length, self.limit = length, limit
        if length == 0:
            super().__init__("A run name cannot be empty: type at least one visible character.")
        else:
            super().__init__(f"A run name can be at most {limit} characters (this one has {length}).")


def clean_run_name(name: str) -> str:
    """A typed name as stored: one line, spaces collapsed; RunNameError when empty or too long."""
    cleaned = " ".join(str(name).split())
    if not cleaned or len(cleaned) > MAX_NAME_LENGTH:
        raise RunNameError(len(cleaned), MAX_NAME_LENGTH)
    return cleaned
