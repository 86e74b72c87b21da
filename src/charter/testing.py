"""Test your agents without a model: a scripted reasoner and small helpers.

.. code-block:: python

    from charter.testing import ScriptedReasoner, call, make_agent, respond
    from charter import Journal, Runner

    agent = make_agent([lookup_order], ScriptedReasoner([
        call("lookup_order", order_id=1042),
        respond("Order 1042 is delivered."),
    ]))
    run = Runner(Journal("sqlite://")).run(agent, "Where is order 1042?")
    assert run.status == "completed"

A script item may also be a function of the :class:`~charter.reasoners.RunContext`, to
react to what earlier steps observed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from charter.agent import Agent, Delegate, delegate_tool
from charter.errors import CharterError
from charter.journal import Journal
from charter.policy import Charter
from charter.reasoners import Action, FinalAnswer, Proposal, RunContext, ToolCall, Usage
from charter.tools import Inventory, Tool

ScriptItem = Action | Callable[[RunContext], Action]


class ScriptExhaustedError(CharterError):
    """The agent asked for more steps than the script has."""


def call(tool: str, /, **args: Any) -> ToolCall:
    """A scripted proposal to call ``tool`` with ``args``."""
    return ToolCall(tool, args)


def respond(text: str) -> FinalAnswer:
    """A scripted final answer."""
    return FinalAnswer(text)


class ScriptedReasoner:
    """Proposes the scripted actions in order, one per step.

    Args:
        script: actions, or functions from the run context to an action.
        tokens_per_step: usage reported per proposal (to exercise token budgets).
    """

    kind = "scripted"

    def __init__(self, script: Iterable[ScriptItem], *, tokens_per_step: int = 0) -> None:
        self.script: list[ScriptItem] = list(script)
        self.tokens_per_step = tokens_per_step
        self.contexts: list[RunContext] = []
        """Every context the reasoner was asked about, for assertions."""

    def describe(self) -> dict[str, Any]:
        """Journaled configuration."""
        return {"kind": self.kind, "steps": len(self.script)}

    def propose(self, context: RunContext) -> Proposal:
        """The next scripted action (its index is the number of turns so far)."""
        self.contexts.append(context)
        index = len(context.turns)
        if index >= len(self.script):
            raise ScriptExhaustedError(
                f"scripted reasoner: step {index + 1} requested but the script has "
                f"{len(self.script)} item(s)"
            )
        item = self.script[index]
        action = item if isinstance(item, ToolCall | FinalAnswer) else item(context)
        return Proposal(action, Usage(completion_tokens=self.tokens_per_step), "scripted")


def make_agent(
    tools: Sequence[Tool],
    reasoner: Any,
    *,
    charter: Charter | None = None,
    name: str = "test-agent",
    instructions: str = "",
    delegates: Mapping[str, Agent] | None = None,
) -> Agent:
    """An agent over ``tools`` with a permissive charter unless one is given.

    ``delegates``: sub-agents it may hand tasks to, by the name of the tool that calls
    each (as an agent file's ``delegate:`` entries).
    """
    inventory = Inventory(tools)
    for tool_name, child in (delegates or {}).items():
        inventory.add(delegate_tool(tool_name, child.description, child))
    return Agent(
        name=name,
        instructions=instructions,
        inventory=inventory,
        reasoner=reasoner,
        charter=charter or Charter(name=f"{name}-charter"),
        delegates={n: Delegate(n, child) for n, child in (delegates or {}).items()},
    )


def record_kinds(journal: Journal, run_id: str) -> list[str]:
    """Kinds of a run's records in order, e.g. to assert what was journaled."""
    return [r.kind for r in journal.records(run_id)]
