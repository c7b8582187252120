"""mnist_core's errors in the student's language. The core raises them with their facts as data (a config problem's
field and allowed range, a missing run's id, a dataset's missing files) and an English message for the command
line, and stores a failed run's failure the same way (mnist_core.runs.failures); this module words those facts through
the catalog. Only an unexpected error's own first line (a PyTorch message, say) stays as it was written."""

from __future__ import annotations

from app.config_form import FIELD_LABELS, problem_message
from app.i18n import _, number
from app.run.texts import status_word
from app.user_text import markdown_text
from mnist_core.config import ConfigError
from mnist_core.cost import RunTooLarge
from mnist_core.data import DATASET_INFO
from mnist_core.runs.continuation import CannotContinue
from mnist_core.runs.failures import Failure, failure_of
from mnist_core.runs.names import RunNameError
from mnist_core.runs.store import RunNotFound


def error_text(exc: BaseException) -> str:
    """What went wrong, for the page (Markdown): e.g. "실행 #3은(는) 없습니다 (지워졌을 수 있습니다)."."""
    if isinstance(exc, ConfigError):
        return " ".join(problem_message(p) for p in exc.problems)
    if isinstance(exc, RunNotFound):
        return _("Run #{id} does not exist (it may have been deleted).", id=exc.run_id)
    if isinstance(exc, RunNameError):
        if exc.length == 0:
            return _("A run name cannot be empty: type at least one visible character.")
        return _("A run name can be at most {limit} characters (this one has {length}).", limit=exc.limit,
                 length=exc.length)
    if isinstance(exc, CannotContinue):
        return _("Run #{id} cannot be continued: it is {status}.", id=exc.run_id, status=status_word(exc.status))
    if isinstance(exc, RunTooLarge):
        return too_large(exc)
    if getattr(exc, "failure_kind", None):
        return failure_text(failure_of(exc))
    return str(exc)


def failure_text(failure: Failure) -> str:
    """Why a run failed or stopped short, or why a model or dataset cannot be used, in the student's words."""
    facts = failure.facts
    if failure.kind == "error" and facts.get("type"):
        return _("an unexpected error in training ({type}: {detail})", type=facts["type"],
                 detail=facts.get("detail", ""))
    if failure.kind == "dataset_unavailable" and facts.get("dataset") in DATASET_INFO and "missing" in facts:
        return dataset_unavailable(facts)
    if failure.kind == "dataset_corrupt" and facts.get("dataset") in DATASET_INFO:
        return dataset_corrupt(facts)
    if failure.kind == "worker_lost":
        code = facts.get("returncode")
        if isinstance(code, int) and code < 0:
            return _("the process training it (pid {pid}) was killed (signal {signal}), e.g. because the server ran "
                     "out of memory", pid=facts.get("pid"), signal=-code)
        return _("the process training it (pid {pid}) ended unexpectedly (exit code {code})", pid=facts.get("pid"),
                 code="—" if code is None else code)
    if failure.kind == "ray_worker_lost":
        where = (_("pid {pid} on {node}", pid=facts["pid"], node=facts.get("node", "?")) if facts.get("pid")
                 else _("a lab computer"))
        return _("the Ray worker training it ({where}) was lost ({error}): the computer may have been switched off "
                 "or left the lab's cluster", where=where, error=facts.get("error", ""))
    if failure.kind == "model_unavailable":
        return model_unavailable(facts)
    if failure.kind == "weights_damaged":
        return weights_damaged(facts)
    if failure.kind == "shutdown":
        return _("the app shut down before this run started")
    if failure.kind == "process_ended":
        return _("the process running it ended unexpectedly")
    if failure.kind == "diverged":
        return diverged(facts)
    return failure.message or _("no reason was recorded")


def dataset_corrupt(facts: dict[str, object]) -> str:
    title, path = DATASET_INFO[str(facts["dataset"])].title, facts.get("path", "")
    problem = facts.get("problem")
    if problem == "size":
        why = _("{path} has {size} bytes instead of {expected}: delete it and load the dataset again", path=path,
                size=number(facts.get("size", 0)), expected=number(facts.get("expected", 0)))
    elif problem == "md5":
        why = _("{path} is damaged or cut short (its checksum is wrong): delete it and import or download it again",
                path=path)
    elif problem == "download":
        why = _("a downloaded file was damaged (wrong checksum) and was removed: replace the mirror's copy or import "
                "the four files from a folder")
    elif problem == "shape":
        why = _("the files in {path} do not hold {count} 28×28 images with labels 0–9", path=path,
                count=number(facts.get("count", 0)))
    else:
        why = _("the files in {path} could not be read ({cause})", path=path, cause=facts.get("cause", ""))
    return _("{dataset} is damaged: {why}.", dataset=title, why=why)


def model_unavailable(facts: dict[str, object]) -> str:
    if "parent_id" in facts:
        return _("run #{id}, which this run continues, was deleted", id=facts["parent_id"])
    if "builtin" in facts:
        return _("the built-in model's file {path} is missing; it comes with the app (restore it with git checkout)",
                 path=facts["builtin"])
    why = {
        "queued": _("it has not started yet"),
        "running": _("it is still training; its weights are saved when it finishes or is stopped"),
        "failed": _("it failed"),
        "interrupted": _("it was interrupted before finishing"),
    }.get(str(facts.get("status")), _("its weights file is missing"))
    return _("run #{id} ({name}) has no trained weights: {why}", id=facts.get("run_id"),
             name=markdown_text(str(facts.get("name", ""))), why=why)


def diverged(facts: dict[str, object]) -> str:
    """A run stopped because its loss stopped being a number: what happened and what to try, in the course's words."""
    lr = facts.get("lr")
    rate = number(lr) if isinstance(lr, int | float) else "?"
    smaller = number(lr / 10) if isinstance(lr, int | float) else "?"
    return _("its loss grew until it was no longer a number (NaN) at iteration {iteration} (epoch {epoch}). "
             "Learning rate {lr} is too large for {optimizer}: each update jumped past the lowest point of the loss "
             "and further out, so the weights blew up. The loss chart shows the climb up to there. Train it again "
             "with a learning rate about 10 times smaller, e.g. {smaller}.",
             iteration=number(facts.get("iteration", 0)), epoch=facts.get("epoch", "?"), lr=rate,
             optimizer=facts.get("optimizer", "?"), smaller=smaller)


def weights_damaged(facts: dict[str, object]) -> str:
    path, cause = facts.get("path", ""), facts.get("cause", "")
    return {
        "missing": lambda: _("the weights file {path} does not exist", path=path),
        "unreadable": lambda: _("the weights file {path} is damaged: it cannot be read ({cause})", path=path,
                                cause=cause),
        "no_config": lambda: _("the weights file {path} is damaged: its settings are missing or wrong ({cause})",
                               path=path, cause=cause),
        "mismatch": lambda: _("the weights file {path} does not fit the network its settings describe ({cause})",
                              path=path, cause=cause),
        "optimizer": lambda: _("the weights file {path} has a damaged optimizer state ({cause})", path=path,
                               cause=cause),
        "not_finite": lambda: _("its weights are not numbers (NaN) because its training diverged: it cannot read "
                                "a drawing. Train it again with a smaller learning rate"),
    }.get(str(facts.get("problem")), lambda: _("the weights file {path} is damaged", path=path))()


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


def byte_size(size: float) -> str:
    """Bytes as a student reads them: "850 MB", "1.4 GB" (1 MB = 2^20 bytes, as the server's settings count)."""
    megabytes = size / 2**20
    if megabytes >= 1024:
        return _("{size} GB", size=number(megabytes / 1024, 1))
    return _("{size} MB", size=number(megabytes, 1 if megabytes < 10 else 0))


def too_large(exc: RunTooLarge) -> str:
    """A run or model over this server's budget: how much it needs, how much is allowed, and the setting to change."""
    sizes = {"need": byte_size(exc.need), "budget": byte_size(exc.budget)}
    field = _(FIELD_LABELS[exc.field]) if exc.field in FIELD_LABELS else exc.field
    if exc.resource == "disk":
        return _("This run's weights file would be about {need}, more than the {budget} one run may write on this "
                 "server: make **{field}** smaller.", field=field, **sizes)
    if exc.resource == "web":
        return _("it is too big for this server to load: reading a drawing with it needs about {need} of memory, "
                 "more than the {budget} allowed for one model. Draw with a smaller model.", **sizes)
    return _("This run needs about {need} of memory, more than the {budget} one run may use on this server: make "
             "**{field}** smaller.", field=field, **sizes)
