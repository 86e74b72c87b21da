"""Operator safety in the API and the dashboard: controls refuse unknown names, and
supervised mode is shown."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from fastapi.testclient import TestClient

from charter.runtime import Controls

if TYPE_CHECKING:
    from server._support import Service


def _signed_in(service: Service, role: str) -> TestClient:
    client = TestClient(service.client.app, follow_redirects=False)
    assert client.post("/login", data={"token": service.tokens[role]}).status_code == 303
    return client


def _post(client: TestClient, url: str, **form: str) -> Any:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get("/").text)
    assert found is not None
    return client.post(url, data={"csrf": found.group(1), **form})


def _controls(service: Service) -> list[str]:
    return [r.kind for r in service.journal.records("control")]


def test_api_pause_of_a_misspelt_agent_is_404_with_a_suggestion(service: Service) -> None:
    response = service.client.post(
        "/api/agents/refundr/pause", json={"reason": "incident"}, headers=service.auth("sam")
    )

    assert response.status_code == 404
    assert "did you mean 'refunder'" in response.json()["detail"]
    assert _controls(service) == []


def test_api_revoke_of_a_misspelt_tool_is_404(service: Service) -> None:
    response = service.client.post(
        "/api/tools/refund_ordr/revoke", json={"reason": "leak"}, headers=service.auth("sam")
    )

    assert response.status_code == 404
    assert "did you mean 'refund_order'" in response.json()["detail"]
    assert _controls(service) == []


def test_api_revoke_scoped_to_an_unknown_agent_is_404(service: Service) -> None:
    response = service.client.post(
        "/api/tools/refund_order/revoke",
        json={"reason": "leak", "agent": "nosuch-agent"},
        headers=service.auth("sam"),
    )

    assert response.status_code == 404
    assert _controls(service) == []


def test_api_new_name_pauses_an_agent_not_seen_yet(service: Service) -> None:
    response = service.client.post(
        "/api/agents/future-bot/pause",
        json={"reason": "not yet", "new_name": True},
        headers=service.auth("sam"),
    )
    resumed = service.client.post(
        "/api/agents/future-bot/resume", json={}, headers=service.auth("sam")
    )

    assert response.status_code == 200, response.text
    assert resumed.status_code == 200, resumed.text
    assert _controls(service) == ["control.pause", "control.resume"]


def test_api_resume_and_restore_of_unknown_names_are_404(service: Service) -> None:
    resumed = service.client.post("/api/agents/nosuch/resume", json={}, headers=service.auth("sam"))
    restored = service.client.post(
        "/api/tools/nosuch/restore", json={"reason": "r"}, headers=service.auth("sam")
    )

    assert (resumed.status_code, restored.status_code) == (404, 404)
    assert _controls(service) == []


def test_dashboard_pause_of_an_unknown_agent_is_404_and_journals_nothing(
    service: Service,
) -> None:
    sam = _signed_in(service, "sam")

    response = _post(sam, "/agents/refundr/pause", reason="incident")

    assert response.status_code == 404
    assert "did you mean &#39;refunder&#39;" in response.text
    assert _controls(service) == []


def test_dashboard_revoke_for_an_unknown_agent_scope_is_404(service: Service) -> None:
    sam = _signed_in(service, "sam")

    response = _post(sam, "/tools/lookup_order/revoke", reason="leak", agent="refundr")

    assert response.status_code == 404
    assert "refunder" in response.text
    assert _controls(service) == []


def test_supervised_mode_shows_in_the_api_and_on_the_agents_page(service: Service) -> None:
    Controls(service.journal).supervise("refunder", actor="drift-watch", reason="fraud drift")

    listed = service.client.get("/api/agents", headers=service.auth("viewer")).json()
    page = _signed_in(service, "viewer").get("/agents").text

    (entry,) = [a for a in listed["agents"] if a["name"] == "refunder"]
    assert entry["supervised"] is True
    assert entry["supervise_reason"] == "fraud drift"
    assert entry["supervised_by"] == "drift-watch"
    assert 'data-supervised="yes"' in page
    assert "fraud drift" in page


def test_lifting_supervision_clears_it(service: Service) -> None:
    controls = Controls(service.journal)
    controls.supervise("refunder", actor="oncall", reason="r")
    controls.unsupervise("refunder", actor="oncall")

    listed = service.client.get("/api/agents", headers=service.auth("viewer")).json()

    (entry,) = [a for a in listed["agents"] if a["name"] == "refunder"]
    assert entry["supervised"] is False
    assert 'data-supervised="yes"' not in _signed_in(service, "viewer").get("/agents").text
