"""The read model behind the HTTP API and the dashboard: views computed from the journal.

Every function here reads; none appends. Each reads only what its view needs, through the
journal's ``(kind, seq)`` and ``(run_id, seq)`` indexes: a page of runs is one walk of
``run.started`` newest first plus two or three queries restricted to the page's runs, so
its cost follows the page, not the journal. The models are Pydantic, so the API can return
them as they are. Aggregates (costs, agents, tools, metrics) live in
:mod:`charter.views._costs`, the audit status in :mod:`charter.views._audit`;
both are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Connection, case, func, or_, select

from charter.errors import RunNotFoundError
from charter.journal import (
    DamagedRecordError,
    Journal,
    Record,
    canonical_json,
    decode,
    read_record,
)
from charter.journal._finding import may_have_status as _may_have_status
from charter.journal._kinds import (
    ApprovalRequested,
    RunStarted,
    StepDecided,
    StepEffect,
    StepObserved,
    StepProposed,
    payload_as,
)
from charter.journal._outcome import Outcome
from charter.journal._store import records_table
from charter.views._audit import AuditProblem, AuditStatus, UnsignedRun, audit_status
from charter.views._costs import (
    RUN_STATUSES,
    AgentVersion,
    AgentView,
    CostPoint,
    Revocation,
    ToolInfo,
    ToolView,
    agents,
    cost_by,
    metrics,
    prometheus_text,
    tools_inventory,
    unindexed,
)
from charter.views._redactions import RedactionView, add_redactions
from charter.views._summary import DENY as _DENY
from charter.views._summary import Started as _Started
from charter.views._summary import chunks as _chunks
from charter.views._summary import started as _started
from charter.views._summary import summaries

__all__ = [
    "RUN_STATUSES",
    "AgentVersion",
    "AgentView",
    "ApprovalView",
    "AuditProblem",
    "AuditStatus",
    "CostPoint",
    "DecisionView",
    "EffectView",
    "EventView",
    "Revocation",
    "RunDetail",
    "RunSummary",
    "StepView",
    "ToolInfo",
    "ToolView",
    "UnsignedRun",
    "Violation",
    "agents",
    "audit_status",
    "cost_by",
    "list_runs",
    "metrics",
    "prometheus_text",
    "run_detail",
    "tools_inventory",
    "violations",
]

R = records_table
_FLOW = '"flow.'
"""The start of a flow rule id, as a JSON string (a prefilter: matches are checked)."""


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class RunSummary(_View):
    """One run as a list shows it."""

    run_id: str
    agent: str
    agent_version: str
    policy: str
    """Version hash of the charter the run started under."""
    goal: str
    actor: str
    """Who started it."""
    started_at: str
    status: str
    """``running``, ``waiting``, ``completed``, ``failed`` or ``stopped``; ``damaged``
    when one of its records cannot be read (see ``damaged``)."""
    damaged: str | None = None
    """The record of this run that cannot be read (its seq, kind and fault), for a run
    shown as ``damaged``; None for a sound one."""
    outcome: Outcome | None = None
    """What a finished run achieved: ``succeeded``, ``denied``, ``failed``,
    ``rolled_back``, ``cancelled`` or ``stopped``; None while it runs or waits."""
    waiting_for: str | None = None
    """The approval request a waiting run waits for."""
    steps: int
    tokens: int
    cost_usd: float | None
    """As the run's ``run.finished`` records it; None until the run finishes (and for a
    waiting run a rollback finished, whose spending was never journaled)."""
    denials: int
    """Its ``step.decided`` records with verdict ``deny``."""
    asks: int
    """Its approval requests."""
    anomalies: int
    answer: str | None = None
    error: str | None = None
    finished_at: str | None = None
    forked_from: str | None = None
    """The run it was forked from."""
    forked_at: int | None = None
    delegated_by: str | None = None
    """The run that delegated this one to its agent (a sub-agent's run), if any."""
    delegated_at: int | None = None
    """The step of that run that delegated it."""
    """The parent's step it was forked before."""
    rolled_back: bool
    seq: int
    """Seq of its ``run.started``: pass the last one as ``before_seq`` for the next page."""


class DecisionView(_View):
    """The charter's decision on a step's call (the latest, when it was re-decided)."""

    verdict: str
    rules: list[str]
    reason: str
    policy: str


class EffectView(_View):
    """What running the call did."""

    status: str
    """``ok``, ``error``, ``timeout`` or ``in_doubt``."""
    result: Any = None
    error: str | None = None
    in_doubt: bool = False
    idempotency_key: str | None = None
    us: int | None = None
    """Microseconds the call took."""
    recovered: bool = False
    """Retried under its idempotency key by a recovery."""


class ApprovalView(_View):
    """The approval request a step's call waited on."""

    request_id: str
    status: str
    """``pending``, ``approved``, ``denied``, ``expired``, ``used`` or ``closed`` (its run
    ended unanswered)."""
    approver: str | None = None
    reason: str
    """Why the charter asked."""
    rules: list[str]
    decision_reason: str | None = None
    """What the approver said."""
    preview: str | None = None
    """What the call would do, from the tool's preview when asked (or why it is
    unavailable)."""
    warnings: list[str] = []
    """The preview's warnings."""


class StepView(_View):
    """One step: the proposal, its decision, its effect and what the reasoner saw."""

    index: int
    tool: str | None = None
    args: dict[str, Any] | None = None
    answer: str | None = None
    model: str = ""
    tokens: int = 0
    decision: DecisionView | None = None
    labels: dict[str, str] | None = None
    """The run's labels when the call was decided (the join of what the reasoner saw)."""
    arg_labels: dict[str, dict[str, str]] | None = None
    """Each argument's labels, journaled when the call was asked about."""
    sources: dict[str, list[int]] | None = None
    """Steps each argument's value came from (``plan`` reasoners)."""
    effect: EffectView | None = None
    observation_status: str | None = None
    observation: str | None = None
    approval: ApprovalView | None = None
    inherited: bool = False
    """Kept from the run this one was forked from."""
    redactions: list[RedactionView] = []
    """Values masked or given back at this step."""
    times: dict[str, str] = {}
    """When each kind of the step's records was first journaled (``step.proposed``,
    ``step.decided``, ``approval.requested``, ``step.effect``, ``step.observed``)."""


class EventView(_View):
    """A record of the run other than its steps."""

    seq: int
    ts: str
    kind: str
    text: str


class RunDetail(_View):
    """One run in full."""

    summary: RunSummary
    steps: list[StepView]
    events: list[EventView]


class Violation(_View):
    """Something the charter or an anomaly rule stopped or flagged."""

    seq: int
    ts: str
    run_id: str
    agent: str | None
    kind: str
    """``denial``, ``flow`` (a flow rule decided), ``policy_error``, ``anomaly``,
    ``budget`` or ``approval`` (a receipt refused at execution)."""
    rules: list[str]
    tool: str | None = None
    step: int | None = None
    verdict: str | None = None
    reason: str


class _SqlReads:
    """The reads of :func:`charter.views._summary.summaries` through SQLAlchemy."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def kind_counts(self, run_ids: Sequence[str]) -> Iterator[tuple[str, str, int, int, int]]:
        # By run id alone, every kind: with a kind filter too, SQLite (which has no
        # statistics here) would rather walk every record of those kinds.
        denied = func.sum(case((R.c.payload.contains(_DENY), 1), else_=0))
        query = (
            select(R.c.run_id, R.c.kind, func.count(), func.max(R.c.seq), denied)
            .where(R.c.run_id.in_(run_ids))
            .group_by(R.c.run_id, R.c.kind)
        )
        for run_id, kind, count, seq, deny in self._conn.execute(query):
            yield str(run_id), str(kind), int(count), int(seq), int(deny or 0)

    def rows_at(self, seqs: Sequence[int]) -> Iterator[tuple[int, str, str, str, str]]:
        return self._rows(R.c.seq.in_(seqs))

    def proposals(self, run_ids: Sequence[str]) -> Iterator[tuple[int, str, str, str, str]]:
        return self._rows(R.c.run_id.in_(run_ids) & (unindexed(R.c.kind) == "step.proposed"))

    def _rows(self, where: ColumnElement[bool]) -> Iterator[tuple[int, str, str, str, str]]:
        query = select(R.c.seq, R.c.run_id, R.c.kind, R.c.ts, R.c.payload).where(where)
        for seq, run_id, kind, ts, payload in self._conn.execute(query):
            yield int(seq), str(run_id), str(kind), str(ts), str(payload)

    def records(self, run_ids: Sequence[str]) -> Iterator[tuple[int, str, str, str]]:
        query = select(R.c.seq, R.c.run_id, R.c.kind, R.c.payload).where(R.c.run_id.in_(run_ids))
        for seq, run_id, kind, payload in self._conn.execute(query.order_by(R.c.seq)):
            yield int(seq), str(run_id), str(kind), str(payload)


def list_runs(
    journal: Journal,
    *,
    limit: int = 50,
    before_seq: int | None = None,
    agent: str | None = None,
    status: str | None = None,
) -> list[RunSummary]:
    """Runs newest first, ``limit`` at most, started before ``before_seq``.

    One indexed walk of ``run.started`` plus two or three queries over the page's run
    ids. ``agent`` and ``status`` are filtered in SQL first (the status with one index
    probe of each run walked), then checked exactly.
    """
    if limit <= 0 or status not in (None, *RUN_STATUSES):
        return []
    query = (
        select(R.c.seq, R.c.run_id, R.c.ts, R.c.payload)
        .where(R.c.kind == "run.started")
        .order_by(R.c.seq.desc())
    )
    if agent is not None:
        query = query.where(
            R.c.payload.contains(f'"agent":{canonical_json(agent)}', autoescape=True)
        )
    if status is not None:
        query = query.where(_may_have_status(status))
    found: list[RunSummary] = []
    with journal.engine.connect() as conn:
        while len(found) < limit:
            page = query if before_seq is None else query.where(R.c.seq < before_seq)
            rows = conn.execute(page.limit(limit)).all()
            if not rows:
                break
            before_seq = int(rows[-1].seq)
            started = [_started(int(r.seq), r.run_id, r.ts, r.payload) for r in rows]
            if agent is not None:
                started = [
                    s for s in started if payload_as(RunStarted, s.payload).get("agent") == agent
                ]
            found += [s for s in _summaries(conn, started) if status in (None, s.status)]
            if len(rows) < limit:
                break
    return found[:limit]


def _summaries(conn: Connection, started: list[_Started]) -> list[RunSummary]:
    """Summaries of the runs whose ``run.started`` records are ``started``, in order."""
    return [RunSummary(**fields) for fields in summaries(_SqlReads(conn), started)]


def run_detail(journal: Journal, run_id: str) -> RunDetail | None:
    """One run with its steps (a fork's inherited ones too) and its other records; None
    if there is no such run. Reads the run's records (and a fork's parent's) by index."""

    try:
        records = _history(journal, run_id)
    except RunNotFoundError:
        return None
    first = records[0]
    with journal.engine.connect() as conn:
        (summary,) = _summaries(conn, [_started(first.seq, run_id, first.ts, first.payload_json)])
    if summary.status != "running":
        # Read again: the run may have moved on between the two reads, and a summary that
        # says it finished must not come with the steps of before.
        records = _history(journal, run_id)
    steps: dict[int, dict[str, Any]] = {}
    approvals = _approvals(records)
    events: list[EventView] = []
    for record in records[1:]:
        try:
            read_record(record, lambda r: _read_into(r, run_id, steps, events, approvals))
        except DamagedRecordError as exc:  # shown where it lies; the rest reads as usual
            events.append(EventView(seq=record.seq, ts=record.ts, kind="damaged", text=str(exc)))
    return RunDetail(
        summary=summary,
        steps=[StepView(**steps[index]) for index in sorted(steps)],
        events=events,
    )


def _history(journal: Journal, run_id: str) -> list[Record]:
    """The run's records as :func:`history` reads them; only its own if its start (or a
    fork's origin) cannot be read."""
    from charter.runtime._runner import history  # the run loop, not needed to list runs

    try:
        return history(journal, run_id)
    except DamagedRecordError:
        return list(journal.records(run_id))


def _read_into(
    record: Record,
    run_id: str,
    steps: dict[int, dict[str, Any]],
    events: list[EventView],
    approvals: dict[str, ApprovalView],
) -> None:
    """Add what ``record`` says to the run's ``steps`` or ``events``."""
    p = record.payload
    if not record.kind.startswith("step."):
        if record.kind != "policy.version":
            events.append(_event(record))
        requested = payload_as(ApprovalRequested, p)
        if record.kind == "approval.requested" and not requested["tool"].startswith("budget."):
            step = steps.setdefault(requested["step"], {"index": requested["step"]})
            step["approval"] = approvals[requested["request_id"]]
            step["arg_labels"] = requested.get("labels") or None
            step.setdefault("times", {}).setdefault(record.kind, record.ts)
        return
    step = steps.setdefault(int(p["step"]), {"index": int(p["step"])})
    step.setdefault("times", {}).setdefault(record.kind, record.ts)
    step["inherited"] = record.run_id != run_id
    match record.kind:
        case "step.proposed":
            proposed = payload_as(StepProposed, p)
            action: dict[str, Any] = dict(proposed["action"])  # a call's keys, or an answer's
            tokens: dict[str, int] = p.get("tokens", {})  # every count the reasoner gave
            step |= {
                "tool": action.get("tool"),
                "args": action.get("args"),
                "answer": action.get("answer"),
                "model": str(proposed.get("model", "")),
                "tokens": sum(int(n) for n in tokens.values()),
            }
            add_redactions(step, p.get("redacted"), "argument")  # a call never decided too
        case "step.decided":
            decision = payload_as(StepDecided, p)
            step["decision"] = DecisionView(
                verdict=decision["verdict"],
                rules=decision["rules"],
                reason=decision["reason"],
                policy=decision["policy"],
            )
            step["labels"] = decision.get("labels")
            step["sources"] = decision.get("sources")
            add_redactions(step, decision.get("redacted"), "argument")
            add_redactions(step, decision.get("restored"), "restored")
        case "step.effect":
            effect = payload_as(StepEffect, p)
            step["effect"] = EffectView(
                status=str(effect["status"]),
                result=effect.get("result"),
                error=effect.get("error"),
                in_doubt=bool(effect.get("in_doubt", False)),
                idempotency_key=effect.get("idempotency_key"),
                us=effect.get("us"),
                recovered=bool(effect.get("recovered", False)),
            )
            add_redactions(step, effect.get("redacted"), "output")
        case _:
            observed = payload_as(StepObserved, p)
            step["observation_status"], step["observation"] = observed["status"], observed["text"]
            decided = step.get("decision")
            if observed["status"] == "denied" and decided is not None and decided.verdict != "deny":
                # Refused after the charter's decision (an anomaly playbook in journals
                # older than the runner journaling that as the denial, a receipt
                # refused at execution): the step shows what happened.
                step["decision"] = decided.model_copy(
                    update={"verdict": "deny", "reason": str(observed["text"])}
                )


def _approvals(records: list[Record]) -> dict[str, ApprovalView]:
    """What became of each approval request among ``records``."""
    from charter.runtime._approvals import ApprovalRequest

    found: dict[str, dict[str, Any]] = {}
    now = datetime.now(UTC)
    for record in records:
        try:
            p = decode(record)
            request = (
                read_record(record, ApprovalRequest.from_record)
                if record.kind == "approval.requested"
                else None
            )
        except DamagedRecordError:
            continue  # run_detail shows it as damaged
        request_id = str(p.get("request_id", ""))
        if request is not None:
            expired = request.deadline < now
            preview: dict[str, Any] = request.preview or {}
            found[request_id] = {
                "request_id": request_id,
                "status": "expired" if expired else "pending",
                "reason": str(p["reason"]),
                "rules": list(p["rules"]),
                "preview": preview.get("summary") or preview.get("unavailable"),
                "warnings": [str(w) for w in preview.get("warnings", [])],
            }
            continue
        view = found.get(request_id)
        if view is None:
            continue
        match record.kind:
            case "approval.granted" | "approval.denied" if "approver" not in view:
                view |= {
                    "status": str(p["verdict"]),
                    "approver": str(p["approver"]),
                    "decision_reason": str(p.get("reason", "")) or None,
                }
            case "approval.expired" if "approver" not in view:
                view["status"] = "expired"
            case "approval.used":
                view["status"] = "used"
            case "approval.closed" if "approver" not in view:
                view["status"] = "closed"
            case _:
                pass
    if any(record.kind == "run.finished" for record in records):  # none can be answered now
        for view in found.values():
            if view["status"] == "pending":
                view["status"] = "closed"
    return {request_id: ApprovalView(**view) for request_id, view in found.items()}


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


_EVENT_TEXT = {
    "run.waiting": "waiting for approval {request_id}",
    "run.resumed": "resumed by {actor} (request {request_id})",
    "run.recovered": "recovered by {actor}",
    "run.paused": "stopped: its agent is paused ({reason})",
    "run.finished": "{status} after {steps} step(s){detail}",
    "approval.requested": "approval {request_id} requested for {tool} at step {step}: {reason}",
    "approval.granted": "{request_id} approved by {approver}{detail}",
    "approval.denied": "{request_id} denied by {approver}{detail}",
    "approval.escalated": "{request_id} escalated to level {level}",
    "approval.expired": "{request_id} expired unanswered",
    "approval.used": "{request_id} used (approved by {approver})",
    "approval.closed": "{request_id} closed: {reason}",
    "approval.rejected": "{request_id} refused at execution ({rule}): {reason}",
    "anomaly.detected": "anomaly {rule} at step {step} ({tool}): {reason}; playbook {playbook}",
    "budget.exceeded": "budget exceeded ({rule}): {reason}",
    "budget.extended": "budget {rule} extended by {request_id}",
    "rollback.started": "rollback started by {actor}",
    "rollback.finished": "rollback {outcome}",
}


def _event(record: Record) -> EventView:
    p = _Fields(record.payload)
    if record.kind == "run.finished" or record.kind in ("approval.granted", "approval.denied"):
        key = "error" if record.kind == "run.finished" else "reason"
        p["detail"] = f": {p[key]}" if record.payload.get(key) else ""
    if record.kind == "approval.escalated":
        p["level"] = int(record.payload.get("level", 0)) + 1
    if record.kind == "anomaly.detected":
        p["playbook"] = ", ".join(record.payload.get("playbook", []))
    if record.kind == "rollback.finished":
        p["outcome"] = "complete" if p["complete"] is True else "incomplete: a human must finish it"
    template = _EVENT_TEXT.get(record.kind)
    if template is None and record.kind.startswith("rollback."):  # one per undone effect
        template = record.kind.removeprefix("rollback.") + " {tool} (step {step}): {detail}"
    text = template.format_map(p) if template else record.kind
    return EventView(seq=record.seq, ts=record.ts, kind=record.kind, text=text)


def violations(journal: Journal, *, limit: int = 100) -> list[Violation]:
    """Denials, flow-rule decisions, anomalies, exceeded budgets and refused approval
    receipts, newest first. One newest-first index walk per kind, stopping at ``limit``
    (denials are prefiltered in SQL), plus one query for the runs' agents."""
    if limit <= 0:
        return []
    found: list[tuple[Record, dict[str, Any]]] = []
    prefilter = {"step.decided": or_(R.c.payload.contains(_DENY), R.c.payload.contains(_FLOW))}
    with journal.engine.connect() as conn:
        for kind in ("step.decided", "anomaly.detected", "budget.exceeded", "approval.rejected"):
            query = select(R).where(R.c.kind == kind).order_by(R.c.seq.desc())
            if kind in prefilter:
                query = query.where(prefilter[kind])
            taken = 0
            for row in conn.execution_options(yield_per=256).execute(query):
                record = Record(
                    int(row.seq), row.run_id, row.kind, row.ts, row.payload, row.prev_hash, row.hash
                )
                try:
                    p = decode(record)
                except DamagedRecordError:
                    continue  # verify reports it; the feed shows the rest
                flagged = kind != "step.decided" or p.get("verdict") == "deny" or _flow(p)
                if flagged:
                    found.append((record, p))
                    taken += 1
                    if taken == limit:
                        break
        found = sorted(found, key=lambda item: -item[0].seq)[:limit]
        ids = sorted({record.run_id for record, _ in found})
        owners: dict[str, str] = {}
        for chunk in _chunks(ids):
            query = select(R.c.run_id, R.c.payload).where(
                unindexed(R.c.kind) == "run.started", R.c.run_id.in_(chunk)
            )
            for run_id, payload in conn.execute(query):
                started = _started(0, run_id, "", payload).payload
                owners[run_id] = str(started.get("agent", "?"))
    shown: list[Violation] = []
    for record, p in found:
        try:
            shown.append(
                read_record(record, partial(_violation, p=p, agent=owners.get(record.run_id)))
            )
        except DamagedRecordError:
            continue
    return shown


def _flow(payload: dict[str, Any]) -> bool:
    rules = payload_as(StepDecided, payload).get("rules", [])
    return any(str(rule).startswith("flow.") for rule in rules)


def _violation(record: Record, *, p: dict[str, Any], agent: str | None) -> Violation:
    common: dict[str, Any] = {
        "seq": record.seq,
        "ts": record.ts,
        "run_id": record.run_id,
        "agent": agent,
        "reason": str(p.get("reason", "")),
        "step": p.get("step"),
        "tool": p.get("tool"),
    }
    match record.kind:
        case "step.decided":
            rules = [str(rule) for rule in p["rules"]]
            kind = "flow" if _flow(p) else "policy_error" if "policy.error" in rules else "denial"
            return Violation(kind=kind, rules=rules, verdict=p["verdict"], **common)
        case "anomaly.detected":
            return Violation(kind="anomaly", rules=[f"anomaly.{p['rule']}"], **common)
        case "budget.exceeded":
            return Violation(kind="budget", rules=[str(p["rule"])], **common)
        case _:
            return Violation(kind="approval", rules=[str(p["rule"])], **common)
