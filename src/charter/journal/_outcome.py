"""A finished run's outcome: what it achieved, beside how its lifecycle ended.

A run's lifecycle status (``running``, ``waiting``, ``completed``, ``failed``, ``stopped``)
says whether it is still going and how it stopped; ``completed`` only means the agent gave a
final answer, which it also does after the charter refused half its calls. The outcome
says what came of it, from its records, with this precedence (the first that applies):

1. ``rolled_back``: a rollback (the charter's ``rollback_on`` or ``charter runs
   rollback``) compensated at least one of its writes, so what it did no longer stands
   (``rollback.finished`` says whether anything was left for a human);
2. ``failed``: the run failed, or a tool call failed: an error, a timeout, or a write left
   in doubt;
3. ``denied``: a call was refused: a charter rule or flow, a revocation, ``policy.error``,
   an anomaly playbook, an approver's denial, an expired or rejected approval, a budget
   that stopped the run (or that an approver would not extend);
4. ``cancelled``: an operator cancelled it;
5. ``stopped``: it stopped otherwise (its agent was paused);
6. ``succeeded``: it completed, nothing was refused and every tool call that ran worked.

A proposal that named an unknown tool or gave invalid arguments is the reasoner's mistake,
seen and corrected within the run: it never reached the charter or a tool, and does not
change the outcome. Nor does a simulated call (shadow phase).

The runner journals the outcome in ``run.finished`` (key ``outcome``) and a rollback in
``rollback.finished``; readers take the newest journaled one, and derive it with the same
rules from a run's records for journals written before either carried it. Every surface
(CLI exit status, API, dashboard, report, advisor, rollout KPIs, traces, evals) reads it
from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, get_args

if TYPE_CHECKING:  # the models are types only here: a run listing loads none of them
    from charter.journal._kinds import (
        RollbackFinished,
        RunFinished,
        StepDecided,
        StepEffect,
        StepObserved,
    )

Outcome = Literal["succeeded", "denied", "failed", "rolled_back", "cancelled", "stopped"]
"""What a finished run achieved (see the module's precedence)."""
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)

_TOOL_FAILURES = frozenset({"error", "timeout", "in_doubt"})
_REFUSALS = frozenset({"approval.rejected", "approval.denied", "approval.expired"})
_EVIDENCE = _REFUSALS | {
    "step.decided",
    "step.observed",
    "step.effect",
    "budget.exceeded",
    "budget.extended",
    "run.cancelled",
    "run.finished",
    "rollback.finished",
}
"""The kinds that bear on an outcome; the runner adds every record it journals, so the
rest are passed over with one set lookup."""


class _Journaled(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def payload(self) -> dict[str, Any]: ...


@dataclass(slots=True)
class OutcomeTally:
    """The evidence of one run's outcome, gathered record by record (the runner feeds it
    as it journals; readers feed it a run's records)."""

    status: str | None = None
    """The lifecycle status its ``run.finished`` journaled; None until it finished."""
    journaled: Outcome | None = None
    """The newest outcome a ``run.finished`` or ``rollback.finished`` journaled."""
    tool_failed: bool = False
    denied: bool = False
    budget_stopped: bool = False
    """A budget was exceeded and not (yet) extended."""
    cancelled: bool = False
    rolled_back: bool = False

    def add(self, kind: str, payload: Mapping[str, Any]) -> None:
        """Take one of the run's records, in journal order."""
        if kind not in _EVIDENCE:
            return
        match kind:
            case "step.decided":
                self.denied |= cast("StepDecided", payload).get("verdict") == "deny"
            case "step.observed":
                self.denied |= cast("StepObserved", payload).get("status") == "denied"
            case "step.effect":
                effect = cast("StepEffect", payload)
                self.tool_failed |= (
                    effect.get("status") in _TOOL_FAILURES or effect.get("in_doubt") is True
                )
            case "budget.exceeded":
                self.budget_stopped = True
            case "budget.extended":
                self.budget_stopped = False
            case "run.cancelled":
                self.cancelled = True
            case "run.finished":
                finished = cast("RunFinished", payload)
                self.status = str(finished.get("status"))
                self.journaled = _known(finished.get("outcome"))
            case "rollback.finished":
                undone = cast("RollbackFinished", payload)
                outcomes: Mapping[str, Any] = undone.get("outcomes") or {}
                self.rolled_back |= int(outcomes.get("compensated") or 0) > 0
                self.journaled = _known(undone.get("outcome")) or self.journaled
            case _ if kind in _REFUSALS:
                self.denied = True
            case _:
                pass

    def outcome(self, status: str | None = None) -> Outcome | None:
        """The outcome of a run that ended in ``status`` (default: as journaled); None
        while it runs or waits. A journaled outcome is taken as it is, unless a
        rollback without one (an older journal) came after it."""
        status = status or self.status
        if status is None or status in ("running", "waiting"):
            return None
        stale = self.rolled_back and self.journaled != "rolled_back"
        if self.journaled is not None and not stale:
            return self.journaled
        if self.rolled_back:
            return "rolled_back"
        if status == "failed" or self.tool_failed:
            return "failed"
        if self.denied or self.budget_stopped:
            return "denied"
        if self.cancelled:
            return "cancelled"
        if status != "completed":
            return "stopped"
        return "succeeded"


def _known(value: Any) -> Outcome | None:
    return value if value in OUTCOMES else None


def run_outcome(records: Iterable[_Journaled]) -> Outcome | None:
    """The outcome of the run whose records (in journal order) these are; None while it
    runs or waits."""
    tally = OutcomeTally()
    for record in records:
        tally.add(record.kind, record.payload)
    return tally.outcome()
