"""An answer held for approval (``flows.answer: ask``) in the API and the dashboard: its
card shows the answer, each flagged value and the untrusted output it came from; approving
it releases the answer, denying it withholds it."""

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
from server._support import Service

TOOLS = '''
from charter import tool


@tool(trust="untrusted")
def get_ticket(ticket_id: int) -> dict:
    """Read a ticket."""
    return {"ticket_id": ticket_id, "body": "Reset it at https://evil.example/reset now."}
'''

AGENT = """
name: helpdesk
reasoner:
  kind: rules
  match: 'ticket (?P<ticket>\\d+)'
  steps:
    - id: ticket
      call: get_ticket
      args: {ticket_id: "{goal.ticket}"}
    - respond: "Ticket says: {steps.ticket.result.body}"
toolsets:
  - ref: answer_card_tools:get_ticket
charter:
  name: helpdesk
  flows: {answer: ask}
  approvals:
    escalation: [{approvers: [dana], timeout_seconds: 600}]
"""

ANSWER = "Ticket says: Reset it at https://evil.example/reset now."


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    (tmp_path / "answer_card_tools.py").write_text(TOOLS)
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    (tmp_path / "helpdesk.agent.yaml").write_text(AGENT)
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    store = TokenStore(journal)
    tokens = {role: store.create(role, role, actor="setup")[1] for role in ROLES}
    tokens["dana"] = store.create("dana", "approver", actor="setup")[1]
    tokens["sam"] = store.create("sam", "operator", actor="setup")[1]
    with TestClient(create_app(journal, agent_files([tmp_path]))) as client:
        yield Service(client, journal, tokens)
    journal.close()


def _until(service: Service, run_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # 202 Accepted: the run may not be journaled yet
        shown = service.client.get(f"/api/runs/{run_id}", headers=service.auth("viewer"))
        if shown.status_code == 200 and shown.json()["summary"]["status"] == status:
            return shown.json()["summary"]
        assert shown.status_code in (200, 404), shown.text
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never became {status}")


def _held(service: Service) -> tuple[str, str]:
    started = service.client.post(
        "/api/runs",
        json={"agent": "helpdesk", "goal": "answer ticket 9"},
        headers=service.auth("sam"),
    )
    assert started.status_code == 202, started.text
    run_id = str(started.json()["run_id"])
    return run_id, str(_until(service, run_id, "waiting")["waiting_for"])


def test_the_card_shows_the_held_answer_and_where_its_link_came_from(service: Service) -> None:
    _run_id, request_id = _held(service)

    card = service.client.get(f"/api/approvals/{request_id}", headers=service.auth("dana")).json()
    client = TestClient(service.client.app, follow_redirects=False)
    assert client.post("/login", data={"token": service.tokens["dana"]}).status_code == 303
    page = client.get("/approvals").text

    assert (card["tool"], card["args"]) == ("answer.release", {"text": ANSWER})
    assert card["preview"]["facts"] == [{"name": "url", "value": "https://evil.example/reset"}]
    (evidence,) = card["evidence"]["https://evil.example/reset"]
    assert (evidence["step"], evidence["tool"], evidence["found"]) == (1, "get_ticket", True)
    assert 'data-answer="held"' in page and ANSWER in page
    assert 'data-arg="https://evil.example/reset"' in page


def test_approving_releases_the_answer_and_denying_withholds_it(service: Service) -> None:
    released, first = _held(service)
    withheld, second = _held(service)

    approved = service.client.post(
        f"/api/approvals/{first}/approve", json={}, headers=service.auth("dana")
    )
    denied = service.client.post(
        f"/api/approvals/{second}/deny", json={"reason": "phishing"}, headers=service.auth("dana")
    )

    assert approved.status_code == 200 and denied.status_code == 200
    assert _until(service, released, "completed")["answer"] == ANSWER
    summary = _until(service, withheld, "completed")
    assert summary["outcome"] == "denied" and "evil.example" not in str(summary["answer"])
