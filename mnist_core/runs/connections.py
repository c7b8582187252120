"""The run store's SQLite connections: one per thread at a time (a connection is not thread-safe) and per process
(not fork-safe), handed on from a thread that ended to the next thread that asks.

Streamlit runs the reruns of a page in threads of their own. Opening a connection for each, then SQLite reading the
schema on its first statement, was about a tenth of a plain page's rerun in py-spy's profile of a class's server."""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from pathlib import Path


class ThreadConnections:
    def __init__(self, db_path: Path, busy_timeout_s: float) -> None:
        self.db_path, self.busy_timeout_s = db_path, busy_timeout_s
        self._local = threading.local()
        self._idle: list[tuple[sqlite3.Connection, int]] = []  # ended threads' connections, with their process
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        """This thread's connection: its own, an ended thread's, or a new one."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = self._idle_one() or self._open()
            self._local.conn, self._local.pid = conn, os.getpid()
            weakref.finalize(threading.current_thread(), self._hand_back, conn, os.getpid())
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=self.busy_timeout_s, isolation_level=None,
                               check_same_thread=False)  # used by one thread at a time, but not always the first
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL; commits stay fast
        return conn

    def _idle_one(self) -> sqlite3.Connection | None:
        with self._lock:
            while self._idle:
                conn, pid = self._idle.pop()
                if pid == os.getpid():
                    return conn
        return None

    def _hand_back(self, conn: sqlite3.Connection, pid: int) -> None:
        """Called once the thread that used `conn` is gone (its Thread object collected)."""
        if pid != os.getpid():
            return
        if conn.in_transaction:  # its thread died inside a write: the next thread starts afresh
            conn.close()
            return
        with self._lock:
            self._idle.append((conn, pid))
