"""Small reads of the records table for the live surfaces (event streams, run pages) and
the runtime's bookkeeping (approval requests whose run ended, rollout outcomes, known names).

The SQL against ``journal_records`` lives in :mod:`charter.journal`; the server and the
read model call these functions instead of building queries of their own, so a change to
the table's layout is a change to this package only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, func, select
from sqlalchemy.dialects.postgresql import JSONB

from charter.journal._record import Record
from charter.journal._store import Journal, records_table


def newest_seq(journal: Journal) -> int:
    """Seq of the newest record in the journal (0 when it holds none)."""
    with journal.engine.connect() as conn:
        return int(conn.execute(select(func.max(records_table.c.seq))).scalar() or 0)


def run_head_seq(journal: Journal, run_id: str) -> int:
    """Seq of the newest record of run ``run_id`` (0 when it has none), through the
    ``(run_id, seq)`` index."""
    query = select(func.max(records_table.c.seq)).where(records_table.c.run_id == run_id)
    with journal.engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def run_records_after(journal: Journal, run_id: str, seq: int, *, limit: int) -> list[Record]:
    """Up to ``limit`` records of run ``run_id`` after seq ``seq``, oldest first."""
    query = (
        select(records_table)
        .where(records_table.c.run_id == run_id, records_table.c.seq > seq)
        .order_by(records_table.c.seq)
        .limit(limit)
    )
    with journal.engine.connect() as conn:
        return [
            Record(int(r.seq), r.run_id, r.kind, r.ts, r.payload, r.prev_hash, r.hash)
            for r in conn.execute(query)
        ]


_CHUNK = 500
"""Run ids per ``IN (...)`` query: well under every database's parameter limit."""


def payloads_of_runs(
    journal: Journal, run_ids: Sequence[str], kinds: Sequence[str]
) -> Iterator[tuple[str, int, str, dict[str, Any]]]:
    """``(run_id, seq, kind, payload)`` of the records of ``kinds`` of the runs
    ``run_ids``, each run's in seq order (a query per 500 runs)."""
    ids = list(dict.fromkeys(run_ids))
    R = records_table
    for start in range(0, len(ids), _CHUNK):
        query = (
            select(R.c.run_id, R.c.seq, R.c.kind, R.c.payload)
            .where(R.c.run_id.in_(ids[start : start + _CHUNK]), R.c.kind.in_(list(kinds)))
            .order_by(R.c.seq)
        )
        with journal.engine.connect() as conn:
            rows = list(conn.execute(query))
        for run_id, seq, kind, payload in rows:
            yield str(run_id), int(seq), str(kind), json.loads(payload)


def payloads_of_kinds(journal: Journal, kinds: Iterable[str]) -> list[dict[str, Any]]:
    """The payloads of every record of ``kinds``, in seq order."""
    R = records_table
    query = select(R.c.payload).where(R.c.kind.in_(list(kinds))).order_by(R.c.seq)
    with journal.engine.connect() as conn:
        return [json.loads(payload) for (payload,) in conn.execute(query)]


def _started_field(journal: Journal, key: str) -> ColumnElement[Any]:
    """The run.started payload's ``key`` as JSON text, extracted in SQL."""
    payload = records_table.c.payload
    if journal.engine.dialect.name == "postgresql":
        document = cast(payload, JSONB)
        return document[key].astext if key == "agent" else cast(document[key], Text)
    return func.json_extract(payload, f"$.{key}")


def distinct_manifests(journal: Journal) -> list[tuple[str, list[Any]]]:
    """The distinct ``(agent, tool names)`` pairs of the runs' ``run.started`` records: one
    per agent version crosses into Python, not a payload per run."""
    fields = (
        _started_field(journal, "agent").label("agent"),
        _started_field(journal, "tools").label("tools"),
    )
    R = records_table
    manifests = select(*fields).where(R.c.kind == "run.started").subquery()
    distinct = select(manifests.c.agent, manifests.c.tools).distinct()
    with journal.engine.connect() as conn:
        return [
            (str(agent or ""), json.loads(listed or "[]"))
            for agent, listed in conn.execute(distinct)
        ]


def newest_containing(
    journal: Journal, kind: str, text: str, *, batch: int = 256
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """``(run_id, seq, payload)`` of the records of ``kind`` whose payload JSON contains
    ``text`` (a cheap filter the database applies; the caller checks the payload), newest
    first, read ``batch`` rows at a time."""
    R = records_table
    query = (
        select(R.c.run_id, R.c.seq, R.c.payload)
        .where(R.c.kind == kind, R.c.payload.contains(text, autoescape=True))
        .order_by(R.c.seq.desc())
    )
    with journal.engine.connect() as conn:
        for run_id, seq, payload in conn.execution_options(yield_per=batch).execute(query):
            yield str(run_id), int(seq), json.loads(payload)
