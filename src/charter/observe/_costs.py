"""The cost read model: what agents cost, how their runs ended and what they saved over a
period, from the journal alone.

A run belongs to the period it started in (its ``run.started`` record), with everything it
journaled since, so its cost, outcome and approvals are counted together even when it
finished after the period ended. Each kind is read once through the ``(kind, seq)``
index, from the period's first run on, narrowed to the period's runs and grouped in the
database; payload fields are read with the database's JSON functions, so goals and tool
outputs never leave it.

Costs: a step's token cost is the ``cost_usd`` its ``step.proposed`` record carries, and a
tool call's the ``cost_usd`` of its ``step.effect``. Journals written before steps carried
their cost have their tokens priced here at the ``prices`` of the charter the run started
under (its ``policy.version`` record); their tools' costs were journaled only in the run's
total, so they are reported as not journaled rather than guessed.

Outcomes: a finished run's outcome (:mod:`charter.journal._outcome`) as its
``run.finished`` and any later ``rollback.finished`` journal it; runs journaled before
those carried one have it derived from their records. Success is the share of finished
runs that succeeded: a run that completed after a denial or a failed tool call is counted
as denied or failed, not as a success.

Return: a charter's ``baseline`` says what one run's work costs done by hand. Hours saved
are succeeded runs times its minutes per run, less approvals times its minutes per
approval; their value is hours times its hourly cost; net is that value less everything
the agent cost; ROI is net over cost. Each run is valued under the baseline of the charter
version it ran under.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import ColumnElement, Float, Select, case, func, select
from sqlalchemy import cast as sql_cast

from charter.errors import CharterError
from charter.journal import Journal
from charter.journal._kinds import PolicyVersion, payload_as
from charter.journal._outcome import OUTCOMES, OutcomeTally
from charter.journal._store import records_table, safe_url
from charter.observe._period import Period, iso_utc
from charter.policy import Baseline, ModelPrice
from charter.views._costs import json_field

R = records_table
STATUSES = ("completed", "failed", "stopped", "waiting", "running")
"""How a run stands: finished (the first three) or not yet."""
FINISHED = STATUSES[:3]
_M = TypeVar("_M", bound=BaseModel)


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class BaselineView(_View):
    """A charter version's baseline, as the runs valued under it saw it."""

    charter: str
    """The charter's name."""
    charter_version: str
    policy: str
    """The charter's version hash."""
    minutes_per_run: float
    hourly_cost_usd: float
    minutes_per_approval: float
    description: str
    runs: int
    """Runs of the period under this charter version."""


class ToolCost(_View):
    """What calls of one tool cost."""

    tool: str
    calls: int
    """Calls journaled (``step.effect``), simulated ones included."""
    cost_usd: float


class ModelCost(_View):
    """What one model's tokens cost."""

    model: str
    steps: int
    """Proposals the model made."""
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    priced_steps: int = 0
    """Proposals whose cost the journal did not record, priced at the charter's prices."""


class RuleViolations(_View):
    """How often one rule denied a call."""

    rule: str
    denials: int


class DayFigures(_View):
    """One agent's runs that started on one UTC day."""

    day: str
    """``YYYY-MM-DD``."""
    agent: str
    runs: int
    completed: int
    failed: int
    stopped: int
    unfinished: int
    """Running or waiting for an approval."""
    outcomes: dict[str, int] = Field(default_factory=lambda: {})
    """Finished runs per outcome (``succeeded``, ``denied``, ``failed``, ...)."""
    cost_usd: float


class Figures(_View):
    """One agent's figures over the period (or every agent's, with ``agent`` None)."""

    agent: str | None
    runs: int
    """Runs started in the period."""
    by_status: dict[str, int]
    """Runs per status: ``completed``, ``failed``, ``stopped``, ``waiting``, ``running``."""
    finished: int
    by_outcome: dict[str, int] = Field(default_factory=lambda: {})
    """Finished runs per outcome: ``succeeded``, ``denied``, ``failed``, ``rolled_back``,
    ``cancelled``, ``stopped``."""
    success_rate: float | None
    """Runs that succeeded over finished ones (completed with nothing denied and no tool
    failed); None when none finished."""
    denied_rate: float | None = None
    """Runs with a refused call over finished ones."""
    failure_rate: float | None = None
    """Runs that failed (or whose tool call failed) over finished ones."""
    cost_usd: float
    model_cost_usd: float
    """Model tokens."""
    tool_cost_usd: float
    """Tools' cost per call."""
    cost_per_run_usd: float | None
    model_cost_per_run_usd: float | None
    tool_cost_per_run_usd: float | None
    tools: list[ToolCost]
    """Most expensive first."""
    models: list[ModelCost]
    """Most expensive first."""
    violations: int
    """Calls the charter denied."""
    violations_by_rule: list[RuleViolations]
    """Most frequent first; a denial naming two rules counts for both."""
    approvals: int
    """Approvals asked of people."""
    median_duration_seconds: float | None
    """Of finished runs, from start to finish (waiting for approvals included)."""
    p90_duration_seconds: float | None
    baselines: list[BaselineView]
    """The baselines runs were valued under; empty: no baseline declared."""
    unvalued_runs: int
    """Runs under a charter version without a baseline: their cost counts, their time
    saved is not counted."""
    untracked_tool_cost_runs: int
    """Runs journaled before tool calls carried their cost: their tool cost is unknown."""
    hours_saved: float | None
    """None when no run was under a baseline."""
    value_usd: float | None
    """Hours saved at the baseline's hourly cost."""
    net_usd: float | None
    """Value less the agent's whole cost."""
    roi: float | None
    """Net over cost (1.0 is 100 %); None without a baseline or when nothing cost anything."""


class CostReport(_View):
    """Cost, outcomes and return of agents over a period: the figures of
    ``charter report``."""

    since: str
    until: str
    """End of the period, exclusive; ISO 8601 UTC."""
    generated_at: str
    journal: str
    """The journal's URL, password hidden."""
    agent: str | None
    """The one agent reported on, if the report was narrowed to one."""
    overall: Figures
    agents: list[Figures]
    """By name."""
    days: list[DayFigures]
    """By day, then agent; days without runs are left out."""


@dataclass(frozen=True, slots=True)
class _Charter:
    name: str
    version: str
    prices: dict[str, tuple[float, float]]
    baseline: Baseline | None


@dataclass(slots=True)
class _Run:
    run_id: str
    agent: str
    policy: str
    started: str
    status: str = "running"
    finished: str | None = None
    outcome: str | None = None
    model_cost: float = 0.0
    tool_cost: float = 0.0
    approvals: int = 0
    untracked_tools: bool = False


@dataclass(slots=True)
class _Tally:
    """What was counted for one agent."""

    runs: list[_Run] = field(default_factory=lambda: [])
    tools: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0, 0.0]))
    """Tool → [calls, cost]."""
    models: dict[str, list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0.0, 0])
    )
    """Model → [steps, prompt tokens, completion tokens, cost, priced steps]."""
    rules: Counter[str] = field(default_factory=lambda: Counter[str]())
    denials: int = 0


def cost_report(
    journal: Journal, period: Period, *, agent: str | None = None, now: datetime | None = None
) -> CostReport:
    """The figures of every agent (or of ``agent``) over ``period``.

    Nine queries: the ``policy.version`` records (prices and baselines), the period's
    ``run.started`` records, then one grouped query per kind (finished, waiting, resumed,
    proposed, effect, decided, approval requested) over the period's runs only.

    Raises:
        CharterError: ``agent`` never started a run in this journal.
    """
    if agent is not None:
        _check_agent(journal, agent)
    charters = _charters(journal)
    runs, scope = _started(journal, period, agent)
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for run in runs.values():
        tallies[run.agent].runs.append(run)
    if scope is not None:
        _read_ends(journal, scope, runs)
        _read_steps(journal, scope, runs, charters, tallies)
    overall = _merge(tallies.values())
    return CostReport(
        since=iso_utc(period.since),
        until=iso_utc(period.until),
        generated_at=(now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
        journal=safe_url(journal.url),
        agent=agent,
        overall=_figures(None, overall, charters),
        agents=[_figures(name, tallies[name], charters) for name in sorted(tallies)],
        days=_days(runs.values()),
    )


def _check_agent(journal: Journal, agent: str) -> None:
    name = json_field(journal, R.c.payload, "agent")
    with journal.engine.connect() as conn:
        found = conn.execute(
            select(R.c.seq).where(R.c.kind == "run.started", name == agent).limit(1)
        ).first()
        if found is not None:
            return
        names = select(name.label("agent")).where(R.c.kind == "run.started").subquery()
        known = sorted(str(a) for (a,) in conn.execute(select(names.c.agent).distinct()))
    listed = f"agents with runs: {', '.join(known)}" if known else "the journal has no runs"
    raise CharterError(f"no runs of agent {agent!r} in journal {safe_url(journal.url)}; {listed}")


def _charters(journal: Journal) -> dict[str, _Charter]:
    """Policy version → the charter's name, prices and baseline, from ``policy.version``."""
    found: dict[str, _Charter] = {}
    for record in journal.records_of_kind("policy.version"):
        version = payload_as(PolicyVersion, record.payload)
        body: dict[str, Any] = version.get("charter") or {}
        listed: dict[str, Any] = body.get("prices") or {}
        prices = {str(model): _known(ModelPrice, price) for model, price in listed.items()}
        baseline = _known(Baseline, body["baseline"]) if body.get("baseline") else None
        found[str(version.get("policy"))] = _Charter(
            str(body.get("name", "")),
            str(body.get("version", "")),
            {m: (p.prompt_per_million, p.completion_per_million) for m, p in prices.items() if p},
            baseline,
        )
    return found


def _known(model: type[_M], value: Any) -> _M | None:
    """``value`` as ``model``, from the fields this release knows; None if unreadable (a
    price or baseline a later release wrote, say, is not guessed at)."""
    if not isinstance(value, dict):
        return None
    fields = cast(dict[str, Any], value)
    try:
        return model.model_validate({k: v for k, v in fields.items() if k in model.model_fields})
    except ValidationError:
        return None


def _window(journal: Journal, period: Period, agent: str | None) -> list[ColumnElement[bool]]:
    """The conditions selecting the period's ``run.started`` records (of ``agent``)."""
    # Whole-second prefixes compare the same under every collation (digits at fixed places);
    # full ISO strings with fractions and offsets do not under PostgreSQL's locales.
    second = func.substr(R.c.ts, 1, 19)
    conditions = [
        R.c.kind == "run.started",
        second >= iso_utc(period.since)[:19],
        second < iso_utc(period.until)[:19],
    ]
    if agent is not None:
        conditions.append(json_field(journal, R.c.payload, "agent") == agent)
    return conditions


@dataclass(frozen=True, slots=True)
class _Scope:
    """The period's runs, and where their records start: the first one's ``run.started``."""

    first: int
    runs: Select[Any]

    def of(self, kind: str) -> ColumnElement[bool]:
        """The condition selecting ``kind`` records of the period's runs: a range of the
        ``(kind, seq)`` index, then a probe of the runs' ids."""
        return (R.c.kind == kind) & (R.c.seq >= self.first) & R.c.run_id.in_(self.runs)


def _started(
    journal: Journal, period: Period, agent: str | None
) -> tuple[dict[str, _Run], _Scope | None]:
    """The period's runs, by id, and the scope that selects their other records."""
    window = _window(journal, period, agent)
    query = select(
        R.c.run_id,
        R.c.seq,
        R.c.ts,
        json_field(journal, R.c.payload, "agent"),
        json_field(journal, R.c.payload, "charter", "policy"),
    ).where(*window)
    runs: dict[str, _Run] = {}
    seqs: list[int] = []
    with journal.engine.connect() as conn:
        for run_id, seq, ts, name, policy in conn.execute(query):
            runs[str(run_id)] = _Run(str(run_id), str(name), str(policy or ""), str(ts))
            seqs.append(int(seq))
    if not runs:
        return runs, None
    first, last = min(seqs), max(seqs)
    # Bounded by seq, the runs' ids are a range of the (kind, seq) index, not a kind's walk.
    ids = select(R.c.run_id).where(*window, R.c.seq.between(first, last))
    return runs, _Scope(first, ids)


def _number(journal: Journal, column: ColumnElement[Any], *keys: str) -> ColumnElement[Any]:
    return sql_cast(json_field(journal, column, *keys), Float)


def _read_ends(journal: Journal, scope: _Scope, runs: dict[str, _Run]) -> None:
    """Each run's status, end and outcome: ``run.finished`` (and ``rollback.finished``),
    else ``run.waiting``/``run.resumed``."""
    status = json_field(journal, R.c.payload, "status")
    outcome = json_field(journal, R.c.payload, "outcome")
    compensated = _number(journal, R.c.payload, "outcomes", "compensated")
    tallies: dict[str, OutcomeTally] = defaultdict(OutcomeTally)
    legacy: list[str] = []
    with journal.engine.connect() as conn:
        query = select(R.c.run_id, R.c.ts, status, outcome).where(scope.of("run.finished"))
        for run_id, ts, ended, said in conn.execute(query.order_by(R.c.seq)):
            run = runs[str(run_id)]
            run.status, run.finished = str(ended), str(ts)
            tallies[run.run_id].add("run.finished", {"status": ended, "outcome": said})
            if said is None:
                legacy.append(run.run_id)
        query = select(R.c.run_id, outcome, compensated).where(scope.of("rollback.finished"))
        for run_id, said, undone in conn.execute(query.order_by(R.c.seq)):
            payload = {"outcome": said, "outcomes": {"compensated": int(undone or 0)}}
            tallies[str(run_id)].add("rollback.finished", payload)
        for start in range(0, len(legacy), 500):  # written before runs journaled outcomes
            chunk = legacy[start : start + 500]
            tallies.update({run_id: OutcomeTally() for run_id in chunk})
            query = select(R.c.run_id, R.c.kind, R.c.payload).where(R.c.run_id.in_(chunk))
            for run_id, kind, payload in conn.execute(query.order_by(R.c.seq)):
                tallies[str(run_id)].add(str(kind), json.loads(payload))
        latest: dict[str, dict[str, int]] = defaultdict(dict)
        for kind in ("run.waiting", "run.resumed"):
            query = select(R.c.run_id, func.max(R.c.seq)).where(scope.of(kind))
            for run_id, seq in conn.execute(query.group_by(R.c.run_id)):
                latest[str(run_id)][kind] = int(seq)
    for run_id, seqs in latest.items():
        run = runs[run_id]
        if run.finished is None and seqs.get("run.waiting", 0) > seqs.get("run.resumed", 0):
            run.status = "waiting"
    for run_id, tally in tallies.items():
        if run_id in runs:
            runs[run_id].outcome = tally.outcome()


def _read_steps(
    journal: Journal,
    scope: _Scope,
    runs: dict[str, _Run],
    charters: dict[str, _Charter],
    tallies: dict[str, _Tally],
) -> None:
    """Token and tool costs, denials and approvals of the period's runs."""
    p = R.c.payload
    proposed = (
        select(
            R.c.run_id,
            json_field(journal, p, "model").label("model"),
            _number(journal, p, "cost_usd").label("cost"),
            _number(journal, p, "tokens", "prompt").label("prompt"),
            _number(journal, p, "tokens", "completion").label("completion"),
        )
        .where(scope.of("step.proposed"))
        .subquery()
    )
    unpriced = proposed.c.cost.is_(None)
    by_model = select(
        proposed.c.run_id,
        proposed.c.model,
        func.count(),
        func.sum(proposed.c.prompt),
        func.sum(proposed.c.completion),
        func.sum(proposed.c.cost),
        func.sum(case((unpriced, proposed.c.prompt), else_=0)),
        func.sum(case((unpriced, proposed.c.completion), else_=0)),
        func.sum(case((unpriced, 1), else_=0)),
    ).group_by(proposed.c.run_id, proposed.c.model)
    effects = (
        select(
            R.c.run_id,
            json_field(journal, p, "tool").label("tool"),
            _number(journal, p, "cost_usd").label("cost"),
        )
        .where(scope.of("step.effect"))
        .subquery()
    )
    by_tool = select(
        effects.c.run_id, effects.c.tool, func.count(), func.sum(effects.c.cost)
    ).group_by(effects.c.run_id, effects.c.tool)
    decided = (
        select(
            R.c.run_id,
            json_field(journal, p, "verdict").label("verdict"),
            json_field(journal, p, "rules").label("rules"),
        )
        .where(scope.of("step.decided"))
        .subquery()
    )
    denials = (
        select(decided.c.run_id, decided.c.rules, func.count())
        .where(decided.c.verdict == "deny")
        .group_by(decided.c.run_id, decided.c.rules)
    )
    asked = (
        select(R.c.run_id, func.count()).where(scope.of("approval.requested")).group_by(R.c.run_id)
    )
    with journal.engine.connect() as conn:
        for run_id, model, steps, prompt, completion, cost, *fallback in conn.execute(by_model):
            run = runs[str(run_id)]
            price = charters.get(run.policy)
            rates = price.prices.get(str(model or ""), (0.0, 0.0)) if price else (0.0, 0.0)
            priced = (int(fallback[0] or 0) * rates[0] + int(fallback[1] or 0) * rates[1]) / 1e6
            spent = float(cost or 0) + priced
            run.model_cost += spent
            run.untracked_tools |= priced > 0
            line = tallies[run.agent].models[str(model or "unknown")]
            line[0] += int(steps)
            line[1] += int(prompt or 0)
            line[2] += int(completion or 0)
            line[3] += spent
            line[4] += int(fallback[2] or 0) if priced > 0 else 0
        for run_id, tool, calls, cost in conn.execute(by_tool):
            run = runs[str(run_id)]
            run.tool_cost += float(cost or 0)
            line = tallies[run.agent].tools[str(tool)]
            line[0] += int(calls)
            line[1] += float(cost or 0)
        for run_id, rules, count in conn.execute(denials):
            tally = tallies[runs[str(run_id)].agent]
            tally.denials += int(count)
            for rule in _rule_list(rules):
                tally.rules[rule] += int(count)
        for run_id, count in conn.execute(asked):
            runs[str(run_id)].approvals += int(count)


def _rule_list(rules: Any) -> list[str]:
    """A decision's ``rules`` as the database returned them: JSON text of a list."""
    parsed: Any = json.loads(rules) if isinstance(rules, str) else rules
    return [str(rule) for rule in cast(list[Any], parsed or [])]


def _merge(tallies: Iterable[_Tally]) -> _Tally:
    merged = _Tally()
    for tally in tallies:
        merged.runs += tally.runs
        for name, line in tally.tools.items():
            merged.tools[name] = [a + b for a, b in zip(merged.tools[name], line, strict=True)]
        for name, line in tally.models.items():
            merged.models[name] = [a + b for a, b in zip(merged.models[name], line, strict=True)]
        merged.rules.update(tally.rules)
        merged.denials += tally.denials
    return merged


def _quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of sorted ``values``, interpolating between closest ranks."""
    if not values:
        return None
    at = (len(values) - 1) * q
    low, high = math.floor(at), math.ceil(at)
    return values[low] + (values[high] - values[low]) * (at - low)


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _per_run(total: float, runs: int) -> float | None:
    return round(total / runs, 6) if runs else None


def _figures(agent: str | None, tally: _Tally, charters: dict[str, _Charter]) -> Figures:
    runs = tally.runs
    statuses = Counter(run.status for run in runs)
    outcomes = Counter(run.outcome for run in runs if run.outcome is not None)
    finished = sum(statuses[s] for s in FINISHED)
    model_cost = sum(run.model_cost for run in runs)
    tool_cost = sum(run.tool_cost for run in runs)
    cost = model_cost + tool_cost
    durations = sorted(_seconds(r.started, r.finished) for r in runs if r.finished is not None)
    by_policy: dict[str, list[_Run]] = defaultdict(list)
    for run in runs:
        by_policy[run.policy].append(run)
    baselines: list[BaselineView] = []
    minutes_value = [0.0, 0.0]  # minutes saved, their value
    unvalued = 0
    for policy, under in sorted(by_policy.items()):
        charter = charters.get(policy)
        baseline = charter.baseline if charter else None
        if charter is None or baseline is None:
            unvalued += len(under)
            continue
        succeeded = sum(1 for run in under if run.outcome == "succeeded")
        approvals = sum(run.approvals for run in under)
        minutes = succeeded * baseline.minutes_per_run - approvals * baseline.minutes_per_approval
        minutes_value[0] += minutes
        minutes_value[1] += minutes / 60 * baseline.hourly_cost_usd
        baselines.append(
            BaselineView(
                charter=charter.name,
                charter_version=charter.version,
                policy=policy,
                minutes_per_run=baseline.minutes_per_run,
                hourly_cost_usd=baseline.hourly_cost_usd,
                minutes_per_approval=baseline.minutes_per_approval,
                description=baseline.description,
                runs=len(under),
            )
        )
    valued = bool(baselines)
    net = minutes_value[1] - cost
    return Figures(
        agent=agent,
        runs=len(runs),
        by_status={status: statuses[status] for status in STATUSES},
        finished=finished,
        by_outcome={outcome: outcomes[outcome] for outcome in OUTCOMES},
        success_rate=outcomes["succeeded"] / finished if finished else None,
        denied_rate=outcomes["denied"] / finished if finished else None,
        failure_rate=outcomes["failed"] / finished if finished else None,
        cost_usd=round(cost, 6),
        model_cost_usd=round(model_cost, 6),
        tool_cost_usd=round(tool_cost, 6),
        cost_per_run_usd=_per_run(cost, len(runs)),
        model_cost_per_run_usd=_per_run(model_cost, len(runs)),
        tool_cost_per_run_usd=_per_run(tool_cost, len(runs)),
        tools=sorted(
            (
                ToolCost(tool=name, calls=int(c), cost_usd=round(v, 6))
                for name, (c, v) in tally.tools.items()
            ),
            key=lambda t: (-t.cost_usd, -t.calls, t.tool),
        ),
        models=sorted(
            (
                ModelCost(
                    model=name,
                    steps=int(line[0]),
                    prompt_tokens=int(line[1]),
                    completion_tokens=int(line[2]),
                    cost_usd=round(line[3], 6),
                    priced_steps=int(line[4]),
                )
                for name, line in tally.models.items()
            ),
            key=lambda m: (-m.cost_usd, -m.steps, m.model),
        ),
        violations=tally.denials,
        violations_by_rule=[
            RuleViolations(rule=rule, denials=n)
            for rule, n in sorted(tally.rules.items(), key=lambda item: (-item[1], item[0]))
        ],
        approvals=sum(run.approvals for run in runs),
        median_duration_seconds=_rounded(_quantile(durations, 0.5)),
        p90_duration_seconds=_rounded(_quantile(durations, 0.9)),
        baselines=baselines,
        unvalued_runs=unvalued,
        untracked_tool_cost_runs=sum(1 for run in runs if run.untracked_tools),
        hours_saved=round(minutes_value[0] / 60, 6) if valued else None,
        value_usd=round(minutes_value[1], 6) if valued else None,
        net_usd=round(net, 6) if valued else None,
        roi=round(net / cost, 6) if valued and cost > 0 else None,
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _days(runs: Iterable[_Run]) -> list[DayFigures]:
    by_day: dict[tuple[str, str], list[_Run]] = defaultdict(list)
    for run in runs:
        by_day[(run.started[:10], run.agent)].append(run)
    days: list[DayFigures] = []
    for (day, agent), found in sorted(by_day.items()):
        statuses = Counter(run.status for run in found)
        outcomes = Counter(run.outcome for run in found if run.outcome is not None)
        days.append(
            DayFigures(
                day=day,
                agent=agent,
                runs=len(found),
                completed=statuses["completed"],
                failed=statuses["failed"],
                stopped=statuses["stopped"],
                unfinished=statuses["waiting"] + statuses["running"],
                outcomes={outcome: outcomes[outcome] for outcome in OUTCOMES},
                cost_usd=round(sum(run.model_cost + run.tool_cost for run in found), 6),
            )
        )
    return days
