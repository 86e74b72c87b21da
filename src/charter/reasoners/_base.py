"""What a reasoner sees and what it proposes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal, Protocol

from charter._json import JsonEncoder
from charter.tools import Tool

ObservationStatus = Literal["ok", "error", "timeout", "invalid_arguments", "unknown_tool", "denied"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A proposal to call ``tool`` with ``args``."""

    tool: str
    """Name of the tool."""
    args: dict[str, Any]
    """Raw arguments, not yet validated."""
    call_id: str = ""
    """Identifier an LLM API gave the call, echoed back with the observation."""


@dataclass(frozen=True, slots=True)
class FinalAnswer:
    """A proposal to end the run with ``text`` as the answer."""

    text: str
    """The answer given to whoever started the run."""


Action = ToolCall | FinalAnswer


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens a reasoner spent on one proposal."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Proposal:
    """One reasoning step's output: an action and what it cost."""

    action: Action
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    """Model that produced the proposal, when a model did."""
    sources: Mapping[str, tuple[int, ...]] | None = None
    """Value-level provenance, for reasoners that keep it (``plan``): for each argument,
    the steps whose outputs its value was computed from (empty: the goal or the
    reasoner's own constants). None: the proposal may draw on everything in its context,
    so every argument carries the context's label."""


_RENDER = JsonEncoder()


@dataclass(frozen=True, slots=True)
class Observation:
    """What the reasoner learns after a proposed call: a result, an error, or a denial."""

    status: ObservationStatus
    content: Any
    """JSON-ready result on ``ok``; a message string otherwise."""

    def render(self, limit: int = 4000) -> str:
        """Compact text for a prompt; long content is cut with a marker."""
        if self.status == "ok":
            text = _RENDER.encode(self.content)
        else:
            text = f"{self.status}: {self.content}"
        return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} chars cut]"


@dataclass(frozen=True, slots=True)
class Turn:
    """A past step as the reasoner sees it."""

    call: ToolCall
    observation: Observation


@dataclass(slots=True)
class RunContext:
    """Everything a reasoner may use to propose the next action."""

    goal: str
    instructions: str
    tools: list[Tool]
    turns: list[Turn] = field(default_factory=lambda: [])
    run_id: str = ""
    scope: tuple[str, ...] | None = None
    """Tool name patterns (shell globbing) the run's task scope lets it call, where a call
    outside them is denied; None: no scope, or one that asks a person instead. Fixed from
    the trusted goal before the run read anything, so a reasoner may offer only these."""

    def offered_tools(self) -> list[Tool]:
        """The tools a proposal can usefully name: within :attr:`scope`, in ``tools`` order."""
        if self.scope is None:
            return list(self.tools)
        return [t for t in self.tools if any(fnmatchcase(t.name, p) for p in self.scope)]


class Reasoner(Protocol):
    """Proposes the next action of a run. Implementations: rules, llm, local, scripted."""

    kind: str
    """Short name journaled with each proposal (``rules``, ``llm``, ``local``, ...)."""

    def propose(self, context: RunContext) -> Proposal:
        """Return the next action; raise ``ReasonerUnavailableError`` if it cannot."""
        ...

    def describe(self) -> dict[str, Any]:
        """Configuration worth journaling (never secrets)."""
        ...
