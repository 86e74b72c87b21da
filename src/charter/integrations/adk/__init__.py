"""Govern a Google ADK agent's tool calls with charter (``pip install 'charter[adk]'``).

Built against google-adk 2.13. A Runner plugin asks charter before every tool call the
agent makes: the tool runs only when charter allows it, its result is journaled with its
contract's labels (so flow rules hold for later calls), a denial is the tool response
``{"error": ...}`` the model reads, and an ``ask`` is ADK's tool confirmation, answered
once the approval is decided in charter (CLI, API, dashboard)::

    from google.adk.apps import App
    from google.adk.runners import Runner
    from charter import Journal
    from charter.integrations.adk import confirmation_message, govern

    plugin = govern(root_agent, journal=Journal("sqlite:///charter.db"),
                    charter="refunds.charter.yaml")   # contracts: keyed by tool name
    runner = Runner(app=App(name="shop", root_agent=root_agent, plugins=[plugin]),
                    session_service=session_service)
    ...                                                # the run pauses on a refund
    message = confirmation_message(session)            # after `charter approvals approve`
    async for event in runner.run_async(user_id=..., session_id=..., new_message=message):
        ...

Tools the charter's ``contracts:`` does not name are denied. A call charter answers
itself is answered with what it got: a ``delegate:`` tool of a delegating charter agent
(``CharterPlugin(journal, agent)``) with its sub-agent run's result, a shadow-phase call
with its simulation; a child's approval is the call's confirmation. A toolset's tools (a
``BaseToolset`` of function tools, an ``McpToolset``) are governed alike, named as ADK
names them (with the toolset's prefix): the toolset is asked for its tools once, when
the plugin is built. Token usage comes from each
model response's ``usage_metadata``; the kill switch, revocations, budgets and rate
limits apply from the next call, and a stopped run ends the invocation.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

try:
    importlib.import_module("google.adk")
except ImportError as exc:
    raise ImportError("ADK agents need the adk extra: pip install 'charter[adk]'") from exc

from google.adk.agents import LlmAgent

from charter.integrations.adk._answer import release_answer
from charter.integrations.adk._confirm import (
    CONFIRMATION_CALL,
    confirmation_message,
    pending_confirmations,
)
from charter.integrations.adk._plugin import REQUEST_KEY, RUN_KEY, CharterPlugin
from charter.integrations.adk._testing import ScriptedLlm, ScriptTurn, tool_responses
from charter.integrations.adk._tools import adk_tools, args_schema, charter_agent
from charter.journal import Journal
from charter.policy import Charter


def govern(
    adk_agent: LlmAgent,
    *,
    journal: Journal,
    charter: Charter | str | Path,
    name: str | None = None,
    compensate: Mapping[str, Callable[..., Any]] | None = None,
    actor: str = "adk",
) -> CharterPlugin:
    """The plugin governing ``adk_agent``'s tools under ``charter`` (a :class:`Charter`
    or a YAML file); add it to the Runner's ``App(plugins=[...])``. See
    :func:`charter_agent` for ``name`` and ``compensate``."""
    agent = charter_agent(adk_agent, charter, name=name, compensate=compensate)
    return CharterPlugin(journal, agent, actor=actor)


__all__ = [
    "CONFIRMATION_CALL",
    "REQUEST_KEY",
    "RUN_KEY",
    "CharterPlugin",
    "ScriptTurn",
    "ScriptedLlm",
    "adk_tools",
    "args_schema",
    "charter_agent",
    "confirmation_message",
    "govern",
    "pending_confirmations",
    "release_answer",
    "tool_responses",
]
