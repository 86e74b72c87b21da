"""Journal tests run on SQLite always, and on PostgreSQL when one is provided."""

from __future__ import annotations

from pathlib import Path

import pytest

from databases import fresh_url


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty journal database URL."""
    return fresh_url(request.param, tmp_path)
