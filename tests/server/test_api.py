"""The JSON API: roles, refusals (journaled, changing nothing), runs, approvals, controls."""

from __future__ import annotations

import json
import time
from typing import Any

from server._support import Service

RUNS = "/api/runs"


def _kinds(service: Service, kind: str) -> list[dict[str, Any]]:
    return [r.payload for r in service.journal.records_of_kind(kind)]


def _wait_run(service: Service, run_id: str, *states: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        shown = service.client.get(f"{RUNS}/{run_id}", headers=service.auth("viewer"))
        if shown.status_code == 200 and shown.json()["summary"]["status"] in states:
            return shown.json()
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached {states}")


def _start(service: Service, goal: str, who: str = "sam") -> str:
    started = service.client.post(
        RUNS, json={"agent": "refunder", "goal": goal}, headers=service.auth(who)
    )
    assert started.status_code == 202, started.text
    return str(started.json()["run_id"])


# Refusals


def test_a_request_without_credentials_is_refused_and_journaled(service: Service) -> None:
    response = service.client.get(RUNS)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    (rejected,) = _kinds(service, "api.rejected")
    assert (rejected["path"], rejected["status"], rejected["reason"]) == (
        RUNS,
        401,
        "not signed in",
    )


def test_a_wrong_or_malformed_token_is_refused(service: Service) -> None:
    for header in ("Bearer chr_not-a-token", "Basic dXNlcjpwYXNz", "Bearer"):
        response = service.client.get(RUNS, headers={"Authorization": header})
        assert response.status_code == 401, header
    assert len(_kinds(service, "api.rejected")) == 3


def test_a_viewer_may_read_but_not_start_a_run(service: Service) -> None:
    assert service.client.get(RUNS, headers=service.auth("viewer")).status_code == 200

    response = service.client.post(
        RUNS, json={"agent": "refunder", "goal": "refund 7 for 100"}, headers=service.auth("viewer")
    )

    assert response.status_code == 403
    assert _kinds(service, "run.started") == []
    (rejected,) = _kinds(service, "api.rejected")
    assert (rejected["actor"], rejected["status"]) == ("viewer", 403)


def test_malformed_bodies_get_field_errors_and_change_nothing(service: Service) -> None:
    missing = service.client.post(RUNS, json={"agent": "refunder"}, headers=service.auth("sam"))
    empty = service.client.post(
        RUNS, json={"agent": "refunder", "goal": ""}, headers=service.auth("sam")
    )
    not_json = service.client.post(
        RUNS, content=b"{oops", headers=service.auth("sam") | {"content-type": "application/json"}
    )
    bad_role = service.client.post(
        "/api/tokens", json={"name": "x", "role": "root"}, headers=service.auth("admin")
    )

    assert missing.status_code == empty.status_code == not_json.status_code == 422
    assert {"field": "goal", "error": "Field required"} in missing.json()["errors"]
    assert empty.json()["errors"][0]["field"] == "goal"
    assert bad_role.status_code == 422 and bad_role.json()["errors"][0]["field"] == "role"
    assert _kinds(service, "run.started") == []
    assert len(_kinds(service, "token.created")) == len(service.tokens)  # the fixture's only


def test_unknown_things_are_404_and_unknown_agents_400(service: Service) -> None:
    viewer, approver = service.auth("viewer"), service.auth("approver")

    assert service.client.get(f"{RUNS}/nope", headers=viewer).status_code == 404
    assert service.client.get(f"{RUNS}/nope/events", headers=viewer).status_code == 404
    unknown = service.client.post("/api/approvals/apr-0/approve", json={}, headers=approver)
    assert unknown.status_code == 404
    no_agent = service.client.post(
        RUNS, json={"agent": "ghost", "goal": "x"}, headers=service.auth("sam")
    )
    assert no_agent.status_code == 400 and "unknown agent 'ghost'" in no_agent.json()["detail"]


# Runs and approvals


def test_an_operator_starts_a_run_that_completes(service: Service) -> None:
    run_id = _start(service, "refund 7 for 100")

    shown = _wait_run(service, run_id, "completed")

    assert shown["summary"]["actor"] == "sam"
    assert shown["summary"]["answer"] == "Refunded order 7."
    assert [s["decision"]["verdict"] for s in shown["steps"] if s["decision"]] == [
        "allow",
        "allow",
    ]
    listed = service.client.get(RUNS, headers=service.auth("viewer")).json()
    assert [run["run_id"] for run in listed] == [run_id]
    assert shown["summary"]["outcome"] == listed[0]["outcome"] == "succeeded"


def test_an_approver_approves_and_the_run_finishes(service: Service) -> None:
    run_id = _start(service, "refund 7 for 9000")
    _wait_run(service, run_id, "waiting")
    (pending,) = service.client.get("/api/approvals", headers=service.auth("viewer")).json()

    approved = service.client.post(
        f"/api/approvals/{pending['request_id']}/approve",
        json={"reason": "checked"},
        headers=service.auth("approver"),
    )

    assert approved.status_code == 200, approved.text
    done = _wait_run(service, run_id, "completed")
    assert done["summary"]["answer"] == "Refunded order 7."
    (receipt,) = _kinds(service, "approval.granted")
    assert receipt["approver"] == "approver"


def test_self_approval_is_refused_and_the_request_stays_pending(service: Service) -> None:
    run_id = _start(service, "refund 7 for 9000", who="admin")
    _wait_run(service, run_id, "waiting")
    (pending,) = service.client.get("/api/approvals", headers=service.auth("admin")).json()

    own = service.client.post(
        f"/api/approvals/{pending['request_id']}/approve", json={}, headers=service.auth("admin")
    )
    operator = service.client.post(
        f"/api/approvals/{pending['request_id']}/approve", json={}, headers=service.auth("sam")
    )

    assert own.status_code == 403 and "started run" in own.json()["detail"]
    assert operator.status_code == 403
    assert [r["actor"] for r in _kinds(service, "api.rejected")] == ["sam", "admin"]
    still = service.client.get("/api/approvals", headers=service.auth("viewer")).json()
    assert [r["status"] for r in still] == ["pending"]


def test_a_denial_needs_a_reason(service: Service) -> None:
    run_id = _start(service, "refund 7 for 9000")
    _wait_run(service, run_id, "waiting")
    (pending,) = service.client.get("/api/approvals", headers=service.auth("viewer")).json()
    url = f"/api/approvals/{pending['request_id']}/deny"

    no_reason = service.client.post(url, json={}, headers=service.auth("approver"))
    denied = service.client.post(url, json={"reason": "no"}, headers=service.auth("approver"))

    assert no_reason.status_code == 422
    assert denied.status_code == 200
    done = _wait_run(service, run_id, "completed")
    assert "approver denied the call: no" in done["summary"]["answer"]
    assert done["summary"]["outcome"] == "denied"  # it completed, but its refund was refused
    (listed,) = service.client.get(RUNS, headers=service.auth("viewer")).json()
    assert listed["outcome"] == "denied"


def test_a_cancelled_waiting_run_cannot_be_approved_into_running(service: Service) -> None:
    run_id = _start(service, "refund 7 for 9000")
    _wait_run(service, run_id, "waiting")
    (pending,) = service.client.get("/api/approvals", headers=service.auth("viewer")).json()

    cancelled = service.client.post(
        f"{RUNS}/{run_id}/cancel", json={"reason": "duplicate"}, headers=service.auth("sam")
    )
    late = service.client.post(
        f"/api/approvals/{pending['request_id']}/approve", json={}, headers=service.auth("approver")
    )
    again = service.client.post(
        f"{RUNS}/{run_id}/cancel", json={"reason": "again"}, headers=service.auth("sam")
    )

    assert cancelled.status_code == 200
    assert late.status_code == 409
    assert "is closed: run cancelled by sam: duplicate" in late.json()["detail"]
    assert again.status_code == 409
    assert _kinds(service, "approval.granted") == []  # the refused approval wrote nothing
    stopped = _wait_run(service, run_id, "stopped")["summary"]
    assert stopped["error"] == "cancelled by sam: duplicate"
    assert stopped["outcome"] == "cancelled"


# Controls


def test_a_revoked_tool_is_denied_at_the_next_run(service: Service) -> None:
    revoked = service.client.post(
        "/api/tools/lookup_order/revoke", json={"reason": "data leak"}, headers=service.auth("sam")
    )
    assert revoked.status_code == 200

    run_id = _start(service, "refund 7 for 100")
    shown = _wait_run(service, run_id, "completed", "stopped", "failed")

    first = shown["steps"][0]
    assert first["decision"]["verdict"] == "deny"
    assert "data leak" in first["decision"]["reason"]
    tools = service.client.get("/api/tools", headers=service.auth("viewer")).json()
    lookup = next(t for t in tools if t["name"] == "lookup_order")
    assert lookup["revoked"]
    assert lookup["side_effect"] == "read"  # the contract, from the loaded agent


def test_the_kill_switch_stops_the_agents_runs(service: Service) -> None:
    paused = service.client.post(
        "/api/agents/refunder/pause", json={"reason": "incident"}, headers=service.auth("sam")
    )
    assert paused.status_code == 200

    run_id = _start(service, "refund 7 for 100")

    stopped = _wait_run(service, run_id, "stopped")
    assert "paused: incident" in stopped["summary"]["error"]


# Tokens


def test_an_admin_manages_tokens_and_a_revoked_token_stops_working(service: Service) -> None:
    created = service.client.post(
        "/api/tokens", json={"name": "ci-bot", "role": "viewer"}, headers=service.auth("admin")
    )
    assert created.status_code == 201
    secret, token_id = created.json()["token"], created.json()["token_id"]
    bot = {"Authorization": f"Bearer {secret}"}
    assert service.client.get("/api/whoami", headers=bot).json() == {
        "name": "ci-bot",
        "role": "viewer",
    }
    assert service.client.get("/api/tokens", headers=service.auth("sam")).status_code == 403

    revoked = service.client.post(f"/api/tokens/{token_id}/revoke", headers=service.auth("admin"))

    assert revoked.status_code == 200
    assert service.client.get("/api/whoami", headers=bot).status_code == 401
    listed = service.client.get("/api/tokens", headers=service.auth("admin")).json()
    assert all("token" not in t and "sha256" not in t for t in listed)
    assert secret not in json.dumps([r.to_json() for r in service.journal.records()])


# Audit, events, metrics, headers


def test_events_stream_a_run_until_it_ends(service: Service) -> None:
    run_id = _start(service, "refund 7 for 100")
    _wait_run(service, run_id, "completed")

    with service.client.stream(
        "GET", f"{RUNS}/{run_id}/events", headers=service.auth("viewer")
    ) as stream:
        body = "".join(stream.iter_text())

    events = [
        line.removeprefix("event: ") for line in body.splitlines() if line.startswith("event:")
    ]
    assert events[0] == "run.started" and events[-1] == "run.finished"
    assert "step.decided" in events


def test_audit_verify_and_export(service: Service) -> None:
    _wait_run(service, _start(service, "refund 7 for 100"), "completed")

    verified = service.client.get("/api/audit/verify", headers=service.auth("viewer")).json()
    exported = service.client.get("/api/audit/export", headers=service.auth("viewer"))

    assert verified["ok"] is True and verified["checkpoints_checked"] >= 1
    lines = exported.text.splitlines()
    assert len(lines) == len(list(service.journal.records()))
    assert json.loads(lines[0])["seq"] == 1


def test_metrics_are_prometheus_text(service: Service) -> None:
    _wait_run(service, _start(service, "refund 7 for 100"), "completed")

    text = service.client.get("/metrics", headers=service.auth("viewer")).text

    assert 'charter_runs_total{status="completed"} 1' in text
    assert service.client.get("/metrics").status_code == 401


def test_every_response_carries_the_security_headers(service: Service) -> None:
    for response in (
        service.client.get("/login"),
        service.client.get(RUNS),
        service.client.get(RUNS, headers=service.auth("viewer")),
    ):
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"


def test_the_openapi_spec_lists_the_api_but_not_the_dashboard(service: Service) -> None:
    paths = service.client.get("/openapi.json").json()["paths"]

    assert {"/api/runs", "/api/approvals/{request_id}/approve", "/metrics"} <= set(paths)
    assert "/login" not in paths


# Sessions and CSRF


def test_a_session_needs_its_csrf_token_to_change_anything(service: Service) -> None:
    signed_in = service.client.post(
        "/login", data={"token": service.tokens["sam"]}, follow_redirects=False
    )
    assert signed_in.status_code == 303
    body = {"agent": "refunder", "goal": "refund 7 for 100"}

    forged = service.client.post(RUNS, json=body)
    page = service.client.get("/login").text
    csrf = page.split('<meta name="csrf-token" content="')[1].split('"')[0]
    wrong = service.client.post(RUNS, json=body, headers={"X-CSRF-Token": csrf + "x"})
    started = service.client.post(RUNS, json=body, headers={"X-CSRF-Token": csrf})

    assert forged.status_code == wrong.status_code == 403
    assert "CSRF" in forged.json()["detail"]
    assert started.status_code == 202, started.text
    _wait_run(service, started.json()["run_id"], "completed")
    assert len(_kinds(service, "run.started")) == 1  # only the one with the right token
    assert [r["reason"] for r in _kinds(service, "api.rejected")] == [
        "missing or wrong CSRF token"
    ] * 2


def test_signing_in_with_a_bad_token_is_refused_and_journaled(service: Service) -> None:
    response = service.client.post("/login", data={"token": "chr_guess"})

    assert "not valid" in response.text
    assert service.client.get(RUNS).status_code == 401  # no session was made
    reasons = [r["reason"] for r in _kinds(service, "api.rejected")]
    assert reasons == ["not signed in", "sign-in with an invalid or revoked token"]
