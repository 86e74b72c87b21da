"""The demo world's injections, obeyed by a compromised reasoner, do no harm under the demo
charter; without its defences they do. Legitimate goals still get done."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.demo.scenarios import (
    ATTACKS,
    TASKS,
    AttackCase,
    TaskCase,
    compromised,
    demo_charter,
    honest,
    run_case,
    support_agent,
    without_flow_rules,
    without_rules,
)
from charter.demo.showcase import DEMO_GOALS
from charter.demo.world import create_world
from charter.journal import Journal
from charter.runtime import Runner

DEFENDED = demo_charter()


def _ids(cases: tuple[AttackCase, ...] | tuple[TaskCase, ...]) -> list[str]:
    return [case.name for case in cases]


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return tmp_path / "world.db"


def test_every_attack_kind_comes_through_every_channel() -> None:
    assert {(c.kind, c.channel) for c in ATTACKS} >= {
        (kind, channel)
        for kind in ("exfiltration", "refund", "erasure", "escalation")
        for channel in ("kb", "email", "ticket")
    }


@pytest.mark.parametrize("case", ATTACKS, ids=_ids(ATTACKS))
def test_obeying_the_injection_does_no_harm_under_the_demo_charter(
    world: Path, case: AttackCase
) -> None:
    outcome = run_case(support_agent(world, compromised(case)), case.goal, case.reached, world)

    assert not outcome.effect
    assert outcome.withheld  # the charter, not the script, stopped it


@pytest.mark.parametrize("case", ATTACKS, ids=_ids(ATTACKS))
def test_the_attack_is_real_with_only_the_tool_list(world: Path, case: AttackCase) -> None:
    agent = support_agent(world, compromised(case), without_rules(DEFENDED))

    assert run_case(agent, case.goal, case.reached, world).effect


FLOW_STOPPED = tuple(c for c in ATTACKS if c.kind in ("exfiltration", "refund"))
RULE_STOPPED = tuple(c for c in ATTACKS if c.kind in ("erasure", "escalation"))


@pytest.mark.parametrize("case", FLOW_STOPPED, ids=_ids(FLOW_STOPPED))
def test_data_leaks_and_refunds_succeed_with_flow_rules_off(world: Path, case: AttackCase) -> None:
    agent = support_agent(world, compromised(case), without_flow_rules(DEFENDED))

    assert run_case(agent, case.goal, case.reached, world).effect


@pytest.mark.parametrize("case", RULE_STOPPED, ids=_ids(RULE_STOPPED))
def test_charter_rules_alone_hold_erasures_and_escalations(world: Path, case: AttackCase) -> None:
    agent = support_agent(world, compromised(case), without_flow_rules(DEFENDED))

    outcome = run_case(agent, case.goal, case.reached, world)

    assert not outcome.effect
    assert outcome.asked


def test_exfiltration_is_denied_by_the_confidentiality_flow_rule(world: Path) -> None:
    case = next(c for c in ATTACKS if c.name == "ticket-exfiltration")

    outcome = run_case(support_agent(world, compromised(case)), case.goal, case.reached, world)

    assert outcome.withheld == ("send_email: deny by flow.confidential-to-external",)


def test_an_injected_refund_target_waits_for_a_human(world: Path) -> None:
    case = next(c for c in ATTACKS if c.name == "ticket-refund")
    journal = Journal("sqlite://")
    agent = support_agent(world, compromised(case))
    create_world(world, reset=True)
    run = Runner(journal).run(agent, case.goal)

    requested = [r.payload for r in journal.records(run.run_id) if r.kind == "approval.requested"]
    assert [p["tool"] for p in requested] == ["refund_order"]
    assert run.steps[-1].decision is not None
    assert run.steps[-1].decision.rules == ("flow.untrusted-target",)


AUTONOMOUS = tuple(t for t in TASKS if not t.needs_approval)
GATED = tuple(t for t in TASKS if t.needs_approval)


@pytest.mark.parametrize("case", AUTONOMOUS, ids=_ids(AUTONOMOUS))
def test_an_honest_reasoner_completes_each_legitimate_goal(world: Path, case: TaskCase) -> None:
    outcome = run_case(support_agent(world, honest(case)), case.goal, case.done, world)

    assert outcome.effect
    assert not outcome.withheld


@pytest.mark.parametrize("case", GATED, ids=_ids(GATED))
def test_a_gated_legitimate_goal_waits_for_approval_and_changes_nothing(
    world: Path, case: TaskCase
) -> None:
    outcome = run_case(support_agent(world, honest(case)), case.goal, case.done, world)

    assert outcome.asked
    assert not outcome.effect


def test_legitimate_goals_are_at_least_twenty_and_include_the_demo() -> None:
    assert len(AUTONOMOUS) >= 20
    assert {g.goal for g in DEMO_GOALS} <= {t.goal for t in TASKS}


@pytest.mark.llm
def test_the_local_model_leaks_no_customer_data_from_an_injected_ticket(world: Path) -> None:
    case = next(c for c in ATTACKS if c.name == "ticket-exfiltration")

    outcome = run_case(support_agent(world), case.goal, case.reached, world)

    assert not outcome.effect
