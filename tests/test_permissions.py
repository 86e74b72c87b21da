"""Files holding customer data are created private (0600, their directory 0700); existing
ones keep their modes and a shared one is warned about."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from charter.demo.world import create_world
from charter.journal import Journal


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture(autouse=True)
def lax_umask() -> Iterator[None]:
    """A umask that would leave files world-readable (and writable)."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_a_new_journal_and_its_side_files_are_private(tmp_path: Path) -> None:
    home = tmp_path / "home" / "deep"
    journal = Journal(f"sqlite:///{home / 'journal.db'}")
    journal.append([("r", "note", {"n": 1})])

    assert _mode(home) == _mode(home.parent) == 0o700
    assert _mode(home / "journal.db") == 0o600
    for side in ("journal.db-wal", "journal.db-shm"):
        assert _mode(home / side) == 0o600
    journal.close()


def test_an_existing_shared_journal_is_warned_about_not_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "shared.db"
    Journal(f"sqlite:///{path}").close()
    path.chmod(0o644)

    with caplog.at_level(logging.WARNING, logger="charter"):
        Journal(f"sqlite:///{path}").close()

    assert _mode(path) == 0o644
    assert f"file {path} is readable by other users (mode 0o644)" in caplog.text


def test_the_demo_world_is_private(tmp_path: Path) -> None:
    world = create_world(tmp_path / "home" / "demo-world.db")

    assert _mode(world) == 0o600
    assert _mode(world.parent) == 0o700


def test_the_workflow_database_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from charter.runtime._worker import system_database_url

    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)

    url = system_database_url()

    assert url == f"sqlite:///{tmp_path / 'home' / 'workflows.sqlite'}"
    assert _mode(tmp_path / "home" / "workflows.sqlite") == 0o600
    assert _mode(tmp_path / "home") == 0o700
