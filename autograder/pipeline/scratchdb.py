"""The scratch course's gradebook, written without waiting for the disk.

Each grading job grades in a scratch course of its own, with a copy of the assignment's template gradebook, and
throws the course away after reading the scores. nbgrader commits that gradebook once per graded cell (about 80
times for Assignment 1), and SQLite waits for the disk at each commit (``fsync``): 1.4 ms each on an ext4 disk,
about 0.1 s of every job spent waiting. A gradebook named with :func:`volatile` is opened by this process without
syncing (``PRAGMA synchronous = OFF``) and keeps its rollback journal in memory: a crash in the middle of a job
can only spoil a file that the job would have thrown away. The course's own gradebook is never named here.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_volatile: set[str] = set()
_listening = False


@contextmanager
def volatile(path: Path) -> Iterator[None]:
    """While inside, SQLite connections this process opens to ``path`` (through SQLAlchemy) skip syncing."""
    global _listening
    if not _listening:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "connect", _on_connect)
        _listening = True
    key = os.path.realpath(path)
    _volatile.add(key)
    try:
        yield
    finally:
        _volatile.discard(key)


def _on_connect(connection: Any, _record: Any) -> None:
    if not _volatile or not isinstance(connection, sqlite3.Connection):
        return
    for _, schema, filename in connection.execute("PRAGMA database_list").fetchall():
        if schema == "main" and filename and os.path.realpath(filename) in _volatile:
            connection.execute("PRAGMA synchronous = OFF")
            connection.execute("PRAGMA journal_mode = MEMORY")
