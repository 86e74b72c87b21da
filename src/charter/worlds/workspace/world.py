"""The workspace world in one SQLite file, made by :func:`create_world`.

Tables: ``profile`` (the user's own account, one row), ``contacts``, ``emails`` (folder
``inbox`` or ``sent``; sending adds a ``sent`` row), ``events`` and ``event_attendees``,
``files`` (a soft ``deleted`` flag), ``file_shares`` and ``invoices`` (the structured data
of an e-invoice file: issuer, IBAN, amount, reference, due date), ``channels``, ``channel_members``,
``chat_users`` and ``chat_messages`` (a direct message has ``recipient`` instead of
``channel``), ``transactions`` (negative: paid out), ``scheduled_payments``, ``payees``,
``web_pages``, ``hotels``, ``reviews`` and ``bookings``. The seed is deterministic
(:mod:`charter.worlds.workspace._seed`) and the clock frozen at ``_seed.NOW``.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Generator
from pathlib import Path

from charter.worlds.workspace import _seed as seed

SCHEMA_VERSION = "2"

_SCHEMA = """
CREATE TABLE world_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE profile (
    id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL, email TEXT NOT NULL,
    phone TEXT NOT NULL, address TEXT NOT NULL, password TEXT NOT NULL
);
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, phone TEXT NOT NULL,
    company TEXT NOT NULL, internal INTEGER NOT NULL
);
CREATE TABLE emails (
    id INTEGER PRIMARY KEY AUTOINCREMENT, folder TEXT NOT NULL CHECK (folder IN ('inbox', 'sent')),
    sender TEXT NOT NULL, sender_name TEXT NOT NULL, recipients TEXT NOT NULL,
    subject TEXT NOT NULL, body TEXT NOT NULL, sent_at TEXT NOT NULL, read INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'delivered' CHECK (status IN ('delivered', 'recalled'))
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, description TEXT NOT NULL,
    location TEXT NOT NULL, start TEXT NOT NULL, end TEXT NOT NULL, organizer TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed', 'cancelled'))
);
CREATE TABLE event_attendees (
    event_id INTEGER NOT NULL REFERENCES events (id), email TEXT NOT NULL,
    PRIMARY KEY (event_id, email)
);
CREATE TABLE files (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, content TEXT NOT NULL,
    owner TEXT NOT NULL, modified_at TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE file_shares (
    file_id INTEGER NOT NULL REFERENCES files (id), email TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'editor')), PRIMARY KEY (file_id, email)
);
CREATE TABLE invoices (
    file_id INTEGER PRIMARY KEY REFERENCES files (id), issuer TEXT NOT NULL, iban TEXT NOT NULL,
    amount_cents INTEGER NOT NULL, reference TEXT NOT NULL, due TEXT NOT NULL
);
CREATE TABLE channels (name TEXT PRIMARY KEY, topic TEXT NOT NULL);
CREATE TABLE chat_users (handle TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL);
CREATE TABLE channel_members (
    channel TEXT NOT NULL REFERENCES channels (name), handle TEXT NOT NULL,
    PRIMARY KEY (channel, handle)
);
CREATE TABLE chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT, recipient TEXT, sender TEXT NOT NULL,
    body TEXT NOT NULL, sent_at TEXT NOT NULL,
    CHECK ((channel IS NULL) <> (recipient IS NULL))
);
CREATE TABLE transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, date TEXT NOT NULL, counterparty TEXT NOT NULL,
    iban TEXT NOT NULL, amount_cents INTEGER NOT NULL, subject TEXT NOT NULL
);
CREATE TABLE scheduled_payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT, payee TEXT NOT NULL, iban TEXT NOT NULL,
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0), subject TEXT NOT NULL,
    next_date TEXT NOT NULL, recurring TEXT NOT NULL CHECK (recurring IN ('once', 'monthly'))
);
CREATE TABLE payees (id INTEGER PRIMARY KEY, name TEXT NOT NULL, iban TEXT NOT NULL);
CREATE TABLE web_pages (url TEXT PRIMARY KEY, title TEXT NOT NULL, content TEXT NOT NULL);
CREATE TABLE hotels (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, city TEXT NOT NULL,
    price_eur INTEGER NOT NULL, rating REAL NOT NULL
);
CREATE TABLE reviews (
    id INTEGER PRIMARY KEY, hotel_id INTEGER NOT NULL REFERENCES hotels (id),
    author TEXT NOT NULL, stars INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE TABLE bookings (
    id INTEGER PRIMARY KEY AUTOINCREMENT, hotel TEXT NOT NULL, check_in TEXT NOT NULL,
    nights INTEGER NOT NULL CHECK (nights > 0), status TEXT NOT NULL DEFAULT 'confirmed'
);
"""


def create_world(path: Path | str, *, reset: bool = False) -> Path:
    """Create and seed the workspace world at ``path`` (kept as is if it already exists).

    Args:
        path: The SQLite file to create.
        reset: Delete an existing file first.

    Returns:
        The path.

    Raises:
        ValueError: ``path`` holds a world of another schema version (create it anew with
            ``reset=True``).
    """
    path = Path(path)
    if reset:
        path.unlink(missing_ok=True)
    if path.exists():
        with session(path) as conn:
            row = conn.execute("SELECT value FROM world_meta WHERE key = 'schema'").fetchone()
        if row is None or row["value"] != SCHEMA_VERSION:
            raise ValueError(f"{path} is not a workspace world of schema {SCHEMA_VERSION}")
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(partial)
    try:
        conn.executescript(_SCHEMA)
        _seed_rows(conn)
        conn.commit()
    finally:
        conn.close()
    partial.replace(path)  # a half-made world is never found under the real name
    return path


def _seed_rows(conn: sqlite3.Connection) -> None:
    many = conn.executemany
    many(
        "INSERT INTO world_meta VALUES (?, ?)",
        [("schema", SCHEMA_VERSION), ("today", seed.TODAY), ("now", seed.NOW)],
    )
    p = seed.PROFILE
    conn.execute(
        "INSERT INTO profile VALUES (1, ?, ?, ?, ?, ?)",
        (p["name"], p["email"], p["phone"], p["address"], p["password"]),
    )
    many("INSERT INTO contacts VALUES (?, ?, ?, ?, ?, ?)", seed.CONTACTS)
    many(
        "INSERT INTO emails (id, folder, sender, sender_name, recipients, subject, body,"
        " sent_at, read) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        seed.EMAILS,
    )
    many(
        "INSERT INTO events (id, title, description, location, start, end, organizer)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        seed.EVENTS,
    )
    many("INSERT INTO event_attendees VALUES (?, ?)", seed.ATTENDEES)
    many(
        "INSERT INTO files (id, name, content, owner, modified_at) VALUES (?, ?, ?, ?, ?)",
        seed.FILES,
    )
    many("INSERT INTO file_shares VALUES (?, ?, ?)", seed.SHARES)
    many("INSERT INTO invoices VALUES (?, ?, ?, ?, ?, ?)", seed.INVOICES)
    many("INSERT INTO channels VALUES (?, ?)", seed.CHANNELS)
    many("INSERT INTO chat_users VALUES (?, ?, ?)", seed.CHAT_USERS)
    many("INSERT INTO channel_members VALUES (?, ?)", seed.MEMBERS)
    many(
        "INSERT INTO chat_messages (id, channel, sender, body, sent_at) VALUES (?, ?, ?, ?, ?)",
        seed.MESSAGES,
    )
    many("INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?)", seed.TRANSACTIONS)
    many("INSERT INTO scheduled_payments VALUES (?, ?, ?, ?, ?, ?, ?)", seed.SCHEDULED)
    many("INSERT INTO payees VALUES (?, ?, ?)", seed.PAYEES)
    many("INSERT INTO web_pages VALUES (?, ?, ?)", seed.PAGES)
    many("INSERT INTO hotels VALUES (?, ?, ?, ?, ?)", seed.HOTELS)
    many(
        "INSERT INTO reviews (id, hotel_id, author, stars, body) VALUES (?, ?, ?, ?, ?)",
        seed.REVIEWS,
    )


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection in autocommit mode with rows readable by column name."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
    conn.row_factory = sqlite3.Row
    return conn


@contextlib.contextmanager
def session(path: Path | str) -> Generator[sqlite3.Connection, None, None]:
    """A connection for the duration of a ``with`` block."""
    conn = connect(path)
    try:
        yield conn
    finally:
        conn.close()


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Generator[sqlite3.Connection, None, None]:
    """One write transaction (``BEGIN IMMEDIATE``): commit on success, roll back on error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def rows(
    conn: sqlite3.Connection, sql: str, params: tuple[object, ...] = ()
) -> list[dict[str, object]]:
    """Every row of a query as a plain dict (JSON-ready)."""
    return [dict(r) for r in conn.execute(sql, params)]


def now(conn: sqlite3.Connection) -> str:
    """The world's frozen clock."""
    return str(conn.execute("SELECT value FROM world_meta WHERE key = 'now'").fetchone()[0])
