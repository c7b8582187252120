"""Which process owns a queued or running run, and whether it still lives: crash recovery's only question.

A run records its owner's pid, host and process start time; a later process that reuses the pid has another
start time, so it is not mistaken for the owner. psutil gives both facts on Linux, macOS and Windows alike."""

from __future__ import annotations

import os

import psutil

# Linux computes a start time as the boot time (whole seconds, recomputed from the wall clock on every read) plus
# the clock ticks since boot, so one process's start read twice may differ by a second. A recycled pid starts
# after its first owner ended: never this close to the owner's own start.
START_TOLERANCE_S = 2.0


def this_process() -> tuple[int, str]:
    """(pid, start time) of the calling process, as a run records its owner: the start is psutil's create_time,
    seconds since the epoch, as repr() writes the float."""
    return os.getpid(), repr(psutil.Process().create_time())


def process_alive(pid: int, start: str | None) -> bool:
    """Whether the process that owned a run still runs: a missing pid, a zombie or a recycled pid (another start
    time) does not. A start that cannot be read proves nothing: then only existence and zombie state count."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        created = process.create_time()
    except psutil.AccessDenied:
        return True  # exists, owned by another user
    except (psutil.NoSuchProcess, ValueError):  # ZombieProcess included; ValueError: a pid no process can have
        return False
    recorded = recorded_start(start)
    return recorded is None or abs(created - recorded) <= START_TOLERANCE_S


def recorded_start(start: str | None) -> float | None:
    """A recorded start time as seconds since the epoch; None where it is unknown (nothing recorded, or a form
    this version cannot read)."""
    if not start:
        return None
    if start.isdigit():
        return _from_clock_ticks(int(start))
    try:
        return float(start)
    except ValueError:
        return None


def _from_clock_ticks(ticks: int) -> float | None:
    """A start recorded before psutil: Linux's /proc/<pid>/stat starttime, clock ticks after boot, which is what
    psutil's create_time adds to the boot time there. Elsewhere that form was never written."""
    if not psutil.LINUX:
        return None
    try:
        return psutil.boot_time() + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
