"""Aggregate views of the journal: costs over time, agents, tools, metrics.

Aggregates are computed in SQL over the kinds they need (the ``(kind, seq)`` index), with
payload fields read by the database's JSON functions, so tool outputs and goals never
leave the database to be counted. Payload JSON is read with ``json_extract`` on SQLite
and ``->>`` on PostgreSQL, the two databases a journal runs on.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ColumnElement, Float, Select, and_, case, func, select, true
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DataError

from charter.journal import DamagedRecordError, Journal, Record, decode_payload
from charter.journal._kinds import (
    ControlPause,
    ControlRevoke,
    ControlSupervise,
    PolicyVersion,
    payload_as,
)
from charter.journal._outcome import OUTCOMES, OutcomeTally
from charter.journal._store import records_table

if TYPE_CHECKING:  # the runtime loads when a view needs it, not to list runs
    from charter.tools import Tool

R = records_table
T = TypeVar("T")


def json_field(
    journal: Journal, column: ColumnElement[Any], key: str, *more: str
) -> ColumnElement[Any]:
    """``column``'s JSON value at ``key`` (then ``more`` keys down), as SQL: text, or a
    number on SQLite.

    Select it in a subquery and group in the outer query: PostgreSQL does not see two
    expressions with bound parameters as the same grouping expression.
    """
    if journal.engine.dialect.name == "postgresql":
        document = sql_cast(column, JSONB)
        return document[(key, *more)].astext if more else document[key].astext
    # NULL for a payload that is not JSON (a damaged record), where json_extract would
    # fail the whole query: one bad record must not hide every other.
    path = "$." + ".".join((key, *more))
    return case((func.json_valid(column) == 1, func.json_extract(column, path)), else_=None)


def unindexed(column: ColumnElement[str]) -> ColumnElement[str]:
    """``column`` as an expression no index serves. Next to ``run_id = ...`` it keeps
    SQLite, which has no statistics here, on the ``(run_id, seq)`` index instead of
    walking every record of a kind through ``(kind, seq)``."""
    return column + ""


def _number(
    journal: Journal, column: ColumnElement[Any], key: str, *more: str
) -> ColumnElement[Any]:
    return sql_cast(json_field(journal, column, key, *more), Float)


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class CostPoint(_View):
    """What one agent or tool cost in one time bucket."""

    bucket: str
    """Start of the bucket, ISO 8601 UTC (``2026-11-24T00:00:00+00:00``)."""
    key: str
    """The agent's or the tool's name."""
    cost_usd: float
    runs: int = 0
    """Runs that finished in the bucket (by agent)."""
    calls: int = 0
    """Calls of the tool that ran in the bucket (by tool)."""
    tokens: int


class AgentVersion(_View):
    """One version of an agent under one charter version, as its runs recorded it."""

    version: str
    policy: str
    """The charter's version hash."""
    charter: str
    """The charter's name."""
    first_seen: str
    last_seen: str
    runs: int


class AgentView(_View):
    """An agent seen in the journal, its versions and whether an operator paused it."""

    name: str
    runs: int
    last_run_at: str | None
    versions: list[AgentVersion]
    """Oldest first."""
    paused: bool
    pause_reason: str | None = None
    paused_by: str | None = None
    paused_at: str | None = None
    supervised: bool = False
    """Supervised mode (``control.supervise``, by an operator or a drift watch): every
    write or external call its charter allows asks an approver instead."""
    supervise_reason: str | None = None
    supervised_by: str | None = None
    supervised_at: str | None = None


class ToolInfo(_View):
    """A tool's contract as a caller that has the agent loaded knows it (the journal
    records tool names only)."""

    name: str
    side_effect: str = "read"
    owner: str = ""
    cost_usd: float = 0.0

    @classmethod
    def from_tool(cls, tool: Tool) -> ToolInfo:
        """The info of a loaded tool."""
        c = tool.contract
        return cls(name=tool.name, side_effect=c.side_effect, owner=c.owner, cost_usd=c.cost_usd)


class Revocation(_View):
    """An operator's revocation of a tool, in force."""

    agent: str | None
    """The agent it applies to; None: every agent."""
    reason: str
    actor: str
    at: str


class ToolView(_View):
    """A tool: who has it, what it is, whether it is revoked, how much it is used."""

    name: str
    agents: list[str]
    """Agents whose runs listed it (or whose inventory was given with it)."""
    side_effect: str | None = None
    """From the inventory given; None when no loaded agent has the tool."""
    owner: str | None = None
    cost_usd: float | None = None
    revoked: bool
    revocations: list[Revocation]
    calls: int
    """Calls that ran (``step.effect`` records)."""
    denials: int
    """Calls the charter denied."""
    last_used: str | None


def _bucket(bucket: Literal["hour", "day"], ts: ColumnElement[Any]) -> ColumnElement[Any]:
    # Timestamps are UTC ISO 8601, so the bucket is a prefix: 13 chars an hour, 10 a day.
    return func.substr(ts, 1, 13 if bucket == "hour" else 10)


def _bucket_start(prefix: str, bucket: Literal["hour", "day"]) -> str:
    return f"{prefix}:00:00+00:00" if bucket == "hour" else f"{prefix}T00:00:00+00:00"


def cost_by(
    journal: Journal,
    *,
    group: Literal["agent", "tool"],
    bucket: Literal["hour", "day"] = "day",
    tool_costs: Mapping[str, float] | None = None,
) -> list[CostPoint]:
    """Cost per agent or per tool per hour or day, oldest bucket first. One query (two
    by tool).

    By agent: each run's ``cost_usd`` as its ``run.finished`` records it (model tokens at
    the charter's prices plus each tool's ``cost_usd``), booked when it finished; runs
    still running or waiting are not counted yet.

    By tool: the calls that ran, the tokens of the proposals that made them, and their
    price at the prices of the charter the run started under (``policy.version``). A
    tool's own ``cost_usd`` per call is not journaled, so it is added only from
    ``tool_costs`` (tool name to dollars per call, e.g. from loaded agents' contracts).
    """
    if group == "agent":
        return _cost_by_agent(journal, bucket)
    return _cost_by_tool(journal, bucket, tool_costs or {})


def _cost_by_agent(journal: Journal, bucket: Literal["hour", "day"]) -> list[CostPoint]:
    finished, started = R.alias("f"), R.alias("s")
    rows = (
        select(
            _bucket(bucket, finished.c.ts).label("bucket"),
            json_field(journal, started.c.payload, "agent").label("key"),
            _number(journal, finished.c.payload, "cost_usd").label("cost"),
            _number(journal, finished.c.payload, "tokens").label("tokens"),
        )
        .select_from(
            finished.join(
                started,
                and_(
                    started.c.run_id == finished.c.run_id,
                    unindexed(started.c.kind) == "run.started",
                ),
            )
        )
        .where(finished.c.kind == "run.finished")
        .subquery()
    )
    query = (
        select(
            rows.c.bucket, rows.c.key, func.count(), func.sum(rows.c.cost), func.sum(rows.c.tokens)
        )
        .group_by(rows.c.bucket, rows.c.key)
        .order_by(rows.c.bucket, rows.c.key)
    )
    with journal.engine.connect() as conn:
        return [
            CostPoint(
                bucket=_bucket_start(str(b), bucket),
                key=str(key),
                cost_usd=round(float(cost or 0), 6),
                runs=int(runs),
                tokens=int(tokens or 0),
            )
            for b, key, runs, cost, tokens in conn.execute(query)
        ]


def _cost_by_tool(
    journal: Journal, bucket: Literal["hour", "day"], tool_costs: Mapping[str, float]
) -> list[CostPoint]:
    effect, proposed, started = R.alias("e"), R.alias("p"), R.alias("s")
    rows = (
        select(
            _bucket(bucket, effect.c.ts).label("bucket"),
            json_field(journal, effect.c.payload, "tool").label("key"),
            json_field(journal, proposed.c.payload, "model").label("model"),
            json_field(journal, started.c.payload, "charter", "policy").label("policy"),
            _number(journal, proposed.c.payload, "tokens", "prompt").label("prompt"),
            _number(journal, proposed.c.payload, "tokens", "completion").label("completion"),
        )
        .select_from(
            effect.join(
                started,
                and_(
                    started.c.run_id == effect.c.run_id, unindexed(started.c.kind) == "run.started"
                ),
            ).outerjoin(
                proposed,
                and_(
                    proposed.c.run_id == effect.c.run_id,
                    unindexed(proposed.c.kind) == "step.proposed",
                    json_field(journal, proposed.c.payload, "step")
                    == json_field(journal, effect.c.payload, "step"),
                ),
            )
        )
        .where(effect.c.kind == "step.effect")
        .subquery()
    )
    columns = (rows.c.bucket, rows.c.key, rows.c.model, rows.c.policy)
    query = select(
        *columns, func.count(), func.sum(rows.c.prompt), func.sum(rows.c.completion)
    ).group_by(*columns)
    prices = _prices(journal)
    points: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0, 0])
    with journal.engine.connect() as conn:
        for b, key, model, policy, calls, prompt, completion in conn.execute(query):
            prompt, completion = int(prompt or 0), int(completion or 0)
            price = prices.get(str(policy), {}).get(str(model or ""), (0.0, 0.0))
            point = points[(str(b), str(key))]
            point[0] += (prompt * price[0] + completion * price[1]) / 1_000_000
            point[0] += int(calls) * tool_costs.get(str(key), 0.0)
            point[1] += int(calls)
            point[2] += prompt + completion
    return [
        CostPoint(
            bucket=_bucket_start(b, bucket),
            key=key,
            cost_usd=round(cost, 6),
            calls=int(calls),
            tokens=int(tokens),
        )
        for (b, key), (cost, calls, tokens) in sorted(points.items())
    ]


def _prices(journal: Journal) -> dict[str, dict[str, tuple[float, float]]]:
    """Policy version → model → (prompt, completion) dollars per million tokens."""
    found: dict[str, dict[str, tuple[float, float]]] = {}
    for record in journal.records_of_kind("policy.version"):
        version = payload_as(PolicyVersion, record.payload)
        charter: dict[str, Any] = version.get("charter", {})
        found[str(version.get("policy"))] = {
            model: (float(p["prompt_per_million"]), float(p["completion_per_million"]))
            for model, p in charter.get("prices", {}).items()
        }
    return found


def _controls(journal: Journal) -> tuple[dict[str, Record], dict[tuple[str, str], Record]]:
    """The pause and revocation in force for each agent and ``(tool, agent or "*")``, with
    the record that made it (for its actor and time)."""
    from charter.runtime import CONTROL_KINDS, Controls

    state = Controls(journal).state()
    pauses: dict[str, Record] = {}
    revokes: dict[tuple[str, str], Record] = {}
    for record in journal.records_of_kinds(CONTROL_KINDS):
        if record.kind == "control.pause":
            agent = payload_as(ControlPause, record.payload)["agent"]
            if agent in state.paused:
                pauses[agent] = record
        elif record.kind == "control.revoke":
            revoke = payload_as(ControlRevoke, record.payload)
            scope = (str(revoke["tool"]), str(revoke["agent"] or "*"))
            if scope in state.revoked:
                revokes[scope] = record
    return pauses, revokes


def _supervisions(journal: Journal) -> dict[str, Record]:
    """The ``control.supervise`` record in force for each supervised agent."""
    from charter.runtime import Controls

    supervised = Controls(journal).state().supervised
    found: dict[str, Record] = {}
    for record in journal.records_of_kinds(("control.supervise",)):
        agent = payload_as(ControlSupervise, record.payload)["agent"]
        if agent in supervised:
            found[str(agent)] = record
    return found


def agents(journal: Journal) -> list[AgentView]:
    """Every agent that started a run (or that an operator paused or supervised), by name, with each
    version and charter version it ran under and whether it is paused. One query over
    ``run.started``, plus the control records."""
    rows = select(
        json_field(journal, R.c.payload, "agent").label("agent"),
        json_field(journal, R.c.payload, "agent_version").label("version"),
        json_field(journal, R.c.payload, "charter", "policy").label("policy"),
        json_field(journal, R.c.payload, "charter", "name").label("charter"),
        R.c.ts,
    ).where(R.c.kind == "run.started")

    def read(sound: ColumnElement[bool]) -> list[Any]:
        found = rows.where(sound).subquery()
        columns = (found.c.agent, found.c.version, found.c.policy, found.c.charter)
        query = select(*columns, func.min(found.c.ts), func.max(found.c.ts), func.count())
        with journal.engine.connect() as conn:
            return list(conn.execute(query.group_by(*columns)))

    versions: dict[str, list[AgentVersion]] = defaultdict(list)
    for agent, version, policy, charter, first, last, runs in _readable(
        journal, ("run.started",), read
    ):
        if agent is None:  # a damaged run.started (SQLite reads it as NULL)
            continue
        versions[str(agent)].append(
            AgentVersion(
                version=str(version),
                policy=str(policy),
                charter=str(charter),
                first_seen=str(first),
                last_seen=str(last),
                runs=int(runs),
            )
        )
    pauses, _ = _controls(journal)
    supervisions = _supervisions(journal)
    views: list[AgentView] = []
    for name in sorted(versions.keys() | pauses.keys() | supervisions.keys()):
        seen = sorted(versions.get(name, []), key=lambda v: v.first_seen)
        paused = pauses.get(name)
        pause = None if paused is None else payload_as(ControlPause, paused.payload)
        supervised = supervisions.get(name)
        watch = None if supervised is None else payload_as(ControlSupervise, supervised.payload)
        views.append(
            AgentView(
                name=name,
                runs=sum(v.runs for v in seen),
                last_run_at=max((v.last_seen for v in seen), default=None),
                versions=seen,
                paused=pause is not None,
                pause_reason=pause["reason"] if pause else None,
                paused_by=pause["actor"] if pause else None,
                paused_at=paused.ts if paused else None,
                supervised=watch is not None,
                supervise_reason=watch["reason"] if watch else None,
                supervised_by=watch["actor"] if watch else None,
                supervised_at=supervised.ts if supervised else None,
            )
        )
    return views


def tools_inventory(
    journal: Journal, inventory_by_agent: Mapping[str, Sequence[ToolInfo]] | None = None
) -> list[ToolView]:
    """Every tool named in a run's manifest, in ``inventory_by_agent`` or in a revocation,
    by name: its contract (from the inventory given: the journal records names only), the
    revocations in force, and its calls. Three grouped queries plus the control records.
    """
    inventory = inventory_by_agent or {}
    holders: dict[str, set[str]] = defaultdict(set)
    manifests = select(
        json_field(journal, R.c.payload, "agent").label("agent"),
        json_field(journal, R.c.payload, "tools").label("tools"),
    ).where(R.c.kind == "run.started")

    def read(sound: ColumnElement[bool]) -> tuple[list[Any], list[Any], list[Any]]:
        found = manifests.where(sound).subquery()
        with journal.engine.connect() as conn:
            return (
                list(conn.execute(select(found.c.agent, found.c.tools).distinct())),
                list(conn.execute(_per_tool(journal, "step.effect", sound))),
                list(conn.execute(_per_tool(journal, "step.decided", sound, deny=True))),
            )

    held, called, denied = _readable(journal, ("run.started", "step.effect", "step.decided"), read)
    for agent, tools in held:
        for name in _names(tools):
            holders[str(name)].add(str(agent))
    calls = {str(tool): (int(count), str(last)) for tool, count, last in called}
    denials = {str(tool): int(count) for tool, count, _last in denied}
    infos: dict[str, ToolInfo] = {}
    for agent, tools in inventory.items():
        for info in tools:
            holders[info.name].add(agent)
            infos.setdefault(info.name, info)
    _, revokes = _controls(journal)
    revoked: dict[str, list[Revocation]] = defaultdict(list)
    for (tool, scope), record in sorted(revokes.items()):
        p = record.payload
        agent = None if scope == "*" else scope
        revoked[tool].append(
            Revocation(agent=agent, reason=str(p["reason"]), actor=str(p["actor"]), at=record.ts)
        )
    views: list[ToolView] = []
    for name in sorted(holders.keys() | revoked.keys()):
        info = infos.get(name)
        count, last = calls.get(name, (0, None))
        views.append(
            ToolView(
                name=name,
                agents=sorted(holders.get(name, set())),
                side_effect=info.side_effect if info else None,
                owner=info.owner if info else None,
                cost_usd=info.cost_usd if info else None,
                revoked=bool(revoked.get(name)),
                revocations=revoked.get(name, []),
                calls=count,
                denials=denials.get(name, 0),
                last_used=last,
            )
        )
    return views


def _names(tools: Any) -> list[Any]:
    """The tool names of a manifest's ``tools`` (JSON text); none if it is not a list (a
    damaged record, which verify reports)."""
    try:
        names: Any = json.loads(tools) if isinstance(tools, str) else tools
    except ValueError:
        return []
    found: list[Any] = names if isinstance(names, list) else []  # pyright: ignore[reportUnknownVariableType]
    return found


def _readable(
    journal: Journal, kinds: Sequence[str], read: Callable[[ColumnElement[bool]], T]
) -> T:
    """``read(sound)``, where ``sound`` is a condition on the records of ``kinds`` that
    leaves out those whose payload the database cannot read as JSON (damaged ones, which
    verify reports), so one bad record does not fail the whole aggregate.

    SQLite needs no condition: :func:`json_field` reads such a payload as NULL. PostgreSQL
    (before 16, which has ``IS JSON``) cannot test a text for JSON in a query, and a cast
    fails the statement: when it does, the damaged payloads of ``kinds`` are found here by
    reading them, and the aggregate runs again without them.
    """
    try:
        return read(true())
    except DataError:
        if journal.engine.dialect.name != "postgresql":
            raise
    damaged: list[int] = []
    query = select(R.c.seq, R.c.payload).where(R.c.kind.in_(list(kinds)))
    with journal.engine.connect() as conn:
        for seq, payload in conn.execution_options(yield_per=1000).execute(query):
            try:
                json.loads(payload)
            except ValueError:
                damaged.append(int(seq))
    return read(R.c.seq.not_in(damaged))


def _per_tool(
    journal: Journal, kind: str, sound: ColumnElement[bool], *, deny: bool = False
) -> Select[Any, int, Any]:
    """``(tool, count, newest ts)`` of ``kind`` records (denials only, with ``deny``)."""
    rows = select(
        json_field(journal, R.c.payload, "tool").label("tool"),
        json_field(journal, R.c.payload, "verdict").label("verdict"),
        R.c.ts,
    ).where(R.c.kind == kind, sound)
    inner = rows.subquery()
    query = select(inner.c.tool, func.count(), func.max(inner.c.ts))
    if deny:
        query = query.where(inner.c.verdict == "deny")
    return query.group_by(inner.c.tool)


RUN_STATUSES = ("running", "waiting", "completed", "failed", "stopped")
_VERDICTS = ("allow", "deny", "ask", "redact", "simulate")

_METRICS: dict[str, tuple[str, str]] = {
    "charter_runs_total": ("gauge", "Runs by their current status."),
    "charter_run_outcomes_total": ("gauge", "Finished runs by their outcome."),
    "charter_steps_total": ("counter", "Steps proposed by reasoners."),
    "charter_tool_calls_total": ("counter", "Tool calls that ran."),
    "charter_decisions_total": ("counter", "Charter decisions by verdict."),
    "charter_denials_total": ("counter", "Calls the charter denied."),
    "charter_approvals_requested_total": ("counter", "Approval requests."),
    "charter_approvals_pending": ("gauge", "Approval requests waiting for a decision."),
    "charter_anomalies_total": ("counter", "Anomaly rules that fired."),
    "charter_budget_exceeded_total": ("counter", "Budgets exceeded."),
    "charter_rollbacks_total": ("counter", "Rollbacks finished."),
    "charter_tokens_total": ("counter", "Model tokens spent by proposals."),
    "charter_cost_usd_total": ("counter", "Dollars spent by finished runs."),
    "charter_agents_paused": ("gauge", "Agents paused by an operator."),
    "charter_tools_revoked": ("gauge", "Tool revocations in force."),
    "charter_journal_records": ("gauge", "Records in the journal."),
    "charter_journal_head_seq": ("gauge", "Seq of the newest record."),
    "charter_journal_records_by_kind": ("gauge", "Records in the journal by kind."),
}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics(journal: Journal) -> dict[str, float]:
    """Counters and gauges of the whole journal, keyed by Prometheus series
    (``charter_runs_total{status="completed"}``). Six grouped queries, the approval
    records and the control records."""
    r = R
    with journal.engine.connect() as conn:
        kinds = {
            str(k): int(n)
            for k, n in conn.execute(select(r.c.kind, func.count()).group_by(r.c.kind))
        }
        head = conn.execute(select(func.max(r.c.seq))).scalar() or 0
        finished = (
            select(
                json_field(journal, r.c.payload, "status").label("status"),
                _number(journal, r.c.payload, "cost_usd").label("cost"),
            )
            .where(r.c.kind == "run.finished")
            .subquery()
        )
        by_status = {
            str(s): (int(n), float(c or 0))
            for s, n, c in conn.execute(
                select(finished.c.status, func.count(), func.sum(finished.c.cost)).group_by(
                    finished.c.status
                )
            )
        }
        verdicts = (
            select(json_field(journal, r.c.payload, "verdict").label("v"))
            .where(r.c.kind == "step.decided")
            .subquery()
        )
        by_verdict = {
            str(v): int(n)
            for v, n in conn.execute(select(verdicts.c.v, func.count()).group_by(verdicts.c.v))
        }
        proposed = (
            select(
                _number(journal, r.c.payload, "tokens", "prompt").label("p"),
                _number(journal, r.c.payload, "tokens", "completion").label("c"),
            )
            .where(r.c.kind == "step.proposed")
            .subquery()
        )
        prompt, completion = conn.execute(
            select(func.sum(proposed.c.p), func.sum(proposed.c.c))
        ).one()
        waited = select(r.c.run_id).where(r.c.kind == "run.waiting")
        latest: dict[str, dict[str, int]] = defaultdict(dict)
        for run_id, kind, seq in conn.execute(
            select(r.c.run_id, r.c.kind, func.max(r.c.seq))
            .where(r.c.kind.in_(("run.waiting", "run.resumed", "run.finished")))
            .where(r.c.run_id.in_(waited))
            .group_by(r.c.run_id, r.c.kind)
        ):
            latest[str(run_id)][str(kind)] = int(seq)
    waiting = sum(
        1
        for seqs in latest.values()
        if "run.finished" not in seqs and seqs["run.waiting"] > seqs.get("run.resumed", 0)
    )
    runs = {status: float(by_status.get(status, (0, 0.0))[0]) for status in RUN_STATUSES}
    runs["waiting"] = float(waiting)
    runs["running"] = float(
        max(0, kinds.get("run.started", 0) - sum(n for n, _ in by_status.values()) - waiting)
    )
    pauses, revokes = _controls(journal)
    from charter.runtime import Approvals

    pending = sum(1 for s in Approvals(journal).states() if s.status == "pending")
    outcomes = _outcome_counts(journal)
    found: dict[str, float] = {
        f'charter_runs_total{{status="{status}"}}': runs[status] for status in RUN_STATUSES
    }
    found |= {
        f'charter_run_outcomes_total{{outcome="{outcome}"}}': outcomes.get(outcome, 0)
        for outcome in OUTCOMES
    }
    found |= {
        "charter_steps_total": kinds.get("step.proposed", 0),
        "charter_tool_calls_total": kinds.get("step.effect", 0),
    }
    found |= {f'charter_decisions_total{{verdict="{v}"}}': by_verdict.get(v, 0) for v in _VERDICTS}
    found |= {
        "charter_denials_total": by_verdict.get("deny", 0),
        "charter_approvals_requested_total": kinds.get("approval.requested", 0),
        "charter_approvals_pending": pending,
        "charter_anomalies_total": kinds.get("anomaly.detected", 0),
        "charter_budget_exceeded_total": kinds.get("budget.exceeded", 0),
        "charter_rollbacks_total": kinds.get("rollback.finished", 0),
        "charter_tokens_total": int(prompt or 0) + int(completion or 0),
        "charter_cost_usd_total": round(sum(c for _, c in by_status.values()), 6),
        "charter_agents_paused": len(pauses),
        "charter_tools_revoked": len(revokes),
        "charter_journal_records": sum(kinds.values()),
        "charter_journal_head_seq": int(head),
    }
    found |= {
        f'charter_journal_records_by_kind{{kind="{_label(kind)}"}}': n
        for kind, n in sorted(kinds.items())
    }
    return {series: float(value) for series, value in found.items()}


def _outcome_counts(journal: Journal) -> dict[str, int]:
    """Finished runs per outcome: grouped in SQL as their ``run.finished`` journaled it;
    runs rolled back since, or journaled before outcomes were, are read whole and counted
    by the outcome of all their records instead (only those runs' records are read)."""
    outcome = json_field(journal, R.c.payload, "outcome")
    finished = select(outcome.label("outcome")).where(R.c.kind == "run.finished").subquery()
    counts: dict[str, int] = defaultdict(int)
    with journal.engine.connect() as conn:
        for said, n in conn.execute(
            select(finished.c.outcome, func.count()).group_by(finished.c.outcome)
        ):
            if said is not None:
                counts[str(said)] += int(n)
        undone = select(R.c.run_id).where(R.c.kind == "rollback.finished")
        legacy = select(R.c.run_id).where(R.c.kind == "run.finished", outcome.is_(None))
        ids = sorted({str(run_id) for (run_id,) in conn.execute(undone.union(legacy))})
        tallies: dict[str, OutcomeTally] = defaultdict(OutcomeTally)
        for start in range(0, len(ids), 500):
            query = select(R.c.seq, R.c.run_id, R.c.kind, R.c.payload).where(
                R.c.run_id.in_(ids[start : start + 500])
            )
            for seq, run_id, kind, payload in conn.execute(query.order_by(R.c.seq)):
                try:
                    body = decode_payload(int(seq), str(run_id), str(kind), payload)
                except DamagedRecordError:
                    continue  # verify reports it; the other records still count
                if kind == "run.finished" and body.get("outcome") in OUTCOMES:
                    counts[str(body["outcome"])] -= 1  # grouped above; recounted below
                tallies[str(run_id)].add(str(kind), body)
    for tally in tallies.values():
        found = tally.outcome()
        if found is not None:
            counts[found] += 1
    return dict(counts)


def prometheus_text(metrics: Mapping[str, float]) -> str:
    """``metrics`` in the Prometheus text exposition format (version 0.0.4)."""
    by_name: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for series, value in metrics.items():
        by_name[series.partition("{")[0]].append((series, value))
    lines: list[str] = []
    for name, samples in by_name.items():
        kind, text = _METRICS.get(name, ("untyped", name))
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
        lines += [f"{series} {_sample(value)}" for series, value in samples]
    return "\n".join(lines) + "\n" if lines else ""


def _sample(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return "NaN" if math.isnan(value) else "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value.is_integer() else repr(value)
