"""A journal (and its model registry) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from charter.journal import Journal
from charter.models import ModelRegistry


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Journal]:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHARTER_DATABASE_URL", url)  # what the CLI and toolsets open
    opened = Journal(url)
    yield opened
    opened.close()


@pytest.fixture
def registry(journal: Journal) -> ModelRegistry:
    return ModelRegistry(journal)
