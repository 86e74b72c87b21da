"""Govern a Pydantic AI agent's tool calls with charter (``pip install 'charter[pydantic-ai]'``).

Built against pydantic-ai-slim 2.68.0. The agent stays as written; each run goes through
one governed run of charter::

    from charter import Journal
    from charter.integrations.pydantic_ai import approvals, govern

    governed = govern(agent, journal=Journal("sqlite:///charter.db"),
                      charter="refund.charter.yaml")       # contracts: keyed by tool names
    result = governed.run_sync("Refund order 1042: arrived damaged")
    if isinstance(result.output, DeferredToolRequests):     # a call waits for a person
        ...  # `charter approvals approve apr-...` in any process, then, in any process:
        result = governed.run_sync(message_history=messages,
                                   deferred_tool_results=approvals(result.output))

Every tool call (function tools and toolsets alike) is governed before it runs: an
allowed call runs and its output is journaled with its contract's labels; a denial is a
``ToolFailed`` the model sees; an ``ask`` is a Pydantic AI approval request whose answer
is charter's signed receipt, checked against exactly the call about to run; the kill
switch and budgets end the run with :class:`RunStoppedError`.
"""

from __future__ import annotations

import importlib

try:
    importlib.import_module("pydantic_ai")
except ImportError as exc:
    raise ImportError(
        "Pydantic AI agents need the pydantic-ai extra: pip install 'charter[pydantic-ai]'"
    ) from exc

from charter.integrations.pydantic_ai._agent import (
    FrameworkReasoner,
    GovernedAgent,
    approvals,
    charter_agent,
    govern,
)
from charter.integrations.pydantic_ai._toolset import (
    AFTER_KEY,
    REQUEST_KEY,
    RUN_KEY,
    CharterCapability,
    Gate,
    GovernedToolset,
    RunStoppedError,
)

__all__ = [
    "AFTER_KEY",
    "REQUEST_KEY",
    "RUN_KEY",
    "CharterCapability",
    "FrameworkReasoner",
    "Gate",
    "GovernedAgent",
    "GovernedToolset",
    "RunStoppedError",
    "approvals",
    "charter_agent",
    "govern",
]
