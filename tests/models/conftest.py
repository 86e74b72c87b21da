"""A journal (and its model registry) per test; the demo model trained once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from charter.journal import Journal
from charter.models import ModelRegistry
from charter.models.demo import train_and_register


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


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo model's training outputs (model.skops, card.yaml, reference.npz), made once."""
    home = tmp_path_factory.mktemp("demo-home")
    scratch = Journal(f"sqlite:///{home / 'scratch.db'}")
    train_and_register(scratch, home)
    scratch.close()
    return home / "models" / "fraud_risk" / "1"
