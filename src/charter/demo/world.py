"""The demo world: a customer-operations company in one SQLite file.

Tables: ``customers`` (email is PII; an erased customer keeps its row, without name or
email, and ``erased_at`` set), ``orders``, the ``payments`` ledger (charges positive;
refunds negative; reversals of refunds positive and linked by ``reverses_id``),
``store_credits`` (goodwill credit granted to customers), ``email_outbox`` (the only
"external" sink), ``inbox`` (emails received), ``tickets`` and ``ticket_replies``,
``kb_documents`` (policies) and ``world_meta`` (the world's frozen "today" and its policy
constants). Some documents, emails and tickets carry planted prompt injections (see
:mod:`charter.demo._injections`).

The world's clock is frozen at :data:`~charter.demo._seed.TODAY` so refund windows and
reports come out the same whenever the demo runs. Connections are opened in autocommit mode;
writers group their statements with :func:`transaction`, which takes SQLite's write lock up
front so that a check ("is this still refundable?") and the write it guards cannot interleave
with another writer.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Generator
from datetime import UTC, date, datetime
from pathlib import Path

from charter._permissions import private_directory
from charter.demo import _seed
from charter.settings import charter_home

DEFAULT_WORLD_FILENAME = "demo-world.db"
"""File name of the default world under :func:`charter.settings.charter_home`."""

SCHEMA_VERSION = "2"
"""Bumped whenever the tables change; an older world must be recreated."""

_SCHEMA = """
CREATE TABLE world_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    tier TEXT NOT NULL CHECK (tier IN ('basic', 'plus', 'premium')),
    country TEXT NOT NULL,
    created_at TEXT NOT NULL,
    erased_at TEXT
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    item TEXT NOT NULL,
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('placed', 'shipped', 'delivered', 'refunded', 'cancelled')),
    placed_at TEXT NOT NULL,
    delivered_at TEXT
);
CREATE INDEX orders_customer ON orders (customer_id);
-- AUTOINCREMENT on tables the tools write: an id, once handed to an agent or journal,
-- never comes back naming a different row after a compensation deleted the first one.
CREATE TABLE payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    kind TEXT NOT NULL CHECK (kind IN ('charge', 'refund', 'refund_reversal')),
    amount_cents INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    memo TEXT,
    -- A reversal names the refund it cancels; UNIQUE makes a second reversal impossible.
    reverses_id INTEGER UNIQUE REFERENCES payments (id),
    CHECK (
        (kind = 'charge' AND amount_cents > 0 AND reverses_id IS NULL)
        OR (kind = 'refund' AND amount_cents < 0 AND reverses_id IS NULL)
        OR (kind = 'refund_reversal' AND amount_cents > 0 AND reverses_id IS NOT NULL)
    )
);
CREATE INDEX payments_order ON payments (order_id);
CREATE TABLE store_credits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'voided'))
);
CREATE INDEX store_credits_customer ON store_credits (customer_id);
CREATE TABLE email_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'recalled'))
);
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY,
    from_addr TEXT NOT NULL,
    customer_id INTEGER REFERENCES customers (id),
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'answered', 'closed')),
    created_at TEXT NOT NULL
);
CREATE TABLE ticket_replies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE kb_documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    body TEXT NOT NULL
);
"""


def default_world_path() -> Path:
    """Where the demo world lives unless told otherwise: ``charter_home()/demo-world.db``."""
    return charter_home() / DEFAULT_WORLD_FILENAME


def connect(path: Path | str) -> sqlite3.Connection:
    """Open an existing world.

    The connection is in autocommit mode (group writes with :func:`transaction`), returns
    :class:`sqlite3.Row` rows, enforces foreign keys and uses WAL so readers never block
    the writer. It may be handed to another thread (tools run in a worker pool), but use
    each connection from one thread at a time; one short-lived connection per call is best.

    Args:
        path: The world's SQLite file.

    Returns:
        An open connection; the caller closes it.

    Raises:
        FileNotFoundError: ``path`` does not exist (SQLite would silently create an empty
            database, which would only fail later with "no such table").
    """
    world = Path(path)
    if not world.is_file():
        raise FileNotFoundError(
            f"demo world not found at {world}; create it with charter.demo.create_world()"
        )
    conn = sqlite3.connect(world, timeout=10.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA journal_mode = WAL")
    return conn


@contextlib.contextmanager
def session(path: Path | str) -> Generator[sqlite3.Connection, None, None]:
    """Open a world for the duration of a ``with`` block and close it afterwards.

    Args:
        path: The world's SQLite file.

    Yields:
        A connection from :func:`connect`.
    """
    conn = connect(path)
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Generator[sqlite3.Connection, None, None]:
    """Run a block as one write transaction: commit on success, roll back on any error.

    ``BEGIN IMMEDIATE`` takes the write lock before the first read, so validation done
    inside the block still holds when the block writes.

    Args:
        conn: A connection from :func:`connect` (autocommit mode).

    Yields:
        The same connection.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def world_today(conn: sqlite3.Connection) -> date:
    """The world's frozen "today", as stored in ``world_meta``."""
    row = conn.execute("SELECT value FROM world_meta WHERE key = 'today'").fetchone()
    if row is None:
        raise ValueError("this database is not a charter demo world (no world_meta.today)")
    return date.fromisoformat(str(row[0]))


def world_timestamp(conn: sqlite3.Connection) -> str:
    """Timestamp for a row written now: the world's date with the real UTC time of day.

    The date stays on the frozen "today" so new rows fall inside report windows like the
    seeded ones; the real time of day keeps rows written in one session in order.
    """
    moment = datetime.combine(world_today(conn), datetime.now(UTC).time(), UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _schema_of(path: Path) -> str | None:
    """The schema version of the world at ``path``; None if it is not a demo world."""
    try:
        with session(path) as conn:
            world_today(conn)
            row = conn.execute(
                "SELECT value FROM world_meta WHERE key = 'schema_version'"
            ).fetchone()
    except (sqlite3.DatabaseError, ValueError):
        return None
    return str(row[0]) if row is not None else "0"


def _populate(conn: sqlite3.Connection) -> None:
    seed = _seed.build_seed()
    meta = {
        "schema_version": SCHEMA_VERSION,
        "seed": str(_seed.SEED),
        "today": _seed.TODAY.isoformat(),
        "currency": _seed.CURRENCY,
        "refund_window_days": str(_seed.REFUND_WINDOW_DAYS),
        "manager_approval_over_cents": str(_seed.MANAGER_APPROVAL_OVER_CENTS),
    }
    conn.executescript(_SCHEMA)
    with transaction(conn):
        conn.executemany("INSERT INTO world_meta VALUES (?, ?)", meta.items())
        conn.executemany(
            "INSERT INTO customers (id, name, email, tier, country, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            seed.customers,
        )
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?)", seed.orders)
        conn.executemany(
            "INSERT INTO payments (order_id, kind, amount_cents, created_at, idempotency_key,"
            " memo) VALUES (?, ?, ?, ?, ?, ?)",
            seed.payments,
        )
        conn.executemany("INSERT INTO tickets VALUES (?, ?, ?, ?, ?, ?)", seed.tickets)
        conn.executemany(
            "INSERT INTO ticket_replies (ticket_id, body, created_at) VALUES (?, ?, ?)",
            seed.replies,
        )
        conn.executemany(
            "INSERT INTO kb_documents (slug, title, body) VALUES (?, ?, ?)", seed.kb_documents
        )
        conn.executemany("INSERT INTO inbox VALUES (?, ?, ?, ?, ?, ?)", seed.inbox)


def create_world(path: Path | str, *, reset: bool = False) -> Path:
    """Create the demo world at ``path`` with its deterministic seed.

    An existing world is left as it is (agents' earlier actions included) unless ``reset``
    is true, in which case it is replaced by a freshly seeded one. The world is built in a
    temporary file and moved into place, so a crash or a concurrent reader never sees a
    half-seeded world.

    Args:
        path: SQLite file to create; missing parent directories are created.
        reset: Replace an existing world instead of keeping it.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        FileExistsError: ``path`` exists but is not a demo world and ``reset`` is false
            (refusing protects an unrelated file from being overwritten by mistake).
        ValueError: ``path`` is a demo world made by an older version of charter (its
            tables differ) and ``reset`` is false.
    """
    world = Path(path)
    if world.exists() and not reset:
        schema = _schema_of(world)
        if schema is None:
            raise FileExistsError(
                f"{world} exists but is not a charter demo world; pass reset=True to replace it"
            )
        if schema != SCHEMA_VERSION:
            raise ValueError(
                f"{world} is a demo world of schema {schema}, but this version of charter "
                f"needs schema {SCHEMA_VERSION}; recreate it with `charter demo --reset` "
                "or create_world(path, reset=True) (its earlier changes are lost)"
            )
        return world
    private_directory(world.parent)  # customer data: the file itself is made 0600 below
    fd, tmp_name = tempfile.mkstemp(prefix=f".{world.name}.", suffix=".tmp", dir=world.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            # No journal and no syncs while building: the file is private until the rename,
            # and a crash leaves only a temporary file. One fsync below makes it durable.
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA foreign_keys = ON")
            _populate(conn)
        finally:
            conn.close()
        with tmp.open("rb+") as built:
            os.fsync(built.fileno())
        # WAL/SHM side files of the old world would be replayed into the new one.
        for suffix in ("-wal", "-shm"):
            Path(f"{world}{suffix}").unlink(missing_ok=True)
        os.replace(tmp, world)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return world
