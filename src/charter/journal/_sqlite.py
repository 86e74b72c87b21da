"""Opening a journal's database: SQLite pragmas, read-only file URIs, URLs for messages."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from charter.errors import JournalError
from charter.journal._wal import WRITER_AUTOCHECKPOINT_PAGES


def safe_url(url: str) -> str:
    """``url`` with its password hidden, for messages."""
    # Imported here: a SQLite file read through sqlite3 alone must not load SQLAlchemy.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


BUSY_TIMEOUT_MS = 10_000
"""How long a statement waits for a lock another connection holds."""


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (the dashboard, `charter show`) run beside the writer; NORMAL sync
    # survives a process crash, which is the failure the journal must outlive.
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    # Switching a new file to WAL needs it to itself: connections opening it together
    # (workers starting at once) can be refused without the busy handler being consulted.
    # Once one has switched it, the mode is the file's and the others' switch is a no-op.
    for attempt in range(100):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 99:
                raise
            time.sleep(0.01 + random.random() * 0.04)
    cursor.execute("PRAGMA synchronous=NORMAL")
    # A journal checkpoints its log on a thread of its own (charter.journal._wal); a
    # commit does it only if that thread has fallen far behind.
    cursor.execute(f"PRAGMA wal_autocheckpoint={WRITER_AUTOCHECKPOINT_PAGES}")
    cursor.close()


def sqlite_read_only_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # No journal_mode here: switching it is a write. query_only refuses writes even if
    # the connection could make them.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA query_only=1")
    cursor.close()


def read_only_file(url: str, database: str | None) -> str:
    """The ``mode=ro`` SQLAlchemy URL of an existing, non-empty SQLite journal file.

    Raises:
        JournalError: there is no file there, or it is empty (see :func:`read_only_uri`).
    """
    return f"sqlite:///{read_only_uri(url, database)}&uri=true"


def read_only_uri(url: str, database: str | None) -> str:
    """The ``mode=ro`` SQLite URI (for ``sqlite3.connect(..., uri=True)``) of an existing,
    non-empty SQLite journal file.

    Raises:
        JournalError: there is no file there, or it is empty (SQLite would otherwise
            create it, or treat it as a new database).
    """
    if database in (None, "", ":memory:"):
        raise JournalError(f"an in-memory journal ({safe_url(url)}) has nothing to read")
    path = Path(database)
    hint = "check CHARTER_HOME or CHARTER_DATABASE_URL (`charter run` or `charter demo` creates it)"
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise JournalError(f"no journal at {path}: the file does not exist; {hint}") from None
    except OSError as exc:
        raise JournalError(f"cannot open journal at {path}: {exc.strerror or exc}") from exc
    if path.is_dir():
        raise JournalError(f"no journal at {path}: it is a directory; {hint}")
    if size == 0:
        raise JournalError(f"no journal at {path}: the file is empty; {hint}")
    return f"file:{quote(str(path))}?mode=ro"
