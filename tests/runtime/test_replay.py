"""Replay decides each journaled call with the live run's decision, in the state rebuilt
from the journal as it stood at that step: revocations, the repeat rule, rate limits,
in-doubt targets, supervision and rollout phases, anomaly rules."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter import Charter, Journal, Runner, tool
from charter.runtime import Controls
from charter.runtime._replay import ReplayedStep, replay
from charter.testing import ScriptedReasoner, call, make_agent, respond

release = threading.Event()


@tool
def lookup_customer(customer_id: int) -> dict[str, str]:
    """Look up a customer."""
    return {"email": f"c{customer_id}@example.com"}


@tool(side_effect="write")
def refund_order(order_id: int) -> str:
    """Refund an order."""
    return "refunded"


@tool(side_effect="write", timeout_s=0.05, targets=("order_id",))
def pay_order(order_id: int, amount: int) -> str:
    """Pay an order; hangs past its timeout until the test ends."""
    release.wait(5)
    return "paid"


TOOLS = [lookup_customer, refund_order, pay_order]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    release.clear()
    yield Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    release.set()


@pytest.fixture
def runner(journal: Journal) -> Iterator[Runner]:
    r = Runner(journal)
    yield r
    r.close()


def _agent(script: list[Any], **charter: Any) -> Any:
    built = Charter.model_validate({"name": "replayed"} | charter)
    return make_agent(TOOLS, ScriptedReasoner(script), charter=built)


def _as_live(steps: list[ReplayedStep]) -> list[tuple[str, list[str], str, list[str]]]:
    """Each decided step's journaled (verdict, rules) beside replay's, asserting none
    changed."""
    pairs = [
        (s.then["verdict"], s.then["rules"], s.now.verdict, list(s.now.rules))
        for s in steps
        if s.then is not None and s.now is not None
    ]
    assert not [s.step for s in steps if s.changed]
    return pairs


def test_replay_keeps_a_revocation_in_force_when_the_step_was_decided(
    runner: Runner, journal: Journal
) -> None:
    controls = Controls(journal)
    controls.revoke("refund_order", actor="ops", reason="incident 7")
    agent = _agent([call("refund_order", order_id=1), respond("done")])
    run = runner.run(agent, "refund order 1")
    controls.restore("refund_order", actor="ops")  # lifted since: not the step's state
    (pair,) = _as_live(replay(journal, agent, run.run_id))
    assert pair == ("deny", ["inventory.revoked"], "deny", ["inventory.revoked"])


def test_replay_denies_a_repeated_write_as_the_live_run_did(
    runner: Runner, journal: Journal
) -> None:
    script = [call("refund_order", order_id=1), call("refund_order", order_id=1), respond("x")]
    agent = _agent(script)
    run = runner.run(agent, "refund order 1")
    pairs = _as_live(replay(journal, agent, run.run_id))
    assert pairs[1] == ("deny", ["charter.repeat_writes"], "deny", ["charter.repeat_writes"])
    assert pairs[0][0] == pairs[0][2] == "allow"


def test_replay_counts_rate_limits_from_the_records_before_the_step(
    runner: Runner, journal: Journal
) -> None:
    limits = [{"id": "lookups", "tools": ["lookup_*"], "max_calls": 1, "per_seconds": 3600}]
    script = [call("lookup_customer", customer_id=n) for n in (1, 2)] + [respond("x")]
    agent = _agent(script, rate_limits=limits)
    run = runner.run(agent, "look up customers")
    first, second = _as_live(replay(journal, agent, run.run_id))
    assert first[2] == "allow"  # the later call does not count against the earlier one
    assert second == ("deny", ["rate_limits.lookups"], "deny", ["rate_limits.lookups"])


def test_replay_denies_a_write_whose_target_was_in_doubt(runner: Runner, journal: Journal) -> None:
    script = [
        call("pay_order", order_id=1, amount=5),
        call("pay_order", order_id=1, amount=6),
        respond("x"),
    ]
    agent = _agent(script)
    run = runner.run(agent, "pay order 1")
    _, second = _as_live(replay(journal, agent, run.run_id))
    assert second == ("deny", ["effect.in_doubt"], "deny", ["effect.in_doubt"])


def test_replay_asks_for_a_supervised_agent_and_simulates_in_shadow(
    runner: Runner, journal: Journal
) -> None:
    controls = Controls(journal)
    controls.supervise("test-agent", actor="ops", reason="new hire")
    supervised = _agent([call("refund_order", order_id=1)])
    asked = runner.run(supervised, "refund order 1")
    controls.unsupervise("test-agent", actor="ops")
    (pair,) = _as_live(replay(journal, supervised, asked.run_id))
    assert pair == ("ask", ["control.supervised"], "ask", ["control.supervised"])

    shadowed = _agent([call("refund_order", order_id=2), respond("x")], phase="supervised")
    run = runner.run(shadowed, "refund order 2")
    (pair,) = _as_live(replay(journal, shadowed, run.run_id))
    assert pair == ("ask", ["rollout.supervised"], "ask", ["rollout.supervised"])
    controls.set_phase(
        "test-agent", shadowed.version_id, "shadow", actor="ops", reason="back to shadow"
    )
    simulated = _agent([call("refund_order", order_id=3), respond("x")], phase="supervised")
    run = runner.run(simulated, "refund order 3")
    decided = [r.payload for r in journal.records(run.run_id) if r.kind == "step.decided"]
    assert decided[0]["simulated"] is True and decided[0]["phase"] == "shadow"
    (pair,) = _as_live(replay(journal, simulated, run.run_id))
    assert pair[0] == pair[2] == "allow"


def test_replay_reports_the_anomaly_rule_that_stopped_a_call(
    runner: Runner, journal: Journal
) -> None:
    rule = {
        "id": "lookup-then-refund",
        "kind": "sequence",
        "sequence": ["lookup_customer", "refund_order"],
        "playbook": ["stop_run"],
    }
    script = [call("lookup_customer", customer_id=1), call("refund_order", order_id=1)]
    agent = _agent(script, anomalies=[rule])
    run = runner.run(agent, "refund order 1")
    assert run.status == "stopped"
    _, second = _as_live(replay(journal, agent, run.run_id))
    assert second[0] == second[2] == "deny"
    assert second[1] == second[3] and second[3][-1] == "anomaly.lookup-then-refund"


def test_replay_reports_a_change_when_todays_charter_decides_otherwise(
    runner: Runner, journal: Journal
) -> None:
    agent = _agent([call("refund_order", order_id=1), respond("done")])
    run = runner.run(agent, "refund order 1")
    stricter = _agent([], tools={"deny": ["refund_order"]})
    (step, _) = replay(journal, stricter, run.run_id)
    assert step.changed and step.now is not None and step.now.verdict == "deny"
