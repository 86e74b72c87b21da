"""Small reads of the records table for the live surfaces (event streams, run pages).

The SQL against ``journal_records`` lives in :mod:`charter.journal`; the server and the
read model call these functions instead of building queries of their own, so a change to
the table's layout is a change to this package only.
"""

from __future__ import annotations

from sqlalchemy import func, select

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
