"""The journal's schema: Alembic migrations on open, legacy databases, refusals."""

from __future__ import annotations

import shutil
import socket
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from charter.errors import JournalError
from charter.journal import Journal
from charter.journal._schema import MIGRATIONS, head_revision, migrate

REVISION_0001 = (
    "DROP TABLE run_leases",
    "DROP TABLE model_artifacts",
    "DROP TABLE model_versions",
    "DROP TABLE api_tokens",
    "DROP TABLE charter_workers",
    "DROP INDEX ix_journal_records_kind_seq",
    "DROP INDEX ix_journal_records_run_id_seq",
    "CREATE INDEX ix_journal_records_kind ON journal_records (kind)",
    "CREATE INDEX ix_journal_records_run_id ON journal_records (run_id)",
)
"""Statements that take a journal at the head back to revision 0001's schema."""


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()


def _sql(url: str, *statements: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def test_a_new_database_is_migrated_to_the_head(journal_url: str) -> None:
    Journal(journal_url).close()

    assert _revision(journal_url) == head_revision()
    assert {"journal_records", "journal_meta", "journal_checkpoints", "charter_workers"} <= (
        _tables(journal_url)
    )
    engine = create_engine(journal_url)
    indexes = {index["name"] for index in inspect(engine).get_indexes("journal_records")}
    engine.dispose()
    assert {"ix_journal_records_kind_seq", "ix_journal_records_run_id_seq"} <= indexes


def test_a_database_from_before_migrations_keeps_its_records(journal_url: str) -> None:
    old = Journal(journal_url)
    old.append([("r1", "a", {"n": 1}), ("r1", "b", {"n": 2})])
    old.close()
    # As the first releases left it: no version table, no checkpoints, no workers.
    _sql(
        journal_url, *REVISION_0001, "DROP TABLE alembic_version", "DROP TABLE journal_checkpoints"
    )

    reopened = Journal(journal_url)

    assert [r.kind for r in reopened.records()] == ["a", "b"]
    assert reopened.verify().ok
    assert _revision(journal_url) == head_revision()
    assert "journal_checkpoints" in _tables(journal_url)
    reopened.close()


def test_an_older_revision_is_upgraded(journal_url: str) -> None:
    Journal(journal_url).close()
    _sql(journal_url, *REVISION_0001, "UPDATE alembic_version SET version_num='0001'")

    Journal(journal_url).close()

    assert _revision(journal_url) == head_revision()
    assert {"charter_workers", "run_leases"} <= _tables(journal_url)


def test_a_revision_from_a_newer_charter_is_refused_without_writing(journal_url: str) -> None:
    journal = Journal(journal_url)
    journal.append([("r1", "a", {})])
    journal.close()
    _sql(journal_url, "DROP TABLE charter_workers", "UPDATE alembic_version SET version_num='9999'")

    with pytest.raises(JournalError, match=r"schema revision 9999.*upgrade charter"):
        Journal(journal_url)

    assert "charter_workers" not in _tables(journal_url)  # nothing migrated half-way
    assert _revision(journal_url) == "9999"


def test_a_failing_migration_leaves_the_database_as_it_was(
    journal_url: str, tmp_path: Path
) -> None:
    Journal(journal_url).close()
    broken = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, broken, ignore=shutil.ignore_patterns("__pycache__"))
    head = head_revision()
    (broken / "versions" / "9999_broken.py").write_text(
        '"""Creates a table, then fails."""\n'
        "import sqlalchemy as sa\n"
        "from alembic import op\n\n"
        'revision = "9999"\n'
        f'down_revision = "{head}"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        '    op.create_table("half_built", sa.Column("id", sa.Integer, primary_key=True))\n'
        '    raise RuntimeError("migration failed")\n'
    )
    engine = create_engine(journal_url)

    with pytest.raises(RuntimeError, match="migration failed"):
        migrate(engine, location=broken)

    engine.dispose()
    assert "half_built" not in _tables(journal_url)
    assert _revision(journal_url) == head


def test_concurrent_first_opens_migrate_once(journal_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_journal() -> None:
        start.wait()
        try:
            Journal(journal_url).close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_journal) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert _revision(journal_url) == head_revision()


def test_an_unreachable_postgresql_is_a_clear_error_without_the_password() -> None:
    pytest.importorskip("psycopg")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(JournalError, match="cannot open journal") as caught:
        Journal(f"postgresql+psycopg://charter:secret@127.0.0.1:{port}/charter?connect_timeout=2")

    assert "secret" not in str(caught.value)


def test_known_revisions_read_from_the_scripts_are_alembics_chain() -> None:
    # Opening a journal reads revisions without importing Alembic: they must be the ones
    # Alembic itself would walk, in order.
    from alembic.script import ScriptDirectory

    from charter.journal._schema import known_revisions

    scripts = ScriptDirectory(str(MIGRATIONS))
    walked = [s.revision for s in scripts.walk_revisions()]
    assert known_revisions() == tuple(reversed(walked))
    assert head_revision() == scripts.get_current_head()


def test_a_branched_migration_directory_is_refused(tmp_path: Path) -> None:
    from charter.journal._schema import known_revisions

    shutil.copytree(MIGRATIONS, tmp_path / "migrations")
    (tmp_path / "migrations" / "versions" / "9999_branch.py").write_text(
        'revision = "9999"\ndown_revision = "0001"\n', encoding="utf-8"
    )
    with pytest.raises(AssertionError, match="branch"):
        known_revisions(tmp_path / "migrations")


def test_sqlite_files_opened_together_for_the_first_time_all_open(tmp_path: Path) -> None:
    # Switching a new file to WAL is refused to all but one of the connections racing to
    # do it; every opener must still get its journal (it used to fail about once in 60).
    for round_ in range(20):
        url = f"sqlite:///{tmp_path / f'journal-{round_}.db'}"
        errors: list[BaseException] = []
        start = threading.Barrier(4)

        def open_journal(
            url: str = url,
            errors: list[BaseException] = errors,
            start: threading.Barrier = start,
        ) -> None:
            start.wait()
            try:
                Journal(url).close()
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=open_journal) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [], f"round {round_}: {errors}"
