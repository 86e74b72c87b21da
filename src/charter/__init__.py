"""charter: a governed runtime for AI agents.

Every action an agent proposes passes its charter, runs once, and lands in a
tamper-evident journal.
"""

from charter.agent import Agent, load_agent
from charter.errors import (
    CharterError,
    ConfigError,
    JournalError,
    ReasonerUnavailableError,
    RunNotFoundError,
    UnknownToolError,
)
from charter.journal import Journal, Record, VerifyReport
from charter.policy import Budgets, Charter, Decision, load_charter
from charter.reasoners import FinalAnswer, Observation, Proposal, RunContext, ToolCall
from charter.runtime import Run, Runner, Step
from charter.tools import Inventory, Tool, ToolContract, tool

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "Budgets",
    "Charter",
    "CharterError",
    "ConfigError",
    "Decision",
    "FinalAnswer",
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
    "load_agent",
    "load_charter",
    "tool",
]
