"""Which process owns a queued or running run, and whether it still lives: crash recovery's only question.

A run records its owner's pid, host and process start time; a later process that reuses the pid has another
start time, so it is not mistaken for the owner."""

from __future__ import annotations

import os
from pathlib import Path


def process_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process from /proc (Linux); None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and ')', so split after its last ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    return (fields[0], fields[19]) if len(fields) > 19 else None


def this_process() -> tuple[int, str]:
    """(pid, start time) of the calling process, as a run records its owner."""
    return os.getpid(), (process_stat(os.getpid()) or ("", ""))[1]


def process_alive(pid: int, start: str | None) -> bool:
    """Whether the process that owned a run still runs: a recycled pid (other start time) or a zombie does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    except OSError:
        return False
    state, started = process_stat(pid) or ("?", "")
    return state != "Z" and not (start and started and started != start)
