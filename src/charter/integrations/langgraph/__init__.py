"""Govern a LangGraph agent's tool calls with charter (``pip install 'charter[langgraph]'``).

Built against LangGraph 1.2 (``ToolNode(wrap_tool_call=...)``, ``interrupt``/``Command``)
and langchain-core 1.8. The tools stay as they are; the charter names them, with their
contracts, under ``contracts:`` by their LangChain names (a tool it does not name is
denied)::

    from langgraph.prebuilt import create_react_agent
    from charter import Journal
    from charter.integrations.langgraph import govern, resume_command

    governor = govern([lookup_order, refund_order], journal=Journal("sqlite:///charter.db"),
                      charter="refunds.charter.yaml", name="refunds")
    graph = create_react_agent(model, governor.tool_node, checkpointer=saver)
    config = {"configurable": {"thread_id": "t-1"}}
    result = governor.invoke(graph, {"messages": [("user", "refund order 1042")]}, config)
    # an ask interrupts: result["__interrupt__"][0].value["request_id"] is charter's request;
    # once `charter approvals approve <id>` is done (any process), resume the thread:
    result = governor.invoke(graph, resume_command(request_id), config)

``graph.ainvoke`` (async tools) is governed alike; a graph driven otherwise ends each
turn's run with ``governor.finish(graph, config)``. ``governor.stream``/``astream`` stream a
turn and finish it; under ``flows.answer: redact``, ``ask`` or ``deny`` they hold the answer's
events back until the run has governed it (a graph's own ``stream`` does not).

A node of your own that calls tools itself calls the ones ``governor.governed_tools()``
returns (``tool.invoke(args)``): each call is governed in the turn's run like the tool
node's, an ``ask`` interrupts the graph, a refusal raises ``ToolCallRefused``. Under
``governor.invoke`` (or a config from ``governor.guarded(config)``) a tool a node starts
without charter raises ``UngovernedToolCall`` before it runs; a tool's function called
as plain Python is beyond what LangChain's callbacks see.

Each tool call is governed first and runs only when charter allows it; its output's
labels flow into later calls; a denial reaches the model as a ``ToolMessage`` with
``status="error"``; token usage comes from ``AIMessage.usage_metadata``; a stopped run
(kill switch, budget) raises :class:`GovernedRunStopped` out of the graph.
"""

from __future__ import annotations

import importlib

try:
    importlib.import_module("langgraph.prebuilt")
    importlib.import_module("langchain_core")
except ImportError as exc:
    raise ImportError(
        "the LangGraph integration needs the langgraph extra: pip install 'charter[langgraph]'"
    ) from exc

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool

from charter.agent import Agent
from charter.integrations.langgraph._direct import GovernedTool, ToolCallRefused
from charter.integrations.langgraph._governor import (
    GovernedRunStopped,
    LangGraphGovernor,
    approval_payload,
    iter_interrupts,
    resume_command,
)
from charter.integrations.langgraph._guard import UngovernedToolCall
from charter.integrations.langgraph._tools import LangGraphReasoner, build_agent
from charter.journal import Journal
from charter.policy import Charter


def govern(
    tools: Sequence[BaseTool],
    *,
    journal: Journal,
    charter: Charter | str | Path | None = None,
    agent: Agent | None = None,
    name: str = "langgraph-agent",
    goal: str | None = None,
    actor: str = "",
    compensate: Mapping[str, Callable[..., Any]] | None = None,
) -> LangGraphGovernor:
    """Govern ``tools`` (LangChain tools, e.g. ``@tool`` functions) under a charter.

    Args:
        tools: the graph's tools, as given to ``ToolNode`` / ``create_react_agent``.
        journal: where runs are journaled (the same journal resumes them elsewhere).
        charter: the charter (object or YAML path); its ``contracts:`` names the tools.
        agent: instead of ``charter``, a charter agent whose inventory names the tools.
        name: the agent identity runs are journaled under (kill switch, rate limits).
        goal: the runs' goal; default: each turn's human message.
        actor: who starts the runs.
        compensate: tool name → callable undoing a completed call (``result=`` and its
            arguments), so a rollback can undo it.

    Raises:
        ConfigError: the charter names a tool not given, or neither/both of ``charter``
            and ``agent`` are given.
    """
    from charter.errors import ConfigError

    if (charter is None) == (agent is None):
        raise ConfigError("govern(): give exactly one of charter= or agent=")
    if agent is None:
        assert charter is not None
        agent = build_agent(tools, charter, name=name, compensate=compensate)
    return LangGraphGovernor(journal, agent, tools, goal=goal, actor=actor)


__all__ = [
    "GovernedRunStopped",
    "GovernedTool",
    "LangGraphGovernor",
    "LangGraphReasoner",
    "ToolCallRefused",
    "UngovernedToolCall",
    "approval_payload",
    "build_agent",
    "govern",
    "iter_interrupts",
    "resume_command",
]
