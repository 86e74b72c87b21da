"""Journal tests run on SQLite always, and on PostgreSQL when one is provided."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty journal database URL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.db'}"
    url = os.environ.get("CHARTER_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("CHARTER_TEST_POSTGRES_URL is not set (.ci/run sets it)")
    engine = create_engine(url)
    existing = MetaData()
    existing.reflect(engine)
    existing.drop_all(engine)  # the journal's tables and Alembic's version table
    engine.dispose()
    return url
