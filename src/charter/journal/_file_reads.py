"""Reads of a SQLite journal file through the standard library's ``sqlite3`` alone.

``charter runs`` lists runs from the default journal, a SQLite file; importing SQLAlchemy
to do so would cost more than everything else the command does. :func:`open_file_reads`
opens the file read-only (``mode=ro``, ``query_only``), as a read-only :class:`Journal`
does, and only if it is a journal at this charter's newest schema: for anything else (a
URL SQLAlchemy must interpret, PostgreSQL, a journal not yet migrated or at another
revision) it returns None and the caller reads through :class:`Journal`, which upgrades,
refuses or explains. The statements are those the read model's summaries make, in
SQLite's dialect, so both read the same rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from charter.journal._schema import head_revision
from charter.journal._sqlite import read_only_uri

_PREFIX = "sqlite:///"


def sqlite_file(url: str) -> str | None:
    """The database file a plain ``sqlite:///<path>`` URL names, as SQLAlchemy reads it;
    None for any other URL (another database or driver, query options, escapes)."""
    if not url.startswith(_PREFIX):
        return None
    database = url.removeprefix(_PREFIX)
    if not database or any(c in database for c in "%?#"):
        return None
    return database


class FileReads:
    """A read-only connection to a SQLite journal file and the reads the runs list makes.

    Every method raises :class:`sqlite3.Error` if the file fails under the read.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        """Read through ``conn`` (see :func:`open_file_reads`)."""
        self._conn = conn

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def started_page(self, limit: int) -> list[tuple[int, str, str, str]]:
        """``(seq, run_id, ts, payload)`` of the ``limit`` newest ``run.started`` records,
        newest first."""
        return self._rows(
            "SELECT seq, run_id, ts, payload FROM journal_records WHERE kind = 'run.started' "
            "ORDER BY seq DESC LIMIT ?",
            [limit],
        )

    def kind_counts(self, run_ids: Sequence[str]) -> list[tuple[str, str, int, int, int]]:
        """``(run_id, kind, count, newest seq, denials)`` per kind of the runs' records."""
        # By run id alone, every kind (see the read model); LIKE as SQLAlchemy's contains.
        return [
            (run_id, kind, int(count), int(seq), int(deny or 0))
            for run_id, kind, count, seq, deny in self._rows(
                "SELECT run_id, kind, count(*), max(seq), "
                "sum(CASE WHEN (payload LIKE '%' || ? || '%') THEN 1 ELSE 0 END) "
                f"FROM journal_records WHERE run_id IN ({_marks(run_ids)}) GROUP BY run_id, kind",
                ['"verdict":"deny"', *run_ids],
            )
        ]

    def rows_at(self, seqs: Sequence[int]) -> list[tuple[int, str, str, str, str]]:
        """``(seq, run_id, kind, ts, payload)`` of the records at ``seqs``."""
        return self._rows(
            "SELECT seq, run_id, kind, ts, payload FROM journal_records "
            f"WHERE seq IN ({_marks(seqs)})",
            list(seqs),
        )

    def proposals(self, run_ids: Sequence[str]) -> list[tuple[int, str, str, str, str]]:
        """``(seq, run_id, kind, ts, payload)`` of the runs' ``step.proposed`` records."""
        # The kind as an expression no index serves keeps SQLite on (run_id, seq).
        return self._rows(
            "SELECT seq, run_id, kind, ts, payload FROM journal_records "
            f"WHERE run_id IN ({_marks(run_ids)}) AND kind || '' = 'step.proposed'",
            list(run_ids),
        )

    def records(self, run_ids: Sequence[str]) -> list[tuple[int, str, str, str]]:
        """``(seq, run_id, kind, payload)`` of every record of the runs, in seq order."""
        return self._rows(
            "SELECT seq, run_id, kind, payload FROM journal_records "
            f"WHERE run_id IN ({_marks(run_ids)}) ORDER BY seq",
            list(run_ids),
        )

    def _rows(self, sql: str, parameters: list[Any]) -> list[Any]:
        return self._conn.execute(sql, parameters).fetchall()


def _marks(items: Sequence[object]) -> str:
    return ", ".join("?" * len(items))


def open_file_reads(url: str) -> FileReads | None:
    """Reads of the SQLite journal file ``url`` names, opened read-only; None when it must
    be read through :class:`~charter.journal.Journal` instead: ``url`` is not a plain
    SQLite file URL, or the file cannot be opened or holds no journal at this charter's
    newest schema (the journal then says why, or upgrades it).

    Raises:
        JournalError: there is no file there, or it is empty (as a read-only journal
            says).
    """
    database = sqlite_file(url)
    if database is None:
        return None
    uri = read_only_uri(url, database)
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=10.0)
    except sqlite3.Error:
        return None
    try:
        conn.execute("PRAGMA query_only=1")
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name IN ('alembic_version', 'journal_records')"
            )
        }
        found = None
        if tables == {"alembic_version", "journal_records"}:
            found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        found = None
    if found is None or found[0] != head_revision():
        conn.close()
        return None
    return FileReads(conn)
