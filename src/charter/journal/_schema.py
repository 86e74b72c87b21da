"""The journal's schema, created and upgraded by Alembic migrations on first open.

Opening a journal brings its database to this charter's schema head inside one
transaction that holds a migration lock (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
PostgreSQL), so concurrent first opens by several workers serialise and a failed
migration leaves nothing half-built. A database at a revision this charter does not know
(written by a newer release) is refused before anything is written.
"""

from __future__ import annotations

import functools
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from charter.errors import JournalError

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

MIGRATIONS = Path(__file__).parent / "migrations"

_PG_LOCK = 0x63686172  # "char": the advisory lock id migrations take on PostgreSQL


_REVISION = re.compile(r"^revision\s*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*=\s*(?:None|[\"']([^\"']+)[\"'])", re.MULTILINE)


@functools.cache
def known_revisions(location: Path = MIGRATIONS) -> tuple[str, ...]:
    """Every schema revision this charter knows, oldest first.

    Read from the migration scripts' ``revision``/``down_revision`` lines rather than by
    Alembic, which costs a tenth of a second to import: every command that opens a journal
    asks this, and only an upgrade needs Alembic itself.
    """
    parents: dict[str, str | None] = {}
    for script in sorted((location / "versions").glob("*.py")):
        text = script.read_text(encoding="utf-8")
        revision, down = _REVISION.search(text), _DOWN.search(text)
        assert revision is not None and down is not None, f"no revision line in {script}"
        parents[revision.group(1)] = down.group(1)
    children = {parent: child for child, parent in parents.items()}
    assert len(children) == len(parents), f"the migrations in {location} branch"
    chain: list[str] = []
    at = children.get(None)
    while at is not None:
        chain.append(at)
        at = children.get(at)
    assert len(chain) == len(parents), f"the migrations in {location} do not form one chain"
    return tuple(chain)


def head_revision(location: Path = MIGRATIONS) -> str:
    """The newest schema revision this charter knows."""
    revisions = known_revisions(location)
    assert revisions, f"no migrations in {location}"
    return revisions[-1]


def current_revision(conn: Connection) -> str | None:
    """The database's schema revision; None for a database never migrated."""
    from sqlalchemy import inspect  # here: known_revisions alone must not load SQLAlchemy

    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


_UPGRADING = threading.Lock()


def migrate(engine: Engine, *, location: Path = MIGRATIONS) -> str:
    """Bring the database at ``engine`` to the head revision; return that revision.

    Raises:
        JournalError: the database is at a revision this charter does not know.
        sqlalchemy.exc.OperationalError: the database cannot be reached.
    """
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
        if found is not None and found not in known_revisions(location):
            raise JournalError(
                f"the journal database is at schema revision {found}, which this charter "
                f"(schema {head}) does not know: a newer charter wrote it; upgrade charter"
            )
        from alembic import command
        from alembic.config import Config

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
    from sqlalchemy import inspect

    with engine.connect() as conn:
        found = current_revision(conn)
        has_records = inspect(conn).has_table("journal_records")
    if found is None or not has_records:
        raise JournalError(
            f"no journal at {where}: the database holds no charter journal; check "
            "CHARTER_HOME or CHARTER_DATABASE_URL"
        )
    if found not in known_revisions(location):
        raise JournalError(
            f"the journal database is at schema revision {found}, which this charter "
            f"(schema {head_revision(location)}) does not know: a newer charter wrote it; "
            "upgrade charter"
        )
    return found
