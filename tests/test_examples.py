"""The shipped examples run as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter import Journal, Runner, load_agent
from charter.demo.world import connect, create_world, default_world_path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path))
    return create_world(default_world_path())


def _refunded_cents(world: Path, order_id: int) -> int:
    with connect(world) as conn:
        row = conn.execute(
            "SELECT COALESCE(-SUM(amount_cents), 0) FROM payments "
            "WHERE order_id = ? AND kind = 'refund'",
            (order_id,),
        ).fetchone()
    return int(row[0])


def test_refund_example_refunds_an_order_inside_the_window(world: Path) -> None:
    agent = load_agent(EXAMPLES / "refund.agent.yaml")
    journal = Journal("sqlite://")

    run = Runner(journal).run(agent, "Refund order 1042: item arrived damaged")

    assert run.status == "completed"
    assert run.answer is not None and run.answer.startswith("Refunded order 1042")
    assert _refunded_cents(world, 1042) == 18950
    assert journal.verify().ok


def test_refund_example_declines_an_order_outside_the_window(world: Path) -> None:
    agent = load_agent(EXAMPLES / "refund.agent.yaml")

    run = Runner(Journal("sqlite://")).run(agent, "Refund order 1031: changed my mind")

    assert run.answer is not None and "not refundable" in run.answer
    assert _refunded_cents(world, 1031) == 0


def test_refund_approval_example_waits_then_refunds_once_approved(world: Path) -> None:
    agent = load_agent(EXAMPLES / "refund-approval.agent.yaml")
    runner = Runner(Journal("sqlite://"))

    run = runner.run(agent, "Refund order 1042: item arrived damaged", actor="sam")
    assert (run.status, _refunded_cents(world, 1042)) == ("waiting", 0)
    runner.approvals.approve(str(run.waiting_for), "dana", "photos attached")
    resumed = runner.resume(agent, run.run_id)

    assert resumed.answer is not None and resumed.answer.startswith("Refunded order 1042")
    assert _refunded_cents(world, 1042) == 18950
    runner.close()


def test_refund_approval_example_reports_a_denied_refund(world: Path) -> None:
    agent = load_agent(EXAMPLES / "refund-approval.agent.yaml")
    runner = Runner(Journal("sqlite://"))

    run = runner.run(agent, "Refund order 1042: item arrived damaged", actor="sam")
    runner.approvals.deny(str(run.waiting_for), "lee", "needs the courier's report first")
    resumed = runner.resume(agent, run.run_id)

    assert resumed.answer is not None and "courier's report" in resumed.answer
    assert _refunded_cents(world, 1042) == 0
    runner.close()


def _ticket_replies(world: Path, ticket_id: int) -> int:
    with connect(world) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM ticket_replies WHERE ticket_id = ?", (ticket_id,)
        ).fetchone()
    return int(row[0])


def test_plan_example_answers_an_injected_ticket_with_the_planned_calls_only(
    world: Path,
) -> None:
    agent = load_agent(EXAMPLES / "plan.agent.yaml")
    journal = Journal("sqlite://")
    replies_before = _ticket_replies(world, 91)

    run = Runner(journal).run(agent, "Answer ticket 91")

    assert run.status == "completed"
    assert run.answer == "Answered ticket 91 about order 1077."
    calls = [
        r.payload["action"]["tool"]
        for r in journal.records(run.run_id)
        if r.kind == "step.proposed" and "tool" in r.payload["action"]
    ]
    assert calls == ["get_ticket", "lookup_order", "reply_ticket"]
    assert _ticket_replies(world, 91) == replies_before + 1
    assert _refunded_cents(world, 1013) == 0
    assert journal.verify().ok


def test_plan_example_refunds_the_goals_order_after_reading_the_ticket(world: Path) -> None:
    agent = load_agent(EXAMPLES / "plan.agent.yaml")

    run = Runner(Journal("sqlite://")).run(agent, "Refund order 1042 as asked in ticket 88")

    assert run.answer is not None and run.answer.startswith("Refunded order 1042")
    assert _refunded_cents(world, 1042) == 18950


def test_plan_example_asks_before_refunding_an_order_the_ticket_chose(world: Path) -> None:
    agent = load_agent(EXAMPLES / "plan.agent.yaml")
    journal = Journal("sqlite://")

    run = Runner(journal).run(agent, "Refund the order in ticket 91")

    decided = [r.payload for r in journal.records(run.run_id) if r.kind == "step.decided"]
    assert decided[-1]["tool"] == "refund_order"
    assert (decided[-1]["verdict"], decided[-1]["rules"]) == ("ask", ["flow.untrusted-target"])
    assert _refunded_cents(world, 1077) == 0
