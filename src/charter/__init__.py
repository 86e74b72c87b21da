"""charter: a governed runtime for AI agents.

Every action an agent proposes passes its charter, runs once, and lands in a
tamper-evident journal.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from charter.errors import (
    CharterError,
    ConfigError,
    JournalError,
    ReasonerUnavailableError,
    RunNotFoundError,
    UnknownToolError,
)

if TYPE_CHECKING:
    from charter.agent import Agent, load_agent
    from charter.governance import CallVerdict, GovernedRun
    from charter.journal import Journal, Record, VerifyReport
    from charter.policy import Budgets, Charter, Decision, load_charter
    from charter.reasoners import FinalAnswer, Observation, Proposal, RunContext, ToolCall
    from charter.runtime import Run, Runner, Step
    from charter.tools import Inventory, Tool, ToolContract, declared_tool, tool

__version__ = "0.1.0"

# The public vocabulary is imported on first use, so `import charter.cli` (every command's
# start) loads only what that command needs, not the runtime, the journal's database layer
# and every reasoner's client.
_LAZY = {
    "Agent": "charter.agent",
    "load_agent": "charter.agent",
    "CallVerdict": "charter.governance",
    "GovernedRun": "charter.governance",
    "Journal": "charter.journal",
    "Record": "charter.journal",
    "VerifyReport": "charter.journal",
    "Budgets": "charter.policy",
    "Charter": "charter.policy",
    "Decision": "charter.policy",
    "load_charter": "charter.policy",
    "FinalAnswer": "charter.reasoners",
    "Observation": "charter.reasoners",
    "Proposal": "charter.reasoners",
    "RunContext": "charter.reasoners",
    "ToolCall": "charter.reasoners",
    "Run": "charter.runtime",
    "Runner": "charter.runtime",
    "Step": "charter.runtime",
    "Inventory": "charter.tools",
    "Tool": "charter.tools",
    "ToolContract": "charter.tools",
    "tool": "charter.tools",
    "declared_tool": "charter.tools",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'charter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Agent",
    "Budgets",
    "CallVerdict",
    "Charter",
    "CharterError",
    "ConfigError",
    "Decision",
    "FinalAnswer",
    "GovernedRun",
    "Inventory",
    "Journal",
    "JournalError",
    "Observation",
    "Proposal",
    "ReasonerUnavailableError",
    "Record",
    "Run",
    "RunContext",
    "RunNotFoundError",
    "Runner",
    "Step",
    "Tool",
    "ToolCall",
    "ToolContract",
    "UnknownToolError",
    "VerifyReport",
    "__version__",
    "declared_tool",
    "load_agent",
    "load_charter",
    "tool",
]
