"""Run outcomes: each value from real runs, journaled in run.finished (and after a
rollback), and derived the same from the records of a journal that did not carry it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter import Budgets, Charter, Journal, Runner, tool
from charter.agent import Agent
from charter.errors import ReasonerUnavailableError
from charter.journal import Record
from charter.journal._outcome import OUTCOMES, OutcomeTally, run_outcome
from charter.runtime import Controls
from charter.runtime._rollback import rollback
from charter.testing import ScriptedReasoner, call, make_agent, respond
from charter.views._runs import list_runs, run_detail

world: list[str] = []
release = threading.Event()


def _untag(*, result: Any, **args: Any) -> str:
    world.remove(f"tag {args['order_id']}")
    return "untagged"


@tool
def lookup(order_id: int) -> int:
    """Read an order."""
    return order_id


@tool(side_effect="write", compensate=_untag)
def tag(order_id: int) -> str:
    """Tag an order (undone by untagging)."""
    world.append(f"tag {order_id}")
    return "tagged"


@tool(side_effect="external")
def notify(to: str) -> str:
    """Send a note (cannot be unsent)."""
    world.append(f"note {to}")
    return "sent"


@tool(side_effect="write")
def broken(order_id: int) -> str:
    """A write whose backend is down."""
    raise RuntimeError(f"backend down for {order_id}")


@tool(side_effect="write", timeout_s=0.05)
def hanging(order_id: int) -> str:
    """A write that never answers in time."""
    release.wait(5)
    return "late"


TOOLS = [lookup, tag, notify, broken, hanging]


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    world.clear()
    release.clear()
    yield
    release.set()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'journal.db'}")


@pytest.fixture
def runner(journal: Journal) -> Iterator[Runner]:
    r = Runner(journal)
    yield r
    r.close()


def agent(*script: Any, **charter: Any) -> Agent:
    rules = Charter.model_validate({"name": "c"} | charter)
    return make_agent(TOOLS, ScriptedReasoner(list(script)), charter=rules)


def _model_down(context: Any) -> Any:
    raise ReasonerUnavailableError("model endpoint unreachable")


def journaled(journal: Journal, run_id: str) -> str | None:
    """The outcome the journal states for the run: its newest run.finished or
    rollback.finished that carries one."""
    said = [
        r.payload["outcome"]
        for r in journal.records(run_id)
        if r.kind in ("run.finished", "rollback.finished")
    ]
    return said[-1] if said else None


def without_outcomes(records: list[Record]) -> list[tuple[str, dict[str, Any]]]:
    """The records as a journal written before outcomes were journaled has them."""
    return [
        (r.kind, {k: v for k, v in r.payload.items() if k != "outcome"})
        for r in records
        if r.run_id != "control"
    ]


def derived(journal: Journal, run_id: str) -> str | None:
    tally = OutcomeTally()
    for kind, payload in without_outcomes(list(journal.records(run_id))):
        tally.add(kind, payload)
    return tally.outcome()


def assert_outcome(journal: Journal, run_id: str, expected: str) -> None:
    """Journaled, derived without the key, read by the read model: all the same."""
    assert journaled(journal, run_id) == expected
    assert run_outcome(journal.records(run_id)) == expected
    assert derived(journal, run_id) == expected
    (summary,) = [s for s in list_runs(journal) if s.run_id == run_id]
    assert summary.outcome == expected


def test_a_run_that_answered_with_nothing_refused_succeeded(
    runner: Runner, journal: Journal
) -> None:
    run = runner.run(agent(call("lookup", order_id=1), respond("found")), "look")

    assert (run.status, run.outcome) == ("completed", "succeeded")
    assert_outcome(journal, run.run_id, "succeeded")


def test_a_call_denied_by_a_rule_makes_a_completed_run_denied(
    runner: Runner, journal: Journal
) -> None:
    rules = [{"id": "no-notes", "effect": "deny", "tools": ["notify"]}]
    run = runner.run(agent(call("notify", to="ann"), respond("could not"), rules=rules), "note")

    assert (run.status, run.outcome) == ("completed", "denied")
    assert_outcome(journal, run.run_id, "denied")


def test_a_call_stopped_by_an_anomaly_playbook_is_journaled_and_shown_as_denied(
    runner: Runner, journal: Journal
) -> None:
    rule = {
        "id": "one-tag",
        "kind": "tool_rate",
        "tools": ["tag"],
        "max_calls": 1,
        "per_seconds": 3600,
        "playbook": ["revoke_tool"],
    }
    script = [call("tag", order_id=1), call("tag", order_id=2), respond("tagged one")]

    run = runner.run(agent(*script, anomalies=[rule]), "tag both")

    assert world == ["tag 1"]
    decided = [r.payload for r in journal.records(run.run_id) if r.kind == "step.decided"]
    assert [d["verdict"] for d in decided] == ["allow", "deny"]
    assert "anomaly.one-tag" in decided[1]["rules"]
    assert "anomaly playbook" in decided[1]["reason"]
    stopped = run.steps[1].decision
    assert stopped is not None and stopped.verdict == "deny"
    detail = run_detail(journal, run.run_id)
    assert detail is not None
    shown = detail.steps[1].decision
    assert shown is not None and shown.verdict == "deny"
    assert (run.status, run.outcome) == ("completed", "denied")
    assert_outcome(journal, run.run_id, "denied")
    assert journal.verify().ok


def test_a_journal_where_the_playbook_left_allow_still_shows_the_step_denied(
    runner: Runner, journal: Journal
) -> None:
    # A journal written before the runner journaled a playbook's stop as the decision.
    from sqlalchemy import text

    from charter.journal import canonical_json

    rule = {
        "id": "one-tag",
        "kind": "tool_rate",
        "tools": ["tag"],
        "max_calls": 1,
        "per_seconds": 3600,
        "playbook": ["revoke_tool"],
    }
    script = [call("tag", order_id=1), call("tag", order_id=2), respond("tagged one")]
    run = runner.run(agent(*script, anomalies=[rule]), "tag both")
    second = [r for r in journal.records(run.run_id) if r.kind == "step.decided"][1]
    old = second.payload | {"verdict": "allow", "rules": ["tools.allow"], "reason": "allowed"}
    with journal.engine.begin() as conn:
        conn.execute(
            text("UPDATE journal_records SET payload = :p WHERE seq = :s"),
            {"p": canonical_json(old), "s": second.seq},
        )

    detail = run_detail(journal, run.run_id)

    assert detail is not None
    shown = detail.steps[1].decision
    assert shown is not None and shown.verdict == "deny"
    assert "anomaly playbook" in shown.reason


def test_an_approvers_denial_makes_the_resumed_run_denied(runner: Runner, journal: Journal) -> None:
    rules = [{"id": "ask-tags", "effect": "ask", "tools": ["tag"]}]
    desk = agent(call("tag", order_id=1), respond("not allowed"), rules=rules)
    waiting = runner.run(desk, "tag", actor="sam")
    assert (waiting.status, waiting.outcome) == ("waiting", None)
    assert journaled(journal, waiting.run_id) is None
    runner.approvals.deny(str(waiting.waiting_for), "dana", "no")

    resumed = runner.resume(desk, waiting.run_id)

    assert (resumed.status, resumed.outcome) == ("completed", "denied")
    assert world == []
    assert_outcome(journal, waiting.run_id, "denied")


def test_a_budget_that_stops_the_run_is_a_denial(runner: Runner, journal: Journal) -> None:
    desk = agent(call("lookup", order_id=1), respond("x"), budgets=Budgets(max_steps=1))

    run = runner.run(desk, "look")

    assert (run.status, run.outcome) == ("stopped", "denied")
    assert_outcome(journal, run.run_id, "denied")


def test_a_tool_error_makes_a_completed_run_failed(runner: Runner, journal: Journal) -> None:
    rules = [{"id": "no-notes", "effect": "deny", "tools": ["notify"]}]
    script = [call("notify", to="a"), call("broken", order_id=1), respond("gave up")]

    run = runner.run(agent(*script, rules=rules), "work")

    assert run.status == "completed"
    assert run.outcome == "failed"  # a failure outranks the denial beside it
    assert_outcome(journal, run.run_id, "failed")


def test_a_write_left_in_doubt_is_a_failure(runner: Runner, journal: Journal) -> None:
    run = runner.run(agent(call("hanging", order_id=1), respond("unsure")), "work")

    assert (run.status, run.outcome) == ("completed", "failed")
    assert_outcome(journal, run.run_id, "failed")


def test_a_failed_run_failed(runner: Runner, journal: Journal) -> None:
    run = runner.run(agent(call("lookup", order_id=1), _model_down), "work")

    assert (run.status, run.outcome) == ("failed", "failed")
    assert_outcome(journal, run.run_id, "failed")


def test_a_cancelled_waiting_run_is_cancelled(runner: Runner, journal: Journal) -> None:
    rules = [{"id": "ask-tags", "effect": "ask", "tools": ["tag"]}]
    waiting = runner.run(agent(call("tag", order_id=1), rules=rules), "tag", actor="sam")

    runner.cancel(waiting.run_id, actor="ops", reason="withdrawn")

    assert_outcome(journal, waiting.run_id, "cancelled")


def test_a_run_stopped_by_a_pause_is_stopped(runner: Runner, journal: Journal) -> None:
    Controls(journal).pause("test-agent", actor="ops", reason="incident")

    run = runner.run(agent(respond("never")), "work")

    assert (run.status, run.outcome) == ("stopped", "stopped")
    assert_outcome(journal, run.run_id, "stopped")


def test_rollback_on_makes_the_run_rolled_back(runner: Runner, journal: Journal) -> None:
    desk = agent(call("tag", order_id=1), _model_down, rollback_on=["failed"])

    run = runner.run(desk, "work")

    assert world == []
    assert (run.status, run.rolled_back, run.outcome) == ("failed", True, "rolled_back")
    (finished,) = [r for r in journal.records(run.run_id) if r.kind == "run.finished"]
    assert finished.payload["outcome"] == "failed"  # what it was when it ended
    assert_outcome(journal, run.run_id, "rolled_back")


def test_a_manual_rollback_changes_a_succeeded_runs_outcome(
    runner: Runner, journal: Journal
) -> None:
    desk = agent(call("tag", order_id=1), respond("tagged"))
    run = runner.run(desk, "tag")
    assert_outcome(journal, run.run_id, "succeeded")

    report = rollback(journal, desk, run.run_id, actor="ops")

    assert report.outcome == "rolled_back" and world == []
    assert_outcome(journal, run.run_id, "rolled_back")


def test_a_rollback_that_undid_nothing_leaves_the_outcome(runner: Runner, journal: Journal) -> None:
    desk = agent(call("notify", to="ann"), respond("sent"))
    run = runner.run(desk, "note")

    report = rollback(journal, desk, run.run_id, actor="ops")

    assert [item.outcome for item in report.items] == ["irreversible"]
    assert report.outcome == "succeeded"
    assert_outcome(journal, run.run_id, "succeeded")


def test_a_rolled_back_waiting_run_is_rolled_back(runner: Runner, journal: Journal) -> None:
    rules = [{"id": "ask-notes", "effect": "ask", "tools": ["notify"]}]
    desk = agent(call("tag", order_id=1), call("notify", to="ann"), rules=rules)
    waiting = runner.run(desk, "tag then note", actor="sam")
    assert waiting.status == "waiting"

    rollback(journal, desk, waiting.run_id, actor="ops")

    (finished,) = [r for r in journal.records(waiting.run_id) if r.kind == "run.finished"]
    assert finished.payload["outcome"] == "stopped"
    assert_outcome(journal, waiting.run_id, "rolled_back")


# The rules themselves.


def tally(*records: tuple[str, dict[str, Any]]) -> OutcomeTally:
    found = OutcomeTally()
    for kind, payload in records:
        found.add(kind, payload)
    return found


def test_an_unfinished_run_has_no_outcome() -> None:
    assert tally().outcome() is None
    assert tally(("step.decided", {"verdict": "deny"})).outcome() is None
    assert tally(("run.finished", {"status": "waiting"})).outcome() is None


def test_precedence_rolled_back_then_failed_then_denied_then_cancelled_then_stopped() -> None:
    denied = ("step.observed", {"status": "denied"})
    failed = ("step.effect", {"status": "error"})
    cancelled: tuple[str, dict[str, Any]] = ("run.cancelled", {})
    stopped = ("run.finished", {"status": "stopped"})
    undone = ("rollback.finished", {"outcomes": {"compensated": 1}})

    assert tally(denied, failed, cancelled, stopped, undone).outcome() == "rolled_back"
    assert tally(denied, failed, cancelled, stopped).outcome() == "failed"
    assert tally(denied, cancelled, stopped).outcome() == "denied"
    assert tally(cancelled, stopped).outcome() == "cancelled"
    assert tally(stopped).outcome() == "stopped"
    assert tally(("run.finished", {"status": "completed"})).outcome() == "succeeded"
    assert tally(("run.finished", {"status": "failed"})).outcome() == "failed"


def test_a_budget_extended_by_an_approver_is_no_denial() -> None:
    exceeded = ("budget.exceeded", {"rule": "budget.max_steps"})
    extended = ("budget.extended", {"rule": "budget.max_steps"})
    done = ("run.finished", {"status": "completed"})

    assert tally(exceeded, extended, done).outcome() == "succeeded"
    assert tally(exceeded, done).outcome() == "denied"


def test_reasoner_mistakes_and_simulated_calls_do_not_change_the_outcome() -> None:
    records = [
        ("step.observed", {"status": "unknown_tool"}),
        ("step.observed", {"status": "invalid_arguments"}),
        ("step.decided", {"verdict": "simulate"}),
        ("step.effect", {"status": "simulated"}),
        ("run.finished", {"status": "completed"}),
    ]
    assert tally(*records).outcome() == "succeeded"


def test_a_journaled_outcome_wins_unless_unknown() -> None:
    stated = ("run.finished", {"status": "completed", "outcome": "denied"})
    forged = ("run.finished", {"status": "completed", "outcome": "excellent"})
    failed = ("step.effect", {"status": "error"})

    assert tally(stated).outcome() == "denied"
    assert tally(failed, forged).outcome() == "failed"  # not a value: derived instead
    assert {tally(("run.finished", {"status": "x", "outcome": o})).outcome() for o in OUTCOMES} == (
        set(OUTCOMES)
    )


def test_a_denial_that_fires_an_anomaly_keeps_its_own_rule_and_reason(
    runner: Runner, journal: Journal
) -> None:
    rules = [{"id": "no-notes", "effect": "deny", "tools": ["notify"], "reason": "no mail"}]
    rule = {
        "id": "denied-twice",
        "kind": "repeated_denials",
        "max_denials": 1,
        "per_seconds": 3600,
        "playbook": ["stop_run"],
    }
    desk = agent(call("notify", to="ann"), respond("x"), rules=rules, anomalies=[rule])

    run = runner.run(desk, "note")

    (decided,) = [r.payload for r in journal.records(run.run_id) if r.kind == "step.decided"]
    assert (decided["verdict"], decided["rules"], decided["reason"]) == (
        "deny",
        ["no-notes"],
        "no mail",
    )
    assert (run.status, run.outcome) == ("stopped", "denied")
    assert_outcome(journal, run.run_id, "denied")
