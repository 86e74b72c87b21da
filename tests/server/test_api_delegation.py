"""The HTTP service with a delegating agent: approving a sub-agent's request resumes the
run at the root of its chain, which continues the sub-agent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from charter.journal import Journal
from charter.server import ROLES, TokenStore, create_app
from charter.server._service import agent_files

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "delegation"


@pytest.fixture
def api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    agents = tmp_path / "agents"
    agents.mkdir()
    for name in ("front-desk", "billing"):  # anyone with the approver role may approve
        text = (EXAMPLES / f"{name}.agent.yaml").read_text()
        text = text.replace("- {approvers: [dana, lee], timeout_seconds: 1800}", "- {}")
        (agents / f"{name}.agent.yaml").write_text(text)
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    store = TokenStore(journal)
    tokens = {role: store.create(role, role, actor="setup")[1] for role in ROLES}
    with TestClient(create_app(journal, agent_files([agents]))) as client:
        yield client, {role: f"Bearer {token}" for role, token in tokens.items()}
    journal.close()


def _wait(client: TestClient, auth: str, run_id: str, *states: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        shown = client.get(f"/api/runs/{run_id}", headers={"Authorization": auth})
        if shown.status_code == 200 and shown.json()["summary"]["status"] in states:
            return shown.json()
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached {states}")


def test_approving_a_sub_agents_request_finishes_the_whole_chain(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = api
    started = client.post(
        "/api/runs",
        json={"agent": "front-desk", "goal": "Refund order 1042: item arrived damaged"},
        headers={"Authorization": auth["operator"]},
    )
    assert started.status_code == 202, started.text
    run_id = str(started.json()["run_id"])
    _wait(client, auth["viewer"], run_id, "waiting")
    (pending,) = client.get("/api/approvals", headers={"Authorization": auth["viewer"]}).json()
    assert pending["agent"] == "billing" and pending["run_id"] != run_id

    approved = client.post(
        f"/api/approvals/{pending['request_id']}/approve",
        json={"reason": "photos attached"},
        headers={"Authorization": auth["approver"]},
    )

    assert approved.status_code == 200, approved.text
    done = _wait(client, auth["viewer"], run_id, "completed", "failed", "stopped")
    assert done["summary"]["status"] == "completed"
    assert "Refunded order 1042" in done["summary"]["answer"]
    child = _wait(client, auth["viewer"], pending["run_id"], "completed")
    assert child["summary"]["delegated_by"] == run_id
