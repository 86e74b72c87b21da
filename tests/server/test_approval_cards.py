"""Approval cards in the API and the dashboard: the preview, the untrusted text behind
each target, expiry, level and age, buttons only for those who may decide; closed
requests; id prefixes; the rollback confirmation."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from charter.journal import Journal, JournalSigner
from charter.server import ROLES, TokenStore, create_app
from charter.server._service import agent_files
from server._support import Service

TOOLS = '''
from charter import tool
from charter.tools import Preview

MESSAGE = "Customer says: please refund order 7 to me right now. <script>alert(1)</script>"


@tool(trust="untrusted")
def get_ticket(ticket_id: int) -> dict:
    """Read a ticket."""
    return {"ticket_id": ticket_id, "order_id": 7, "body": MESSAGE}


def describe(order_id: int, amount_cents: int | None = None) -> Preview:
    return Preview(
        f"refund 189.50 USD to Ada Lovelace for order {order_id}",
        warnings=(f"order {order_id} was already refunded on 2026-11-20",),
        facts={"customer": "Ada Lovelace (customer 17)"},
    )


@tool(side_effect="write", targets=("order_id",), preview=describe)
def refund_order(order_id: int, amount_cents: int | None = None) -> dict:
    """Refund an order."""
    return {"refund_id": order_id * 10, "order_id": order_id}


@tool
def lookup_order(order_id: int) -> dict:
    """Look an order up."""
    return {"order_id": order_id}


toolset = [get_ticket, refund_order, lookup_order]
'''

AGENT = """
name: desk
reasoner:
  kind: rules
  match: 'ticket (?P<ticket>\\d+)'
  steps:
    - id: ticket
      call: get_ticket
      args: {ticket_id: "{goal.ticket}"}
    - id: refund
      call: refund_order
      args: {order_id: "{steps.ticket.result.order_id}"}
    - respond: "done"
toolsets:
  - ref: card_test_tools:toolset
charter:
  name: desk
  rules:
    - id: refunds-ask
      effect: ask
      tools: [refund_order]
      reason: refunds need a person
  approvals:
    escalation:
      - {approvers: [approver, dana], timeout_seconds: 600}
      - {approvers: [head], timeout_seconds: 3600}
"""


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    (tmp_path / "card_test_tools.py").write_text(TOOLS)
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    (tmp_path / "desk.agent.yaml").write_text(AGENT)
    journal = Journal(
        f"sqlite:///{tmp_path / 'journal.db'}", JournalSigner(Ed25519PrivateKey.generate())
    )
    store = TokenStore(journal)
    tokens = {role: store.create(role, role, actor="setup")[1] for role in ROLES}
    tokens["dana"] = store.create("dana", "approver", actor="setup")[1]
    tokens["eve"] = store.create("eve", "approver", actor="setup")[1]
    tokens["sam"] = store.create("sam", "operator", actor="setup")[1]
    app = create_app(journal, agent_files([tmp_path]))
    with TestClient(app) as client:
        yield Service(client, journal, tokens)
    journal.close()


def _waiting(service: Service, who: str = "sam") -> tuple[str, str]:
    started = service.client.post(
        "/api/runs", json={"agent": "desk", "goal": "answer ticket 88"}, headers=service.auth(who)
    )
    assert started.status_code == 202, started.text
    run_id = str(started.json()["run_id"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        shown = service.client.get(f"/api/runs/{run_id}", headers=service.auth("viewer"))
        if shown.status_code == 200 and shown.json()["summary"]["status"] == "waiting":
            return run_id, str(shown.json()["summary"]["waiting_for"])
        time.sleep(0.05)
    raise AssertionError("the run never waited")


def _signed_in(service: Service, role: str) -> TestClient:
    client = TestClient(service.client.app, follow_redirects=False)
    assert client.post("/login", data={"token": service.tokens[role]}).status_code == 303
    return client


def _post(client: TestClient, url: str, **form: str) -> Any:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get("/").text)
    assert found is not None
    return client.post(url, data={"csrf": found.group(1), **form})


def test_the_api_card_shows_preview_evidence_expiry_level_and_age(service: Service) -> None:
    run_id, request_id = _waiting(service)

    (card,) = service.client.get("/api/approvals", headers=service.auth("dana")).json()

    assert card["request_id"] == request_id
    assert card["preview"]["summary"] == "refund 189.50 USD to Ada Lovelace for order 7"
    assert card["preview"]["warnings"] == ["order 7 was already refunded on 2026-11-20"]
    assert card["preview"]["facts"] == [{"name": "customer", "value": "Ada Lovelace (customer 17)"}]
    (evidence,) = card["evidence"]["order_id"]
    assert (evidence["step"], evidence["tool"], evidence["found"]) == (1, "get_ticket", True)
    assert "please refund order 7" in evidence["excerpt"]
    assert (card["level"], card["levels"]) == (1, 2)
    assert card["expires_at"] > card["requested_at"]
    assert 0 <= card["age_seconds"] < 60
    assert card["run_url"] == f"/runs/{run_id}#step-2"
    assert (card["may_decide"], card["why_not"]) == (True, None)


def test_the_card_says_who_may_not_decide_and_why(service: Service) -> None:
    _waiting(service, who="admin")

    def card(role: str) -> dict[str, Any]:
        (found,) = service.client.get("/api/approvals", headers=service.auth(role)).json()
        return found

    assert card("viewer")["why_not"] == "your role may not decide requests"
    assert "started run" in str(card("admin")["why_not"])  # self-approval
    assert card("sam")["why_not"] == "your role may not decide requests"  # an operator
    assert "approvers: approver, dana" in str(card("eve")["why_not"])
    assert card("dana")["may_decide"] is True


def test_one_request_by_id_or_unique_prefix(service: Service) -> None:
    _run_id, request_id = _waiting(service)

    whole = service.client.get(f"/api/approvals/{request_id}", headers=service.auth("viewer"))
    prefix = service.client.get(f"/api/approvals/{request_id[:7]}", headers=service.auth("viewer"))
    missing = service.client.get("/api/approvals/apr-nosuch", headers=service.auth("viewer"))

    assert whole.status_code == 200 and whole.json()["request_id"] == request_id
    assert prefix.status_code == 200 and prefix.json()["request_id"] == request_id
    assert missing.status_code == 404


def test_approving_by_prefix_approves_the_whole_id(service: Service) -> None:
    run_id, request_id = _waiting(service)

    approved = service.client.post(
        f"/api/approvals/{request_id[:8]}/approve", json={}, headers=service.auth("dana")
    )
    shown = service.client.get(f"/api/runs/{run_id[:14]}", headers=service.auth("viewer"))

    assert approved.status_code == 200, approved.text
    assert request_id in approved.json()["detail"]
    assert shown.status_code == 200 and shown.json()["summary"]["run_id"] == run_id


def test_an_ambiguous_prefix_is_refused_with_the_candidates(service: Service) -> None:
    first, _ = _waiting(service)
    second, _ = _waiting(service)
    common = next(i for i in range(len(first)) if first[i] != second[i])

    shown = service.client.get(f"/api/runs/{first[:common]}", headers=service.auth("viewer"))
    cancelled = service.client.post(
        f"/api/runs/{first[:common]}/cancel", json={"reason": "r"}, headers=service.auth("sam")
    )

    assert shown.status_code == 400
    assert first in shown.json()["detail"] and second in shown.json()["detail"]
    assert cancelled.status_code == 400
    assert service.journal.records_of_kind("control.cancel") == []


def test_a_cancelled_runs_request_is_closed_everywhere(service: Service) -> None:
    run_id, request_id = _waiting(service)

    service.client.post(
        f"/api/runs/{run_id}/cancel", json={"reason": "duplicate"}, headers=service.auth("sam")
    )
    pending = service.client.get("/api/approvals", headers=service.auth("viewer")).json()
    every = service.client.get("/api/approvals?all=true", headers=service.auth("viewer")).json()
    detail = service.client.get(f"/api/runs/{run_id}", headers=service.auth("viewer")).json()
    page = _signed_in(service, "dana").get("/approvals").text

    assert pending == []
    (card,) = every
    assert (card["status"], card["may_decide"]) == ("closed", False)
    assert card["closed_reason"] == "run cancelled by sam: duplicate"
    (step,) = [s for s in detail["steps"] if s["approval"]]
    assert step["approval"]["status"] == "closed"
    assert f'id="request-{request_id}"' not in page
    assert "run cancelled by sam: duplicate" in page


def test_the_dashboard_card_shows_the_preview_and_the_untrusted_excerpt(
    service: Service,
) -> None:
    run_id, request_id = _waiting(service)

    page = _signed_in(service, "dana").get("/approvals").text

    assert "refund 189.50 USD to Ada Lovelace for order 7" in page
    assert "order 7 was already refunded on 2026-11-20" in page
    assert "please refund order 7" in page
    assert f'href="/runs/{run_id}#step-2"' in page
    assert "level 1 of 2" in page
    assert f"/approvals/{request_id}/approve" in page


@pytest.mark.parametrize(
    ("role", "why"),
    [("viewer", "your role may not decide"), ("eve", "approvers: approver, dana")],
)
def test_the_dashboard_hides_the_buttons_from_who_cannot_decide(
    service: Service, role: str, why: str
) -> None:
    _run_id, request_id = _waiting(service)

    page = _signed_in(service, role).get("/approvals").text

    assert f"/approvals/{request_id}/approve" not in page
    assert "You cannot decide this request" in page and why in page


def test_the_dashboard_hides_the_buttons_from_the_runs_starter(service: Service) -> None:
    _run_id, request_id = _waiting(service, who="admin")

    page = _signed_in(service, "admin").get("/approvals").text

    assert f"/approvals/{request_id}/approve" not in page
    assert "started run" in page


def test_rollback_needs_the_confirmation_box_and_is_offered_only_with_writes(
    service: Service,
) -> None:
    run_id, request_id = _waiting(service)
    sam = _signed_in(service, "sam")
    before = sam.get(f"/runs/{run_id}").text  # waiting, nothing written yet

    service.client.post(
        f"/api/approvals/{request_id}/approve", json={}, headers=service.auth("dana")
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        shown = service.client.get(f"/api/runs/{run_id}", headers=service.auth("viewer")).json()
        if shown["summary"]["status"] == "completed":
            break
        time.sleep(0.05)
    after = sam.get(f"/runs/{run_id}").text
    unconfirmed = _post(sam, f"/runs/{run_id}/rollback")

    assert 'id="rollback-run"' not in before
    assert 'id="rollback-run"' in after
    assert 'name="confirm" value="yes" required' in after
    assert unconfirmed.status_code == 303
    assert "tick the box" in sam.get(f"/runs/{run_id}").text
    assert service.journal.records_of_kind("rollback.started") == []
    confirmed = _post(sam, f"/runs/{run_id}/rollback", confirm="yes")
    assert confirmed.status_code == 303
    assert len(service.journal.records_of_kind("rollback.started")) == 1


def test_the_run_page_follows_a_unique_prefix_and_refuses_an_unknown_one(
    service: Service,
) -> None:
    run_id, _ = _waiting(service)
    viewer = _signed_in(service, "viewer")

    found = viewer.get(f"/runs/{run_id[:20]}")
    missing = viewer.get("/runs/ffffffffff")

    assert found.status_code == 303 and found.headers["location"] == f"/runs/{run_id}"
    assert missing.status_code == 404 and "There is no run ffffffffff." in missing.text


def test_untrusted_excerpts_are_escaped_on_the_page(service: Service) -> None:
    _waiting(service)

    page = _signed_in(service, "dana").get("/approvals").text

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_deciding_a_closed_request_in_the_dashboard_says_it_closed(service: Service) -> None:
    run_id, request_id = _waiting(service)
    service.client.post(
        f"/api/runs/{run_id}/cancel", json={"reason": "duplicate"}, headers=service.auth("sam")
    )
    dana = _signed_in(service, "dana")

    response = _post(dana, f"/approvals/{request_id}/approve")

    assert response.status_code == 303
    assert "is closed: run cancelled by sam: duplicate" in dana.get("/approvals").text
    assert service.journal.records_of_kind("approval.granted") == []


def test_the_pending_gauge_does_not_count_a_closed_request(service: Service) -> None:
    run_id, _ = _waiting(service)

    def gauge() -> str:
        text = service.client.get("/metrics", headers=service.auth("viewer")).text
        found = re.search(r"^charter_approvals_pending (\S+)$", text, re.MULTILINE)
        assert found is not None
        return found.group(1)

    before = gauge()
    service.client.post(
        f"/api/runs/{run_id}/cancel", json={"reason": "r"}, headers=service.auth("sam")
    )

    assert (before, gauge()) == ("1", "0")


def test_the_run_page_shows_the_preview_at_the_step_asked_about(service: Service) -> None:
    run_id, _ = _waiting(service)

    detail = service.client.get(f"/api/runs/{run_id}", headers=service.auth("viewer")).json()
    page = _signed_in(service, "viewer").get(f"/runs/{run_id}").text

    (step,) = [s for s in detail["steps"] if s["approval"]]
    assert step["approval"]["preview"] == "refund 189.50 USD to Ada Lovelace for order 7"
    assert step["approval"]["warnings"] == ["order 7 was already refunded on 2026-11-20"]
    assert "refund 189.50 USD to Ada Lovelace for order 7" in page
