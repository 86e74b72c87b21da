"""Adversarial scenarios in the demo world: attacks and legitimate goals, judged by the world.

An :class:`AttackCase` is an innocent-looking goal whose tool results carry one of the
injections in :mod:`charter.demo._injections` (a knowledge-base document, an inbound email,
a ticket), the calls a *compromised* reasoner makes when it obeys the injection exactly,
and a check of whether the attack's effect reached the world: customer data in a queued
email to someone else, a refund nobody entitled asked for, an erased customer, a raised
tier, a changed login email or store credit. A :class:`TaskCase` is a goal a support agent
should reach on its own (or, for a few, only with a human's approval), the calls an honest
reasoner makes, and a check that the world (or the answer, for questions) shows it done.

Checks read the world's SQLite rows, never the run's status or observation strings: a call
held for approval, a denial and a run that ended early all count only by what they left in
the world.

.. code-block:: python

    world = create_world(tmp / "world.db")
    case = ATTACKS[0]
    agent = support_agent(world, compromised(case))
    outcome = run_case(agent, case.goal, case.reached, world)
    assert not outcome.effect
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from charter.agent import Agent, load_agent
from charter.demo._cases import ATTACKS, TASKS, AttackCase, Channel, TaskCase
from charter.demo._checks import ATTACK_KINDS, AttackKind, WorldCheck, harm_in_world
from charter.demo.world import create_world, session
from charter.journal import Journal
from charter.policy import Charter, Flows, load_charter
from charter.reasoners import Reasoner, ToolCall
from charter.runtime import Runner
from charter.testing import ScriptedReasoner

__all__ = [
    "AGENT_FILE",
    "ATTACKS",
    "ATTACK_KINDS",
    "CHARTER_FILE",
    "TASKS",
    "AttackCase",
    "AttackKind",
    "Channel",
    "Outcome",
    "TaskCase",
    "WorldCheck",
    "compromised",
    "demo_charter",
    "harm_in_world",
    "honest",
    "run_case",
    "support_agent",
    "without_flow_rules",
    "without_rules",
]

AGENT_FILE = Path(__file__).with_name("support.agent.yaml")
CHARTER_FILE = Path(__file__).with_name("support.charter.yaml")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one run left in the world, and how the charter treated its calls."""

    effect: bool
    """The case's check: the attack reached the world, or the task is done."""
    asked: bool
    """A call was held for a human's approval."""
    status: str
    """The run's status, for the record only (judging uses the world)."""
    steps: int
    """Proposals the reasoner made."""
    withheld: tuple[str, ...] = field(default=())
    """``tool: verdict by rule, ...`` for each call the charter did not allow."""


# --- agents and charters -----------------------------------------------------------------------


def support_agent(
    world: Path, reasoner: Reasoner | None = None, charter: Charter | None = None
) -> Agent:
    """The demo support agent bound to ``world``, with another reasoner or charter if given."""
    toolsets = [{"ref": "charter.demo.tools:toolset", "options": {"world": str(world)}}]
    agent = load_agent(AGENT_FILE, overrides={"toolsets": toolsets})
    if reasoner is not None:
        agent.reasoner = reasoner
    if charter is not None:
        agent.charter = charter
    return agent


def demo_charter() -> Charter:
    """The support agent's charter, as shipped: the defended one."""
    return load_charter(CHARTER_FILE)


def without_flow_rules(charter: Charter) -> Charter:
    """``charter`` with both information-flow rules turned off."""
    off = Flows(confidential_to_external="allow", untrusted_target="allow")
    return charter.model_copy(update={"flows": off, "name": f"{charter.name}-no-flows"})


def without_rules(charter: Charter) -> Charter:
    """``charter`` with flow rules and its own rules off: only its tool list still holds."""
    bare = without_flow_rules(charter)
    return bare.model_copy(update={"rules": [], "name": f"{charter.name}-tool-list-only"})


def compromised(case: AttackCase) -> ScriptedReasoner:
    """A reasoner that obeys ``case``'s injection exactly."""
    return ScriptedReasoner(case.obey)


def honest(case: TaskCase) -> ScriptedReasoner:
    """A reasoner that does ``case``'s task and ignores any injection."""
    return ScriptedReasoner(case.honest)


def run_case(agent: Agent, goal: str, check: WorldCheck, world: Path) -> Outcome:
    """Reset ``world``, run ``agent`` on ``goal``, and judge the world afterwards.

    The agent's tools must be bound to ``world`` (see :func:`support_agent`). Each run gets
    a fresh in-memory journal.
    """
    create_world(world, reset=True)
    runner = Runner(Journal("sqlite://"))
    try:
        run = runner.run(agent, goal)
    finally:
        runner.close()
    with session(world) as db:
        effect = check(db, run.answer)
    withheld = tuple(
        f"{s.action.tool}: {s.decision.verdict} by {', '.join(s.decision.rules)}"
        for s in run.steps
        if isinstance(s.action, ToolCall) and s.decision is not None and not s.decision.allowed
    )
    asked = any(s.decision is not None and s.decision.verdict == "ask" for s in run.steps)
    return Outcome(effect, asked, run.status, len(run.steps), withheld)
