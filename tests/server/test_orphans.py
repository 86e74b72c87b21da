"""Runs whose owner died: a server recovers them when it starts, and its API cancels them,
on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from charter.journal import Journal, JournalSigner
from charter.server import TokenStore, create_app
from charter.server._service import agent_files
from databases import fresh_url
from runtime._orphans import World, make_world, wait_for


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    made = make_world(tmp_path, fresh_url(request.param, tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
    monkeypatch.setenv("LEDGER", str(made.ledger))
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delitem(sys.modules, "lease_tools", raising=False)  # it reads LEDGER once
    return made


@pytest.fixture
def journal(world: World) -> Iterator[Journal]:
    found = Journal(world.url, JournalSigner(Ed25519PrivateKey.generate()))
    yield found
    found.close()


def _kinds(journal: Journal, run_id: str) -> list[str]:
    return [r.kind for r in journal.records(run_id)]


def test_a_starting_server_recovers_a_run_whose_owner_died(journal: Journal, world: World) -> None:
    run_id = world.orphan()

    app = create_app(journal, agent_files([world.agent]))
    with TestClient(app):
        finished = wait_for(lambda: "run.finished" in _kinds(journal, run_id), 60)

    assert finished, _kinds(journal, run_id)
    records = list(journal.records(run_id))
    recovered = next(r.payload for r in records if r.kind == "run.recovered")
    assert recovered["actor"] == "server:recovery"
    assert (records[-1].kind, records[-1].payload["status"]) == ("run.finished", "completed")
    assert world.payments() == [7] and len(world.calls()) == 2  # retried under its key
    assert journal.verify().ok


def test_a_server_leaves_a_run_another_live_process_owns(journal: Journal, world: World) -> None:
    from charter.journal._lease import claim

    run_id = world.orphan()
    claim(journal.engine, run_id, owner="operator", actor="ops", ttl=30)  # a live owner

    service = create_app(journal, agent_files([world.agent])).state.charter.service
    try:
        assert service.recover_orphans() == []
    finally:
        service.close()
    assert "run.recovered" not in _kinds(journal, run_id)


def test_the_api_cancels_an_orphaned_run(journal: Journal, world: World) -> None:
    run_id = world.orphan()
    token = TokenStore(journal).create("sam", "operator", actor="setup")[1]
    client = TestClient(create_app(journal, agent_files([world.agent])))  # not started: no sweep

    answer = client.post(
        f"/api/runs/{run_id}/cancel",
        json={"reason": "its server crashed"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["detail"] == "run was running; cancelled"
    records = list(journal.records(run_id))
    assert [r.kind for r in records][-2:] == ["run.cancelled", "run.finished"]
    assert records[-1].payload["status"] == "stopped"
    assert world.payments() == [7] and len(world.calls()) == 1
    assert journal.verify().ok
