"""mnist_core's errors in the student's language. The core raises them with their facts as data (a config problem's
field and allowed range, a missing run's id, a dataset's missing files) and an English message for the command
line; this module words those facts through the catalog. Anything it does not know keeps its own message."""

from __future__ import annotations

from app.config_form import problem_message
from app.i18n import _
from mnist_core.config import ConfigError
from mnist_core.data import DATASET_INFO, DatasetUnavailable
from mnist_core.run_names import RunNameError
from mnist_core.store import RunNotFound


def error_text(exc: BaseException) -> str:
    """What went wrong, for the page: e.g. "실행 #3은(는) 없습니다 (지워졌을 수 있습니다)."."""
    if isinstance(exc, ConfigError):
        return " ".join(problem_message(p) for p in exc.problems)
    if isinstance(exc, RunNotFound):
        return _("Run #{id} does not exist (it may have been deleted).", id=exc.run_id)
    if isinstance(exc, RunNameError):
        if exc.length == 0:
            return _("A run name cannot be empty: type at least one visible character.")
        return _("A run name can be at most {limit} characters (this one has {length}).", limit=exc.limit,
                 length=exc.length)
    if isinstance(exc, DatasetUnavailable) and exc.details.get("dataset") in DATASET_INFO:
        return dataset_unavailable(exc.details)
    return str(exc)


def dataset_unavailable(details: dict[str, object]) -> str:
    info = DATASET_INFO[str(details["dataset"])]
    mirror = str(details.get("mirror") or "")
    source = _("the mirror {mirror}", mirror=mirror) if mirror else _("the internet")
    return _("{dataset} is not available: {missing} missing from {directory} and could not be downloaded from "
             "{source} ({cause}). Fix it either way: (1) copy the four files {files} from a folder or USB stick "
             "with `python -m mnist_core data import {name} DIR`, or (2) set MNIST_PLAYGROUND_MIRROR to a server "
             "holding {folder}/raw/<file> and retry.", dataset=info.title,
             missing=", ".join(map(str, details.get("missing", ()))), directory=details.get("directory", ""),
             source=source, cause=details.get("cause", ""), files=", ".join(info.files), name=info.name,
             folder=info.folder)
