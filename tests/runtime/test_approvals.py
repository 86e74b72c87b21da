"""Approvals: an ``ask`` pauses the run; a receipt, re-checked at execution, resumes it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter import Charter, Journal, Runner, tool
from charter.agent import Agent
from charter.errors import ApprovalError, RunNotFoundError, RunStateError
from charter.journal import JournalSigner
from charter.runtime import Approvals, Receipt, ReceiptProblem
from charter.testing import ScriptedReasoner, call, make_agent, record_kinds, respond

effects: list[str] = []


@tool
def lookup_order(order_id: int) -> dict[str, int]:
    """Look up an order."""
    return {"order_id": order_id}


@tool(side_effect="write")
def refund_order(order_id: int, amount_cents: int) -> dict[str, int]:
    """Refund an order."""
    effects.append(f"refund {order_id} {amount_cents}")
    return {"refund_id": order_id}


@tool(side_effect="write")
def tag_order(order_id: int) -> str:
    """Tag an order (not idempotent)."""
    effects.append(f"tag {order_id}")
    return "tagged"


TOOLS = [lookup_order, refund_order, tag_order]


class Clock:
    """A settable UTC clock."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def charter_with(approvals: dict[str, Any] | None = None, **extra: Any) -> Charter:
    body: dict[str, Any] = {
        "name": "refunds",
        "rules": [
            {
                "id": "big-refunds",
                "effect": "ask",
                "tools": ["refund_order"],
                "when": "context.args.amount_cents > 5000",
                "reason": "refunds over $50 need a manager",
            }
        ],
    }
    if approvals is not None:
        body["approvals"] = approvals
    return Charter.model_validate(body | extra)


CHAIN = {
    "escalation": [
        {"approvers": ["dana"], "timeout_seconds": 600},
        {"approvers": ["head"], "timeout_seconds": 3600},
    ],
    "receipt_ttl_seconds": 300,
}


@pytest.fixture(autouse=True)
def _reset() -> None:
    effects.clear()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(
        f"sqlite:///{tmp_path / 'journal.db'}", JournalSigner(Ed25519PrivateKey.generate())
    )


@pytest.fixture
def runner(journal: Journal, clock: Clock):  # type: ignore[no-untyped-def]
    r = Runner(journal, clock=clock)
    yield r
    r.close()


def refund_agent(charter: Charter | None = None, *, amount: int = 9000) -> Agent:
    return make_agent(
        TOOLS,
        ScriptedReasoner(
            [
                call("lookup_order", order_id=7),
                call("refund_order", order_id=7, amount_cents=amount),
                lambda ctx: respond(ctx.turns[-1].observation.render()),
            ]
        ),
        charter=charter or charter_with(CHAIN),
    )


def test_ask_pauses_the_run_with_a_request_and_runs_nothing(
    runner: Runner, journal: Journal
) -> None:
    run = runner.run(refund_agent(), "refund order 7", actor="sam")

    assert (run.status, effects) == ("waiting", [])
    (pending,) = runner.approvals.pending()
    request = pending.request
    assert (request.run_id, request.step, request.tool) == (run.run_id, 2, "refund_order")
    assert request.args == {"order_id": 7, "amount_cents": 9000}
    assert (request.rules, request.requested_by) == (("big-refunds",), "sam")
    assert run.waiting_for == request.request_id
    assert "run.finished" not in record_kinds(journal, run.run_id)
    assert journal.verify().ok


def test_an_approved_call_runs_once_when_the_run_resumes(runner: Runner, journal: Journal) -> None:
    agent = refund_agent()
    run = runner.run(agent, "refund order 7", actor="sam")
    receipt = runner.approvals.approve(str(run.waiting_for), "dana", "customer is right")

    resumed = runner.resume(agent, run.run_id)

    assert (resumed.status, effects) == ("completed", ["refund 7 9000"])
    assert resumed.answer == '{"refund_id": 7}'
    assert receipt.signature and receipt.verdict == "approved"
    kinds = record_kinds(journal, run.run_id)
    assert kinds[kinds.index("run.resumed") :] == [
        "run.resumed",
        "step.decided",
        "approval.used",
        "step.effect",
        "step.observed",
        "step.proposed",
        "run.finished",
    ]
    assert runner.approvals.get(receipt.request_id).status == "used"
    assert journal.verify().ok


def test_a_resumed_run_cannot_be_resumed_again(runner: Runner) -> None:
    agent = refund_agent()
    run = runner.run(agent, "refund order 7", actor="sam")
    runner.approvals.approve(str(run.waiting_for), "dana")
    runner.resume(agent, run.run_id)

    with pytest.raises(RunStateError, match="not waiting"):
        runner.resume(agent, run.run_id)
    assert effects == ["refund 7 9000"]


def test_a_denial_is_what_the_reasoner_observes(runner: Runner) -> None:
    agent = refund_agent()
    run = runner.run(agent, "refund order 7", actor="sam")
    runner.approvals.deny(str(run.waiting_for), "dana", "refund window closed")

    resumed = runner.resume(agent, run.run_id)

    assert (resumed.status, effects) == ("completed", [])
    assert resumed.answer is not None
    assert "dana denied the call: refund window closed" in resumed.answer
    assert "approval.denied" in resumed.answer


def test_a_pending_run_cannot_resume(runner: Runner) -> None:
    agent = refund_agent()
    run = runner.run(agent, "refund order 7", actor="sam")

    with pytest.raises(RunStateError, match=r"waiting for approval apr-.*approvers: dana"):
        runner.resume(agent, run.run_id)


def test_resume_errors_name_the_problem(runner: Runner) -> None:
    agent = refund_agent()
    with pytest.raises(RunNotFoundError):
        runner.resume(agent, "nope")
    done = runner.run(refund_agent(amount=100), "small refund")
    with pytest.raises(RunStateError, match="it is completed"):
        runner.resume(agent, done.run_id)
    waiting = runner.run(agent, "refund order 7", actor="sam")
    other = make_agent(TOOLS, ScriptedReasoner([]), name="other")
    with pytest.raises(RunStateError, match="belongs to agent 'test-agent'"):
        runner.resume(other, waiting.run_id)


def test_the_run_starter_may_not_approve_their_own_request(runner: Runner) -> None:
    run = runner.run(refund_agent(charter_with()), "refund order 7", actor="sam")

    with pytest.raises(ApprovalError, match="'sam' started run"):
        runner.approvals.approve(str(run.waiting_for), "sam")
    assert runner.approvals.approve(str(run.waiting_for), "kim").approver == "kim"


def test_self_approval_can_be_allowed_by_the_charter(runner: Runner) -> None:
    charter = charter_with({"forbid_self_approval": False})
    run = runner.run(refund_agent(charter), "refund order 7", actor="sam")

    assert runner.approvals.approve(str(run.waiting_for), "sam").approver == "sam"


@pytest.mark.parametrize("alias", ["Sam", "sam ", " SAM", "\uff53\uff41\uff4d", "s\u200bam"])
def test_the_run_starter_may_not_approve_under_another_spelling(runner: Runner, alias: str) -> None:
    run = runner.run(refund_agent(charter_with()), "refund order 7", actor="sam")

    with pytest.raises(ApprovalError, match="started run"):
        runner.approvals.approve(str(run.waiting_for), alias)
    (state,) = runner.approvals.pending()
    assert state.status == "pending"


def test_a_starter_spelled_oddly_still_may_not_approve(runner: Runner) -> None:
    run = runner.run(refund_agent(charter_with()), "refund order 7", actor="Sam  Jones ")

    with pytest.raises(ApprovalError, match="started run"):
        runner.approvals.approve(str(run.waiting_for), "sam jones")


def test_charter_approvers_are_matched_whatever_their_spelling(runner: Runner) -> None:
    chain = {"escalation": [{"approvers": ["Dana Lee"], "timeout_seconds": 600}]}
    run = runner.run(refund_agent(charter_with(chain)), "refund order 7", actor="sam")

    with pytest.raises(ApprovalError, match="may not decide"):
        runner.approvals.approve(str(run.waiting_for), "dana")
    assert runner.approvals.approve(str(run.waiting_for), " dana  LEE").approver == " dana  LEE"


def test_only_approvers_of_the_reached_level_may_decide(runner: Runner, clock: Clock) -> None:
    run = runner.run(refund_agent(), "refund order 7", actor="sam")
    request_id = str(run.waiting_for)

    with pytest.raises(ApprovalError, match=r"'head' may not decide .* level 1; approvers: dana"):
        runner.approvals.approve(request_id, "head")
    clock.advance(601)  # the first level timed out: escalated to head, dana keeps her say
    (state,) = runner.approvals.pending()
    assert state.level == 1
    escalated = [r for r in runner.journal.records(run.run_id) if r.kind == "approval.escalated"]
    assert [r.payload["approvers"] for r in escalated] == [["dana", "head"]]
    runner.approvals.pending()  # sweeping again journals nothing new
    assert (
        len([r for r in runner.journal.records(run.run_id) if r.kind == "approval.escalated"]) == 1
    )
    assert runner.approvals.approve(request_id, "head").approver == "head"


def test_an_unanswered_request_expires_into_a_denial(
    runner: Runner, journal: Journal, clock: Clock
) -> None:
    agent = refund_agent()
    run = runner.run(agent, "refund order 7", actor="sam")
    clock.advance(600 + 3600 + 1)

    assert runner.approvals.pending() == []
    with pytest.raises(ApprovalError, match="already expired"):
        runner.approvals.approve(str(run.waiting_for), "head")
    resumed = runner.resume(agent, run.run_id)

    assert effects == []
    assert resumed.answer is not None and "(rule approval.expired)" in resumed.answer
    assert "approval.expired" in record_kinds(journal, run.run_id)


def test_an_expired_receipt_does_not_run_the_call(runner: Runner, clock: Clock) -> None:
    agent = refund_agent()
    run = runner.run(agent, "refund order 7", actor="sam")
    runner.approvals.approve(str(run.waiting_for), "dana")
    clock.advance(301)

    resumed = runner.resume(agent, run.run_id)

    assert effects == []
    assert resumed.answer is not None and "(rule approval.expired)" in resumed.answer


def test_a_receipt_is_void_under_a_changed_policy(runner: Runner) -> None:
    agent = refund_agent()
    run = runner.run(agent, "refund order 7", actor="sam")
    runner.approvals.approve(str(run.waiting_for), "dana")
    agent.charter = agent.charter.model_copy(update={"description": "edited after approval"})

    resumed = runner.resume(agent, run.run_id)

    assert effects == []
    assert resumed.answer is not None and "another policy version" in resumed.answer


def test_a_charter_that_now_denies_wins_over_the_receipt(runner: Runner) -> None:
    agent = refund_agent()
    run = runner.run(agent, "refund order 7", actor="sam")
    runner.approvals.approve(str(run.waiting_for), "dana")
    runner.controls.revoke("refund_order", actor="oncall", reason="incident 12")

    resumed = runner.resume(agent, run.run_id)

    assert effects == []
    assert resumed.answer is not None and "inventory.revoked" in resumed.answer


def _forge(journal: Journal, run_id: str, receipt: Receipt) -> None:
    journal.append([(run_id, "approval.granted", receipt.to_payload())])


def _unsigned_receipt(request_id: str, run_id: str, **changes: Any) -> Receipt:
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    receipt = Receipt(
        request_id=request_id,
        run_id=run_id,
        step=2,
        tool="refund_order",
        args_hash="",
        policy="",
        approver="dana",
        verdict="approved",
        reason="",
        decided_at=now,
        expires_at=now + timedelta(seconds=300),
    )
    return replace(receipt, **changes)


def test_a_receipt_written_into_the_journal_without_the_key_is_rejected(
    runner: Runner, journal: Journal
) -> None:
    agent = refund_agent()
    run = runner.run(agent, "refund order 7", actor="sam")
    request = runner.approvals.get(str(run.waiting_for)).request
    _forge(
        journal,
        run.run_id,
        _unsigned_receipt(
            request.request_id, run.run_id, args_hash=request.args_hash, policy=request.policy
        ),
    )

    resumed = runner.resume(agent, run.run_id)

    assert effects == []
    assert resumed.answer is not None and "(rule approval.forged)" in resumed.answer


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"args_hash": "0" * 64}, "another arguments"),
        ({"step": 5}, "another step"),
        ({"approver": "mallory"}, "'mallory' may not decide"),
        ({"approver": "sam"}, "'sam' started run"),
    ],
)
def test_a_receipt_not_matching_the_call_is_rejected(
    tmp_path: Path, clock: Clock, change: dict[str, Any], message: str
) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'unsigned.db'}")  # binding checks alone
    runner = Runner(journal, clock=clock)
    agent = refund_agent()
    run = runner.run(agent, "refund order 7", actor="sam")
    request = runner.approvals.get(str(run.waiting_for)).request
    fields = {"args_hash": request.args_hash, "policy": request.policy} | change
    _forge(journal, run.run_id, _unsigned_receipt(request.request_id, run.run_id, **fields))

    resumed = runner.resume(agent, run.run_id)

    assert effects == []
    assert resumed.answer is not None and message in resumed.answer
    runner.close()


def test_a_receipt_claiming_a_longer_life_than_the_charter_grants_is_rejected(
    tmp_path: Path, clock: Clock
) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'unsigned.db'}")
    approvals = Approvals(journal, clock=clock)
    runner = Runner(journal, clock=clock)
    run = runner.run(refund_agent(), "refund order 7", actor="sam")
    request = approvals.get(str(run.waiting_for)).request
    receipt = _unsigned_receipt(
        request.request_id,
        run.run_id,
        args_hash=request.args_hash,
        policy=request.policy,
        expires_at=clock.now + timedelta(days=30),
    )
    _forge(journal, run.run_id, receipt)

    problem = approvals.check(
        request.request_id,
        run_id=run.run_id,
        step=2,
        tool="refund_order",
        args=request.args,
        policy=request.policy,
    )

    assert isinstance(problem, ReceiptProblem) and "lifetime" in problem.message
    runner.close()


def test_a_used_receipt_cannot_be_replayed(runner: Runner) -> None:
    agent = refund_agent()
    run = runner.run(agent, "refund order 7", actor="sam")
    request_id = str(run.waiting_for)
    runner.approvals.approve(request_id, "dana")
    runner.resume(agent, run.run_id)
    request = runner.approvals.get(request_id).request

    problem = runner.approvals.check(
        request_id,
        run_id=run.run_id,
        step=2,
        tool="refund_order",
        args=request.args,
        policy=request.policy,
    )

    assert isinstance(problem, ReceiptProblem) and problem.rule == "approval.replayed"


def test_the_first_decision_counts(runner: Runner) -> None:
    run = runner.run(refund_agent(), "refund order 7", actor="sam")
    request_id = str(run.waiting_for)
    runner.approvals.deny(request_id, "dana", "no")

    with pytest.raises(ApprovalError, match="already denied by dana"):
        runner.approvals.approve(request_id, "dana")


def test_bad_approval_input_is_refused(runner: Runner) -> None:
    run = runner.run(refund_agent(), "refund order 7", actor="sam")
    request_id = str(run.waiting_for)

    with pytest.raises(ApprovalError, match="no approval request 'apr-missing'"):
        runner.approvals.approve("apr-missing", "dana")
    with pytest.raises(ApprovalError, match="needs a reason"):
        runner.approvals.deny(request_id, "dana", "  ")
    with pytest.raises(ApprovalError, match="approver identity is required"):
        runner.approvals.approve(request_id, "")
    assert runner.approvals.get(request_id).status == "pending"


def test_a_resumed_run_keeps_its_budget_and_its_completed_writes(runner: Runner) -> None:
    charter = charter_with(CHAIN, budgets={"max_steps": 4})
    agent = make_agent(
        TOOLS,
        ScriptedReasoner(
            [
                call("tag_order", order_id=7),
                call("refund_order", order_id=7, amount_cents=9000),
                call("tag_order", order_id=7),  # a repeat of a write done before the wait
                call("lookup_order", order_id=7),
                respond("done"),
            ]
        ),
        charter=charter,
    )
    run = runner.run(agent, "refund order 7", actor="sam")
    runner.approvals.approve(str(run.waiting_for), "dana")

    resumed = runner.resume(agent, run.run_id)

    assert effects == ["tag 7", "refund 7 9000"]  # the repeated tag was denied
    third = resumed.steps[2]
    assert third.decision is not None and third.decision.rules == ("charter.repeat_writes",)
    assert (resumed.status, len(resumed.steps)) == ("stopped", 4)  # 4 steps in all, not 4 more


def test_approval_records_belong_to_the_run_and_the_chain_verifies(
    runner: Runner, journal: Journal
) -> None:
    agent = refund_agent()
    run = runner.run(agent, "refund order 7", actor="sam")
    runner.approvals.approve(str(run.waiting_for), "dana")
    runner.resume(agent, run.run_id)

    kinds = record_kinds(journal, run.run_id)
    assert kinds.count("approval.requested") == kinds.count("approval.granted") == 1
    assert journal.verify(journal.signer.verifier if journal.signer else None).ok


def _looping_agent(on_breach: str) -> Agent:
    budgets = {"max_steps": 2, "on_breach": on_breach, "extend_by": 1.0}
    charter = charter_with(CHAIN, budgets=budgets)
    script = [call("lookup_order", order_id=n) for n in (1, 2, 3)] + [respond("done")]
    return make_agent(TOOLS, ScriptedReasoner(script), charter=charter)


def test_a_budget_breach_can_ask_for_an_extension(runner: Runner, journal: Journal) -> None:
    agent = _looping_agent("ask")
    run = runner.run(agent, "look up three orders", actor="sam")
    (state,) = runner.approvals.pending()

    assert (run.status, state.request.tool, state.request.rules) == (
        "waiting",
        "budget.max_steps",
        ("budget.max_steps",),
    )
    runner.approvals.approve(str(run.waiting_for), "dana")
    resumed = runner.resume(agent, run.run_id)

    assert (resumed.status, resumed.answer, len(resumed.steps)) == ("completed", "done", 4)
    (extended,) = [r.payload for r in journal.records(run.run_id) if r.kind == "budget.extended"]
    assert extended["limits"]["max_steps"] == 4  # doubled


def test_a_denied_budget_extension_stops_the_run(runner: Runner) -> None:
    agent = _looping_agent("ask")
    run = runner.run(agent, "look up three orders", actor="sam")
    runner.approvals.deny(str(run.waiting_for), "dana", "enough")

    resumed = runner.resume(agent, run.run_id)

    assert resumed.status == "stopped"
    assert resumed.error == "budget not extended: dana denied the call: enough"


def test_a_budget_breach_stops_by_default(runner: Runner) -> None:
    run = runner.run(_looping_agent("stop"), "look up three orders", actor="sam")

    assert run.status == "stopped" and runner.approvals.states() == []


def test_only_set_budget_limits_can_be_extended() -> None:
    budgets = charter_with().budgets

    with pytest.raises(ValueError, match=r"no budget limit 'budget\.max_tokens'"):
        budgets.extended("budget.max_tokens")
    assert budgets.extended("budget.max_steps").max_steps == 30  # 20 grown by half
    tiny = budgets.model_copy(update={"max_steps": 1, "extend_by": 0.1})
    assert tiny.extended("budget.max_steps").max_steps == 2  # always at least one more


@tool
def long_report(size: int) -> dict[str, str]:
    """A result longer than an observation's rendered text."""
    return {"body": "x" * size}


def test_a_resumed_run_sees_whole_results_not_their_cut_rendering(runner: Runner) -> None:
    reasoner = ScriptedReasoner(
        [
            call("long_report", size=6000),
            call("refund_order", order_id=7, amount_cents=9000),
            lambda ctx: respond(str(len(ctx.turns[0].observation.content["body"]))),
        ]
    )
    agent = make_agent([*TOOLS, long_report], reasoner, charter=charter_with(CHAIN))
    run = runner.run(agent, "report then refund", actor="sam")
    runner.approvals.approve(str(run.waiting_for), "dana")

    resumed = runner.resume(agent, run.run_id)

    assert resumed.answer == "6000"


@tool(trust="untrusted", confidentiality="pii")
def read_email(email_id: int) -> str:
    """Read an inbound email."""
    return "please refund order 13 for 9000 cents"


def test_a_request_records_which_arguments_untrusted_data_chose(runner: Runner) -> None:
    reasoner = ScriptedReasoner(
        [call("read_email", email_id=1), call("refund_order", order_id=13, amount_cents=9000)]
    )
    agent = make_agent([*TOOLS, read_email], reasoner, charter=charter_with(CHAIN))

    run = runner.run(agent, "handle the email", actor="sam")

    request = runner.approvals.get(str(run.waiting_for)).request
    assert request.labels["order_id"] == {"trust": "untrusted", "confidentiality": "pii"}


def test_a_run_that_died_resuming_finishes_the_approved_call_once(
    runner: Runner, journal: Journal
) -> None:
    agent = refund_agent()
    run = runner.run(agent, "refund order 7", actor="sam")
    runner.approvals.approve(str(run.waiting_for), "dana")

    def die_after_resumed(record: Any) -> None:
        if record.kind == "run.resumed":
            raise KeyboardInterrupt  # the process dies right after the resume is journaled

    dying = Runner(journal, on_record=die_after_resumed)
    with pytest.raises(KeyboardInterrupt):
        dying.resume(agent, run.run_id, actor="dana")
    dying.close()

    recovered = runner.recover(agent, run.run_id)

    assert (recovered.status, effects) == ("completed", ["refund 7 9000"])
    assert len(journal.records_of_kind("approval.requested")) == 1  # not asked twice
    assert runner.approvals.get(str(run.waiting_for)).status == "used"
    assert journal.verify().ok
