"""The journal and CHARTER_HOME of a test, shared with the ``charter`` CLI it runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from charter import Journal


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """CHARTER_HOME and the journal's URL, for this process and the CLI's."""
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHARTER_DATABASE_URL", f"sqlite:///{tmp_path / 'journal.db'}")
    return tmp_path


@pytest.fixture
def journal(home: Path) -> Iterator[Journal]:
    yield Journal(os.environ["CHARTER_DATABASE_URL"])
