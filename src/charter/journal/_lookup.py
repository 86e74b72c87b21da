"""Reading a journal's records back: by run, by kind, newest first, by time window.

:class:`RecordLookup` is the reading half of :class:`charter.journal.Journal`; the store
keeps what shares its writer connection (appends, the lease fence, ``latest_seq``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Select, select

from charter.journal._record import Record
from charter.journal._tables import meta_table, records_table, row_record


class RecordLookup:
    """Queries of the records table (a base of :class:`charter.journal.Journal`)."""

    _engine: Engine

    def stored_head(self) -> tuple[int, str] | None:
        """``(seq, hash)`` of the head as recorded in ``journal_meta``, if any."""
        with self._engine.connect() as conn:
            value = conn.execute(
                select(meta_table.c.value).where(meta_table.c.key == "head")
            ).scalar_one_or_none()
        if value is None:
            return None
        seq, _, digest = value.partition(":")
        return int(seq), digest

    def records(
        self, run_id: str | None = None, *, batch: int = 1000, after: int = 0
    ) -> Iterator[Record]:
        """Records in ``seq`` order, of one run or of the whole journal (after seq
        ``after``)."""
        query = select(records_table).order_by(records_table.c.seq)
        if run_id is not None:
            query = query.where(records_table.c.run_id == run_id)
        if after:
            query = query.where(records_table.c.seq > after)
        with self._engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(query)
            for row in result:
                yield row_record(row)

    @staticmethod
    def _newest_first(kind: str) -> Select[Any]:
        # The (kind, seq) index walks one kind newest-first without sorting.
        return (
            select(records_table)
            .where(records_table.c.kind == kind)
            .order_by(records_table.c.seq.desc())
        )

    def records_of_kind(self, kind: str, *, limit: int | None = None) -> list[Record]:
        """The newest records of one kind first (e.g. ``run.started`` to list runs)."""
        query = self._newest_first(kind)
        if limit is not None:
            query = query.limit(limit)
        with self._engine.connect() as conn:
            return [row_record(row) for row in conn.execute(query)]

    def newest_matching(
        self, kind: str, matches: Callable[[Record], bool], *, limit: int
    ) -> list[Record]:
        """Up to ``limit`` records of ``kind`` that ``matches`` accepts, newest first,
        read from the newest end and stopping once enough are found."""
        found: list[Record] = []
        if limit <= 0:
            return found
        with self._engine.connect() as conn:
            result = conn.execution_options(yield_per=256).execute(self._newest_first(kind))
            for row in result:
                record = row_record(row)
                if matches(record):
                    found.append(record)
                    if len(found) == limit:
                        break
        return found

    def records_since(self, kind: str, since: datetime) -> list[Record]:
        """Records of ``kind`` stamped at or after ``since``, newest first: a time window
        read from the newest end, so its cost follows the window, not the journal."""
        cutoff = since.astimezone(UTC).isoformat()
        found: list[Record] = []
        with self._engine.connect() as conn:
            result = conn.execution_options(yield_per=256).execute(self._newest_first(kind))
            for row in result:
                if row.ts < cutoff:
                    break
                found.append(row_record(row))
        return found

    def records_of_kinds(
        self, kinds: Sequence[str], *, payload_contains: str | None = None
    ) -> list[Record]:
        """Records of any of ``kinds``, oldest first; with ``payload_contains``, only those
        whose canonical JSON payload contains that text (filtered in the database)."""
        query = (
            select(records_table)
            .where(records_table.c.kind.in_(list(kinds)))
            .order_by(records_table.c.seq)
        )
        if payload_contains is not None:
            query = query.where(records_table.c.payload.contains(payload_contains, autoescape=True))
        with self._engine.connect() as conn:
            return [row_record(row) for row in conn.execute(query)]

    def run_ids_with_prefix(self, prefix: str) -> list[str]:
        """Ids of runs starting with ``prefix`` (so users may type a short id)."""
        query = (
            select(records_table.c.run_id)
            .where(records_table.c.kind == "run.started")
            .where(records_table.c.run_id.startswith(prefix, autoescape=True))
            .limit(5)
        )
        with self._engine.connect() as conn:
            return [str(r[0]) for r in conn.execute(query)]
