"""The workspace world: built deterministically, never half-made, refused when foreign."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from charter.worlds.workspace import _seed as seed
from charter.worlds.workspace.world import create_world


def _dump(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return hashlib.sha256("\n".join(db.iterdump()).encode()).hexdigest()


def test_the_world_builds_with_every_part_seeded(tmp_path: Path) -> None:
    world = create_world(tmp_path / "w.db")

    with sqlite3.connect(world) as db:
        counts = {
            table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in (
                "emails",
                "events",
                "files",
                "chat_messages",
                "transactions",
                "scheduled_payments",
                "payees",
                "web_pages",
                "hotels",
                "reviews",
            )
        }
        password = db.execute("SELECT password FROM profile").fetchone()[0]
    assert counts == {
        "emails": len(seed.EMAILS),
        "events": len(seed.EVENTS),
        "files": len(seed.FILES),
        "chat_messages": len(seed.MESSAGES),
        "transactions": len(seed.TRANSACTIONS),
        "scheduled_payments": len(seed.SCHEDULED),
        "payees": len(seed.PAYEES),
        "web_pages": len(seed.PAGES),
        "hotels": len(seed.HOTELS),
        "reviews": len(seed.REVIEWS),
    }
    assert password == seed.PROFILE["password"]


def test_two_worlds_are_identical(tmp_path: Path) -> None:
    assert _dump(create_world(tmp_path / "a.db")) == _dump(create_world(tmp_path / "b.db"))


def test_an_existing_world_is_kept_and_reset_recreates_it(tmp_path: Path) -> None:
    world = create_world(tmp_path / "w.db")
    with sqlite3.connect(world) as db:
        db.execute("UPDATE profile SET password = 'changed-by-a-run'")

    create_world(world)
    with sqlite3.connect(world) as db:
        assert db.execute("SELECT password FROM profile").fetchone()[0] == "changed-by-a-run"
    create_world(world, reset=True)
    with sqlite3.connect(world) as db:
        assert db.execute("SELECT password FROM profile").fetchone()[0] == seed.PROFILE["password"]


def test_a_file_that_is_not_a_workspace_world_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE world_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO world_meta VALUES ('schema', '0')")

    with pytest.raises(ValueError, match="not a workspace world"):
        create_world(other)


def test_a_failed_seed_leaves_no_world_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charter.worlds.workspace import world as module

    def broken(conn: sqlite3.Connection) -> None:
        raise sqlite3.IntegrityError("seed failed")

    monkeypatch.setattr(module, "_seed_rows", broken)
    with pytest.raises(sqlite3.IntegrityError):
        create_world(tmp_path / "w.db")
    assert not (tmp_path / "w.db").exists()
