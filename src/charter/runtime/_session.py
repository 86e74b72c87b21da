"""One run in progress (its state and the records not yet flushed), and run ids."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from charter.agent import Agent
from charter.journal import Record
from charter.journal._kinds import Entry, Payload, ProposedAction, RunFinished
from charter.journal._lease import Lease
from charter.journal._outcome import OutcomeTally
from charter.policy import BudgetMeter
from charter.policy._scope import TaskScope
from charter.reasoners._base import (
    FinalAnswer,
    Observation,
    RunContext,
    ToolCall,
)
from charter.runtime._anomaly import JournalRateLimiter
from charter.runtime._ledger import (
    EffectLedger,
)
from charter.runtime._provenance import RunLabels
from charter.runtime._run import Run

RecordListener = Callable[[Record], None]


def new_run_id() -> str:
    """A 32-hex-digit id that sorts by creation time (journal indexes grow at the end)."""
    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


@dataclass(slots=True)
class Session:
    """One run in progress: its state and the records not yet flushed."""

    agent: Agent
    run: Run
    context: RunContext
    meter: BudgetMeter
    labels: RunLabels
    actor: str
    completed: set[str] = field(default_factory=lambda: set[str]())
    """Canonical write calls that took effect, for the repeat rule."""
    calls: list[str] = field(default_factory=lambda: [])
    """Tools that ran, in order, for sequence anomalies."""
    fired: set[str] = field(default_factory=lambda: set[str]())
    """Anomaly rules that fired in this run."""
    pending: list[Entry] = field(default_factory=lambda: [])
    limiter: JournalRateLimiter | None = None
    """Counts the agent's calls against its rate limits, from the journal."""
    ledger: EffectLedger = field(default_factory=EffectLedger)
    """Idempotency keys and in-doubt writes."""
    rendered: tuple[Observation, str] | None = None
    """The latest tool output and its rendered text, rendered once for labels and record."""
    lease: Lease | None = None
    """This process's lease on the run: every flush is fenced by it."""
    tally: OutcomeTally = field(default_factory=OutcomeTally)
    """The evidence of the run's outcome, from every record it journaled."""
    scope: TaskScope | None = None
    """What the run may do, fixed from its goal when it started (``run.scoped``)."""
    parent: Session | None = None
    """The run that delegated this one to its agent (a sub-agent's run), if any."""
    version_id: str = field(init=False)
    """The agent's exact version, which rollout phases belong to."""

    def __post_init__(self) -> None:
        self.version_id = self.agent.version_id

    def ancestors(self) -> list[Session]:
        """The runs that delegated this one, nearest first (empty for a run of its own)."""
        found: list[Session] = []
        above = self.parent
        while above is not None:
            found.append(above)
            above = above.parent
        return found

    def record(self, kind: str, payload: Payload) -> None:
        self.pending.append((self.run.run_id, kind, payload))
        self.tally.add(kind, payload)


def action_json(action: ToolCall | FinalAnswer) -> ProposedAction:
    if isinstance(action, FinalAnswer):
        return {"answer": action.text}
    return {"tool": action.tool, "args": action.args}


def active_seconds(meter: BudgetMeter) -> float:
    return round(time.monotonic() - meter.started, 3)


def finish_payload(session: Session) -> RunFinished:
    run, meter = session.run, session.meter
    run.tokens, run.cost_usd = meter.tokens, meter.cost_usd
    run.outcome = session.tally.outcome(run.status)
    verdicts = [s.decision.verdict for s in run.steps if s.decision is not None]
    return {
        "agent": session.agent.name,
        "version_id": session.version_id,
        "denied": verdicts.count("deny"),
        "asked": verdicts.count("ask"),
        "status": run.status,
        "answer": run.answer,
        "error": run.error,
        "steps": meter.steps,
        "tokens": meter.tokens,
        "cost_usd": round(meter.cost_usd, 6),
        "outcome": run.outcome,
    }
