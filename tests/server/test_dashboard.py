"""The dashboard over HTTP: pages for each role, forms and their refusals, errors shown
readably, untrusted text escaped."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from charter import Runner, tool
from charter.testing import ScriptedReasoner, call, make_agent, respond
from charter.views._runs import run_detail

if TYPE_CHECKING:  # the fixture's type; pytest provides the fixture itself
    from server._support import Service

PAGES = [
    *("/", "/approvals", "/feed", "/costs", "/costs?bucket=hour&measure=count", "/tools"),
    *("/agents", "/audit"),
]
SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _signed_in(service: Service, role: str) -> TestClient:
    client = TestClient(service.client.app, follow_redirects=False)
    signed_in = client.post("/login", data={"token": service.tokens[role]})
    assert signed_in.status_code == 303, signed_in.text
    return client


def _csrf(client: TestClient) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get("/").text)
    assert found is not None
    return found.group(1)


def _post(client: TestClient, url: str, **form: str) -> Any:
    return client.post(url, data={"csrf": _csrf(client), **form})


def _flash(client: TestClient, url: str) -> str:
    found = re.search(r'<p class="flash (?:notice|error)"[^>]*>(.*?)</p>', client.get(url).text)
    assert found is not None, f"no message on {url}"
    return found.group(1)


def _rejections(service: Service) -> list[dict[str, Any]]:
    return [
        r.payload
        for r in sorted(service.journal.records_of_kind("api.rejected"), key=lambda r: r.seq)
    ]


def _wait(service: Service, run_id: str, *states: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        detail = run_detail(service.journal, run_id)
        if detail is not None and detail.summary.status in states:
            return
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached {states}")


def _start(client: TestClient, goal: str) -> str:
    started = _post(client, "/runs", agent="refunder", goal=goal)
    assert started.status_code == 303, started.text
    return started.headers["location"].removeprefix("/runs/")


def _pending(service: Service) -> str:
    (pending,) = service.client.get("/api/approvals", headers=service.auth("viewer")).json()
    return str(pending["request_id"])


# Pages


def test_pages_need_sign_in(service: Service) -> None:
    anonymous = TestClient(service.client.app, follow_redirects=False)

    for url in [*PAGES, "/runs/anything", "/runs/anything/timeline"]:
        response = anonymous.get(url)
        assert (response.status_code, response.headers["location"]) == (303, "/login"), url


def test_every_page_renders_for_a_viewer_without_action_buttons(service: Service) -> None:
    sam = _signed_in(service, "sam")
    done, waiting = _start(sam, "refund 7 for 100"), _start(sam, "refund 8 for 9000")
    _wait(service, done, "completed")
    _wait(service, waiting, "waiting")
    viewer = _signed_in(service, "viewer")

    for url in [*PAGES, f"/runs/{done}", f"/runs/{waiting}", f"/runs/{waiting}/timeline"]:
        response = viewer.get(url)
        assert response.status_code == 200, url
        forms = re.findall(r'<form method="post" action="([^"]+)"', response.text)
        assert forms in ([], ["/logout"]), (url, forms)
    assert "refund 8 for 9000" in viewer.get("/").text
    assert "refunds over $50 need a manager" in viewer.get("/approvals").text


def test_the_runs_list_filters_by_status_and_agent(service: Service) -> None:
    sam = _signed_in(service, "sam")
    done, waiting = _start(sam, "refund 7 for 100"), _start(sam, "refund 8 for 9000")
    _wait(service, done, "completed")
    _wait(service, waiting, "waiting")

    only_waiting = sam.get("/?status=waiting&agent=").text
    other_agent = sam.get("/?agent=someone-else").text

    assert waiting in only_waiting and done not in only_waiting
    assert "No runs match this filter" in other_agent


def test_a_run_page_shows_the_steps_decisions_and_events(service: Service) -> None:
    sam = _signed_in(service, "sam")
    run_id = _start(sam, "refund 8 for 9000")
    _wait(service, run_id, "waiting")

    page = sam.get(f"/runs/{run_id}").text

    assert 'data-status="waiting"' in page and 'data-live="yes"' in page
    last = max(r.seq for r in service.journal.records(run_id))
    assert f'data-after="{last}"' in page
    assert "big-refunds" in page and "refunds over $50 need a manager" in page
    assert "tools.allow" in page and "&#34;delivered&#34;" in page  # decision, effect
    assert "run.waiting" in page and 'id="cancel-run"' in page


def test_an_unknown_run_is_a_readable_404(service: Service) -> None:
    response = _signed_in(service, "viewer").get("/runs/nope")

    assert response.status_code == 404
    assert "There is no run nope." in response.text


def test_costs_are_drawn_as_svg_bars(service: Service) -> None:
    sam = _signed_in(service, "sam")
    _wait(service, _start(sam, "refund 7 for 100"), "completed")

    page = sam.get("/costs?measure=count").text

    assert page.count('<svg class="chart"') == 2
    assert re.search(r'<rect class="bar s0" x="[\d.]+" y="[\d.]+" width="[\d.]+"', page)
    assert "<title>refunder, " in page and "<title>refund_order, " in page


# Forms


def test_an_operator_starts_a_run_and_lands_on_its_page(service: Service) -> None:
    sam = _signed_in(service, "sam")

    run_id = _start(sam, "refund 7 for 100")
    _wait(service, run_id, "completed")

    page = sam.get(f"/runs/{run_id}").text
    assert f"run {run_id} started" in page
    assert 'data-status="completed"' in page and "Refunded order 7." in page


def test_a_run_accepted_but_not_yet_journaled_shows_as_starting(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_service = service.client.app.state.charter.service  # type: ignore[attr-defined]
    monkeypatch.setattr(run_service, "start", lambda *_args: "feedface")  # type: ignore[misc]
    sam = _signed_in(service, "sam")

    run_id = _start(sam, "refund 7 for 100")

    assert run_id == "feedface"
    for url in ("/runs/feedface", "/runs/feedface/timeline"):
        page = sam.get(url)
        assert page.status_code == 200
        assert 'data-status="starting"' in page.text and 'data-live="yes"' in page.text
    assert _signed_in(service, "viewer").get("/runs/feedface").status_code == 404


def test_an_approver_decides_in_the_inbox_and_the_run_finishes(service: Service) -> None:
    run_id = _start(_signed_in(service, "sam"), "refund 7 for 9000")
    _wait(service, run_id, "waiting")
    request_id = _pending(service)
    approver = _signed_in(service, "approver")

    approved = _post(approver, f"/approvals/{request_id}/approve", reason="checked")

    assert (approved.status_code, approved.headers["location"]) == (303, "/approvals")
    _wait(service, run_id, "completed")
    assert _flash(approver, "/approvals") == f"{request_id} approved; run {run_id} resumes"
    assert "Refunded order 7." in approver.get(f"/runs/{run_id}").text


def test_forms_refuse_the_wrong_role_and_journal_it(service: Service) -> None:
    run_id = _start(_signed_in(service, "sam"), "refund 7 for 9000")
    _wait(service, run_id, "waiting")
    viewer, sam = _signed_in(service, "viewer"), _signed_in(service, "sam")

    refused = [
        _post(viewer, "/runs", agent="refunder", goal="refund 1 for 1"),
        _post(viewer, f"/runs/{run_id}/cancel", reason="x"),
        _post(viewer, "/tools/lookup_order/revoke", reason="x"),
        _post(viewer, "/agents/refunder/pause", reason="x"),
        _post(sam, f"/approvals/{_pending(service)}/approve"),
    ]

    assert [r.status_code for r in refused] == [403] * 5
    assert [(r["actor"], r["status"]) for r in _rejections(service)] == [("viewer", 403)] * 4 + [
        ("sam", 403)
    ]
    assert len(list(service.journal.records_of_kind("run.started"))) == 1
    assert service.journal.records_of_kind("control.revoke") == []


def test_forms_without_the_csrf_token_are_refused(service: Service) -> None:
    sam = _signed_in(service, "sam")

    missing = sam.post("/runs", data={"agent": "refunder", "goal": "refund 1 for 1"})
    wrong = sam.post("/tools/lookup_order/revoke", data={"reason": "x", "csrf": "guess"})

    assert missing.status_code == wrong.status_code == 403
    assert [r["reason"] for r in _rejections(service)] == ["missing or wrong CSRF token"] * 2
    assert service.journal.records_of_kind("run.started") == []
    assert service.journal.records_of_kind("control.revoke") == []


@pytest.mark.parametrize(
    ("url", "form", "back", "message"),
    [
        ("/runs", {"agent": "ghost", "goal": "x"}, "/", "unknown agent &#39;ghost&#39;"),
        ("/runs", {"agent": "refunder", "goal": " "}, "/", "a run needs a goal"),
        ("/tools/lookup_order/revoke", {"reason": ""}, "/tools", "revoking a tool needs a reason"),
        ("/agents/refunder/pause", {"reason": ""}, "/agents", "pausing an agent needs a reason"),
        ("/approvals/apr-nope/approve", {}, "/approvals", "apr-nope"),
        ("/runs/nope/cancel", {"reason": "x"}, "/runs/nope", "nope"),
    ],
)
def test_a_failed_change_redirects_back_with_a_readable_message(
    service: Service, url: str, form: dict[str, str], back: str, message: str
) -> None:
    admin = _signed_in(service, "admin")

    response = _post(admin, url, **form)

    assert (response.status_code, response.headers["location"]) == (303, back)
    shown = _flash(admin, back if back != "/runs/nope" else "/")
    assert message in shown and "Traceback" not in shown


def test_self_approval_is_refused_readably_and_journaled(service: Service) -> None:
    admin = _signed_in(service, "admin")
    run_id = _start(admin, "refund 7 for 9000")
    _wait(service, run_id, "waiting")

    response = _post(admin, f"/approvals/{_pending(service)}/approve")

    assert response.status_code == 303
    assert "started" in _flash(admin, "/approvals")
    assert [(r["actor"], r["status"]) for r in _rejections(service)] == [("admin", 403)]
    assert service.journal.records_of_kind("approval.decided") == []


def test_a_denial_needs_a_reason_and_then_resumes_the_run(service: Service) -> None:
    run_id = _start(_signed_in(service, "sam"), "refund 7 for 9000")
    _wait(service, run_id, "waiting")
    request_id = _pending(service)
    approver = _signed_in(service, "approver")

    _post(approver, f"/approvals/{request_id}/deny", reason="  ")
    without = _flash(approver, "/approvals")
    _post(approver, f"/approvals/{request_id}/deny", reason="too much")

    assert "a denial needs a reason" in without
    _wait(service, run_id, "completed")
    page = approver.get(f"/runs/{run_id}").text
    assert "approver denied the call: too much" in page
    assert 'class="badge outcome-denied" data-outcome="denied"' in page


def test_the_runs_list_and_run_page_show_each_runs_outcome(service: Service) -> None:
    sam = _signed_in(service, "sam")
    done, waiting = _start(sam, "refund 7 for 100"), _start(sam, "refund 8 for 9000")
    _wait(service, done, "completed")
    _wait(service, waiting, "waiting")

    listed = sam.get("/").text
    page, open_page = sam.get(f"/runs/{done}").text, sam.get(f"/runs/{waiting}").text

    assert '<th scope="col">Outcome</th>' in listed
    row = listed[listed.index(f'data-run-id="{done}"') :].split("</tr>")[0]
    assert 'data-outcome="succeeded"' in row
    row = listed[listed.index(f'data-run-id="{waiting}"') :].split("</tr>")[0]
    assert "data-outcome" not in row  # not finished: no outcome yet
    assert 'data-outcome="succeeded"' in page
    assert "data-outcome" not in open_page


def test_an_operator_cancels_a_waiting_run_and_cannot_cancel_it_twice(service: Service) -> None:
    sam = _signed_in(service, "sam")
    run_id = _start(sam, "refund 7 for 9000")
    _wait(service, run_id, "waiting")

    _post(sam, f"/runs/{run_id}/cancel", reason="duplicate")
    first = _flash(sam, f"/runs/{run_id}")
    _post(sam, f"/runs/{run_id}/cancel", reason="again")
    second = _flash(sam, f"/runs/{run_id}")

    assert first == "run was waiting; cancelled"
    assert "already finished" in second
    assert "cancelled by sam: duplicate" in sam.get(f"/runs/{run_id}").text


def test_rollback_reports_what_a_human_must_finish(service: Service) -> None:
    sam = _signed_in(service, "sam")
    run_id = _start(sam, "refund 7 for 100")
    _wait(service, run_id, "completed")

    response = _post(sam, f"/runs/{run_id}/rollback", confirm="yes")

    assert response.status_code == 303
    message = _flash(sam, f"/runs/{run_id}")
    assert message.startswith("rollback incomplete") and "refund_order" in message


def test_tools_are_revoked_and_restored_from_the_tools_page(service: Service) -> None:
    sam = _signed_in(service, "sam")

    _post(sam, "/tools/lookup_order/revoke", reason="data leak", agent="refunder")
    revoked = sam.get("/tools").text
    _post(sam, "/tools/lookup_order/restore", reason="fixed", agent="refunder")
    restored = sam.get("/tools").text

    assert "tool lookup_order revoked for refunder" in revoked
    assert "revoked for refunder" in revoked and "data leak" in revoked
    assert "tool lookup_order restored for refunder" in restored
    assert 'class="revoked"' not in restored
    (revoke,) = [r.payload for r in service.journal.records_of_kind("control.revoke")]
    assert (revoke["actor"], revoke["agent"], revoke["reason"]) == ("sam", "refunder", "data leak")


def test_the_kill_switch_pauses_and_resumes_an_agent(service: Service) -> None:
    sam = _signed_in(service, "sam")

    _post(sam, "/agents/refunder/pause", reason="incident 42")
    paused = sam.get("/agents").text
    run_id = _start(sam, "refund 7 for 100")
    _wait(service, run_id, "stopped")
    _post(sam, "/agents/refunder/resume")

    assert "Paused by sam" in paused and "incident 42" in paused
    assert "agent refunder resumed" in sam.get("/agents").text


def test_the_audit_page_verifies_the_journal(service: Service) -> None:
    sam = _signed_in(service, "sam")
    _wait(service, _start(sam, "refund 7 for 100"), "completed")

    page = sam.get("/audit").text

    assert "The journal is intact" in page and 'href="/api/audit/export"' in page


# Escaping


def test_a_goal_with_markup_is_shown_escaped(service: Service) -> None:
    sam = _signed_in(service, "sam")
    run_id = _start(sam, f"refund 7 for 100 {SCRIPT}")
    _wait(service, run_id, "completed", "failed")

    for url in ("/", f"/runs/{run_id}"):
        page = sam.get(url).text
        assert SCRIPT not in page and ESCAPED in page, url


@tool
def fetch_note(note_id: int) -> str:
    """Read a note someone else wrote."""
    return f"note {note_id}: {SCRIPT}<img src=x onerror=alert(2)>"


def test_tool_output_and_answers_with_markup_are_shown_escaped(service: Service) -> None:
    agent = make_agent(
        [fetch_note],
        ScriptedReasoner([call("fetch_note", note_id=1), respond(f"done {SCRIPT}")]),
        name="notes",
    )
    runner = Runner(service.journal)
    try:
        run = runner.run(agent, "read note 1", actor="sam")
    finally:
        runner.close()

    page = _signed_in(service, "viewer").get(f"/runs/{run.run_id}").text

    assert SCRIPT not in page and "<img src=x" not in page
    assert page.count(ESCAPED) >= 3  # the effect, the observation and the answer
