"""Test databases: a SQLite file, or the PostgreSQL of ``CHARTER_TEST_POSTGRES_URL``
emptied for the test (skipped when it is not set; ``.ci/run`` sets it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine


def fresh_url(backend: str, tmp_path: Path) -> str:
    """A URL of an empty database on ``backend`` (``sqlite`` or ``postgresql``)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.db'}"
    return fresh_postgres_url()


def fresh_postgres_url() -> str:
    """The test PostgreSQL's URL, every table in it dropped; skips the test without one."""
    url = os.environ.get("CHARTER_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("CHARTER_TEST_POSTGRES_URL is not set (.ci/run sets it)")
    engine = create_engine(url)
    existing = MetaData()
    existing.reflect(engine)
    existing.drop_all(engine)  # every table: the journal's, Alembic's, the registry's
    engine.dispose()
    return url
