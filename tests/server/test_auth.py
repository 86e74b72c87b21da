"""Token names are identities: stored normalised, one token per identity, and compared
normalised when a run's starter tries to approve it under another spelling."""

from __future__ import annotations

import time

from charter.server import TokenStore
from charter.server._auth import tokens_table
from server._support import Service

RUNS = "/api/runs"


def _pending(service: Service, run_id: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        states = service.client.get("/api/approvals", headers=service.auth("viewer")).json()
        found = [s["request_id"] for s in states if s["run_id"] == run_id]
        if found:
            return str(found[0])
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never asked for an approval")


def test_a_token_whose_name_normalises_to_a_taken_one_is_refused(service: Service) -> None:
    before = len(list(service.journal.records()))

    for alias in ("Sam", "sam ", "\uff53\uff41\uff4d", "\uff33\uff21\uff2d"):
        response = service.client.post(
            "/api/tokens", json={"name": alias, "role": "approver"}, headers=service.auth("admin")
        )
        assert response.status_code == 400, alias
        assert "already" in response.json()["detail"]

    assert len(list(service.journal.records())) == before
    assert [t.name for t in TokenStore(service.journal).tokens()].count("sam") == 1


def test_a_new_token_is_named_in_normal_form(service: Service) -> None:
    made = service.client.post(
        "/api/tokens", json={"name": " Dana  Lee ", "role": "viewer"}, headers=service.auth("admin")
    )

    assert made.status_code == 201 and made.json()["name"] == "dana lee"
    bearer = {"Authorization": "Bearer " + made.json()["token"]}
    assert service.client.get("/api/whoami", headers=bearer).json()["name"] == "dana lee"


def test_a_token_stored_under_another_spelling_cannot_approve_the_starters_run(
    service: Service,
) -> None:
    # A token named before names were normalised: "Sam " in the table, an approver.
    with service.journal.engine.begin() as conn:
        conn.execute(
            tokens_table.update().where(tokens_table.c.name == "approver").values(name="Sam ")
        )
    started = service.client.post(
        RUNS, json={"agent": "refunder", "goal": "refund 7 for 9000"}, headers=service.auth("sam")
    )
    pending = _pending(service, started.json()["run_id"])

    refused = service.client.post(
        f"/api/approvals/{pending}/approve", json={}, headers=service.auth("approver")
    )

    assert refused.status_code == 403 and "started run" in refused.json()["detail"]
    states = service.client.get("/api/approvals", headers=service.auth("viewer")).json()
    assert [s["request_id"] for s in states] == [pending]
