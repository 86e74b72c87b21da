"""The journal's schema, created and upgraded by Alembic migrations on first open.

Opening a journal brings its database to this charter's schema head inside one
transaction that holds a migration lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
PostgreSQL), so concurrent first opens by several workers serialise and a failed
migration leaves nothing half-built. A database at a revision this charter does not know
(written by a newer release) is refused before anything is written.
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from charter.errors import JournalError

MIGRATIONS = Path(__file__).parent / "migrations"

_PG_LOCK = 0x63686172  # "char": the advisory lock id migrations take on PostgreSQL


def head_revision(location: Path = MIGRATIONS) -> str:
    """The newest schema revision this charter knows."""
    head = ScriptDirectory(str(location)).get_current_head()
    assert head is not None, f"no migrations in {location}"
    return head


def current_revision(conn: Connection) -> str | None:
    """The database's schema revision; None for a database never migrated."""
    return MigrationContext.configure(conn).get_current_revision()


_UPGRADING = threading.Lock()


def migrate(engine: Engine, *, location: Path = MIGRATIONS) -> str:
    """Bring the database at ``engine`` to the head revision; return that revision.

    Raises:
        JournalError: the database is at a revision this charter does not know.
        sqlalchemy.exc.OperationalError: the database cannot be reached.
    """
    scripts = ScriptDirectory(str(location))
    head = head_revision(location)
    with engine.connect() as conn:
        if current_revision(conn) == head:  # the common case: no lock, no write
            return head
    # Alembic keeps its migration context in module globals: one upgrade at a time per
    # process (threads opening journals together would otherwise run each other's).
    with _UPGRADING, engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
        found = current_revision(conn)  # again: another process may have migrated meanwhile
        if found == head:
            return head
        known = {script.revision for script in scripts.walk_revisions()}
        if found is not None and found not in known:
            raise JournalError(
                f"the journal database is at schema revision {found}, which this charter "
                f"(schema {head}) does not know: a newer charter wrote it; upgrade charter"
            )
        config = Config()
        config.set_main_option("script_location", str(location))
        config.attributes["connection"] = conn
        command.upgrade(config, head)
    return head


def check_readable(engine: Engine, where: str, *, location: Path = MIGRATIONS) -> str:
    """Check, without writing, that the database at ``engine`` holds a charter journal
    this charter can read; return its schema revision.

    Raises:
        JournalError: the database holds no journal (never migrated, or another
            application's), or one a newer charter wrote.
        sqlalchemy.exc.DatabaseError: the database cannot be reached or is not a database.
    """
    with engine.connect() as conn:
        found = current_revision(conn)
        has_records = inspect(conn).has_table("journal_records")
    if found is None or not has_records:
        raise JournalError(
            f"no journal at {where}: the database holds no charter journal; check "
            "CHARTER_HOME or CHARTER_DATABASE_URL"
        )
    known = {script.revision for script in ScriptDirectory(str(location)).walk_revisions()}
    if found not in known:
        raise JournalError(
            f"the journal database is at schema revision {found}, which this charter "
            f"(schema {head_revision(location)}) does not know: a newer charter wrote it; "
            "upgrade charter"
        )
    return found
