"""A request whose run ended unanswered is closed: out of every inbox, undecidable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from charter import Charter, Journal, Runner, tool
from charter.agent import Agent
from charter.errors import ApprovalError
from charter.journal._store import records_table
from charter.runtime import Approvals, Receipt, ReceiptProblem
from charter.runtime._rollback import rollback
from charter.testing import ScriptedReasoner, call, make_agent, respond
from databases import fresh_url

CHAIN = {"escalation": [{"approvers": ["dana"], "timeout_seconds": 600}]}


class Clock:
    """A settable UTC clock."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def charter_with(approvals: dict[str, Any]) -> Charter:
    rule = {"id": "big", "effect": "ask", "tools": ["refund_order"], "reason": "big refund"}
    return Charter.model_validate({"name": "refunds", "rules": [rule], "approvals": approvals})


@tool(side_effect="write")
def refund_order(order_id: int, amount_cents: int) -> dict[str, int]:
    """Refund an order."""
    return {"refund_id": order_id}


def _agent() -> Agent:
    return make_agent(
        [refund_order],
        ScriptedReasoner([call("refund_order", order_id=7, amount_cents=9000), respond("done")]),
        charter=charter_with(CHAIN),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Journal:
    return Journal(fresh_url(str(request.param), tmp_path))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runner(journal: Journal, clock: Clock):  # type: ignore[no-untyped-def]
    r = Runner(journal, clock=clock)
    yield r
    r.close()


def test_cancelling_a_waiting_run_closes_its_request(runner: Runner, journal: Journal) -> None:
    run = runner.run(_agent(), "refund order 7", actor="sam")

    runner.cancel(run.run_id, actor="oncall", reason="wrong customer")

    state = runner.approvals.get(str(run.waiting_for))
    assert state.status == "closed"
    assert state.closed_reason == "run cancelled by oncall: wrong customer"
    assert runner.approvals.pending() == []
    closed = journal.records_of_kind("approval.closed")
    assert [r.payload["request_id"] for r in closed] == [run.waiting_for]


def test_a_closed_request_cannot_be_approved_or_denied(runner: Runner) -> None:
    run = runner.run(_agent(), "refund order 7", actor="sam")
    runner.cancel(run.run_id, actor="oncall", reason="r")

    with pytest.raises(ApprovalError, match="is closed: run cancelled by oncall"):
        runner.approvals.approve(str(run.waiting_for), "dana")
    with pytest.raises(ApprovalError, match="is closed"):
        runner.approvals.deny(str(run.waiting_for), "dana", "no")


def test_a_closed_request_is_never_swept_to_expired(
    runner: Runner, journal: Journal, clock: Clock
) -> None:
    run = runner.run(_agent(), "refund order 7", actor="sam")
    runner.cancel(run.run_id, actor="oncall", reason="r")
    clock.advance(10 * 3600)

    (state,) = runner.approvals.sweep()

    assert state.status == "closed"
    assert journal.records_of_kind("approval.expired") == []


def test_rolling_back_a_waiting_run_closes_its_request(runner: Runner, journal: Journal) -> None:
    agent = _agent()
    run = runner.run(agent, "refund order 7", actor="sam")

    rollback(journal, agent, run.run_id, actor="oncall")

    state = runner.approvals.get(str(run.waiting_for))
    assert (state.status, state.closed_reason) == ("closed", "run rolled back by oncall")


def test_an_old_journal_without_the_closing_record_reads_the_request_as_closed(
    runner: Runner, journal: Journal
) -> None:
    run = runner.run(_agent(), "refund order 7", actor="sam")
    runner.cancel(run.run_id, actor="oncall", reason="r")
    with journal.engine.begin() as conn:  # as journals written before requests were closed
        conn.execute(delete(records_table).where(records_table.c.kind == "approval.closed"))

    state = Approvals(journal).get(str(run.waiting_for))

    assert state.status == "closed"
    assert state.closed_reason == "its run ended (stopped: cancelled by oncall: r)"
    assert Approvals(journal).pending() == []
    with pytest.raises(ApprovalError, match="is closed"):
        Approvals(journal).approve(str(run.waiting_for), "dana")


def test_a_decision_journaled_after_the_run_ended_counts_for_nothing(
    runner: Runner, journal: Journal, clock: Clock
) -> None:
    run = runner.run(_agent(), "refund order 7", actor="sam")
    request_id = str(run.waiting_for)
    request = runner.approvals.get(request_id).request
    runner.cancel(run.run_id, actor="oncall", reason="r")
    # An approver who read the request as pending wins the race to the journal: the
    # receipt lands after the run ended.
    late = Receipt(
        request_id=request_id,
        run_id=run.run_id,
        step=request.step,
        tool=request.tool,
        args_hash=request.args_hash,
        policy=request.policy,
        approver="dana",
        verdict="approved",
        reason="",
        decided_at=clock(),
        expires_at=clock() + timedelta(minutes=5),
    )
    journal.append([(run.run_id, "approval.granted", late.to_payload())])

    state = runner.approvals.get(request_id)
    checked = runner.approvals.check(
        request_id,
        run_id=run.run_id,
        step=request.step,
        tool=request.tool,
        args=request.args,
        policy=request.policy,
    )

    assert (state.status, state.receipt) == ("closed", None)
    assert isinstance(checked, ReceiptProblem) and checked.rule == "approval.closed"


def test_an_expired_request_whose_run_went_on_stays_expired(
    runner: Runner, journal: Journal, clock: Clock
) -> None:
    agent = _agent()
    run = runner.run(agent, "refund order 7", actor="sam")
    clock.advance(10 * 3600)
    resumed = runner.resume(agent, run.run_id, actor="sam")

    assert resumed.status == "completed"
    assert runner.approvals.get(str(run.waiting_for)).status == "expired"


def test_an_approved_and_used_request_stays_used(runner: Runner) -> None:
    agent = _agent()
    run = runner.run(agent, "refund order 7", actor="sam")
    runner.approvals.approve(str(run.waiting_for), "dana")
    runner.resume(agent, run.run_id, actor="sam")

    assert runner.approvals.get(str(run.waiting_for)).status == "used"
