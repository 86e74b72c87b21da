"""Runs and steps: the in-memory view of one agent run (the journal is the durable one)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from charter.journal._outcome import Outcome
from charter.policy import Decision, Label
from charter.reasoners._base import Action, Observation, Usage

RunStatus = Literal["running", "waiting", "completed", "failed", "stopped"]
"""``completed``: the agent gave a final answer; ``waiting``: an approval request is open
(resume the run once it is decided); ``stopped``: a budget or an operator ended it;
``failed``: the reasoner could not continue or the run was interrupted."""


@dataclass(slots=True)
class Step:
    """One proposal and what became of it."""

    index: int
    action: Action
    usage: Usage
    decision: Decision | None = None
    """None when there was nothing to govern (a final answer, an unknown tool, bad args)."""
    observation: Observation | None = None
    sources: Mapping[str, tuple[int, ...]] | None = None
    """The proposal's value-level provenance, when its reasoner keeps one."""
    labels: Mapping[str, Label] | None = None
    """Each argument's information-flow label, once the call was labelled."""
    masked: Sequence[Mapping[str, Any]] = ()
    """For a call taken up from the journal: what its journaled proposal masked (rule,
    path, placeholder, digest, the argument's label), its values held by no one."""


@dataclass(slots=True)
class Run:
    """The outcome of one run of an agent on a goal."""

    run_id: str
    agent: str
    goal: str
    status: RunStatus = "running"
    answer: str | None = None
    error: str | None = None
    steps: list[Step] = field(default_factory=lambda: [])
    tokens: int = 0
    cost_usd: float = 0.0
    waiting_for: str | None = None
    """Id of the approval request a ``waiting`` run waits for."""
    rolled_back: bool = False
    """Its charter's ``rollback_on`` undid its writes when it ended (see the journal's
    ``rollback.*`` records for what could not be undone)."""
    outcome: Outcome | None = None
    """What it achieved once finished (``succeeded``, ``denied``, ``failed``,
    ``rolled_back``, ``cancelled``, ``stopped``; see :mod:`charter.journal._outcome`);
    None while it runs or waits."""
