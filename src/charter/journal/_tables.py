"""The journal's tables as queries see them (the schema itself, indexes too, is made by
:mod:`charter.journal._schema`'s migrations)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Connection, MetaData, String, Table, Text, select
from sqlalchemy.exc import DatabaseError

from charter.journal._record import GENESIS_HASH, Record

metadata = MetaData()
"""The tables as queries see them; the schema itself (indexes too) is made by migrations."""

records_table = Table(
    "journal_records",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("run_id", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("ts", String(40), nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)


meta_table = Table(
    "journal_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

checkpoints_table = Table(
    "journal_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", String(256), nullable=False),
    Column("ts", String(40), nullable=False),
)


def driver_reason(exc: DatabaseError) -> str:
    """The driver's first line for ``exc``, without SQLAlchemy's statement dump."""
    text = str(exc.orig).strip() if exc.orig else str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def row_record(row: Any) -> Record:
    return Record(int(row.seq), row.run_id, row.kind, row.ts, row.payload, row.prev_hash, row.hash)


def read_head(conn: Connection) -> tuple[int, str]:
    """``(seq, hash)`` of the newest record, read from the records themselves."""
    row = conn.execute(
        select(records_table.c.seq, records_table.c.hash)
        .order_by(records_table.c.seq.desc())
        .limit(1)
    ).first()
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))


def newest_record(cursor: Any) -> tuple[int, str]:
    """:func:`read_head` on a DBAPI ``cursor`` (the append path's own connection)."""
    cursor.execute("SELECT seq, hash FROM journal_records ORDER BY seq DESC LIMIT 1")
    row = cursor.fetchone()
    return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))
