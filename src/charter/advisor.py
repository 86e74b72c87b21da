"""Should a workflow be an agent, a specialised model, or a hybrid? Deterministic advice.

Agents orchestrate across tools and systems; specialised models predict (fast, cheap per
case, narrow); a hybrid is an agent that calls a model as a governed tool. :func:`advise`
scores the three options against a :class:`Workflow` with the :data:`CRITERIA` below and
estimates each option's cost and return over the workflow's horizon. No language model is
asked: the same description always gets the same advice, and every point comes with a
:class:`Reason` citing the input that gave it.

=================  ===========================================  =====  =====  ======
input              when                                         model  agent  hybrid
=================  ===========================================  =====  =====  ======
latency            ``p95_seconds`` < 1                          +3     -3     +2
                   1 <= ``p95_seconds`` < 30                    +1     -1     +1
volume_per_month   >= 10,000                                    +2     -1     +2
                   < 1,000                                      -1     +1     -1
inputs             ``structured``                               +2      0     +1
                   ``unstructured``                             -2     +2      0
                   ``mixed``                                    -1     +1     +2
task_variety       ``narrow``                                   +2      0     +1
                   ``varied``                                   -2     +2      0
labelled_history   >= 10,000                                    +2      0     +2
                   1,000 to 9,999                               +1      0     +1
                   < 1,000                                      -3      0     -2
systems_touched    <= 1                                         +1      0      0
                   >= 3                                         -2     +2     +2
regulatory         ``explainability``                           +1     -1     +2
                   ``human_approval``                           -1     +1     +2
                   ``audit_trail``                               0     +1     +1
                   ``data_residency``                           +1      0     +1
volume x systems   >= 10,000 cases a month and >= 3 systems      0      0     +2
economics          highest net value over the horizon           +1 to that option
                   net value below zero over the horizon        -1 to each such option
=================  ===========================================  =====  =====  ======

The highest score is recommended; a tie goes to the higher net value, then to the simpler
option (model, then agent, then hybrid).

Cost model, per option and month (every figure is listed in :attr:`Advice.assumptions`
with where it came from: given, default or measured):

- running cost: agent ``volume x agent_cost_per_case_usd`` (one run per case); model
  ``model_cost_per_month_usd`` (serving, monitoring, retraining); hybrid the model's plus
  ``hybrid_agent_share x volume x agent_cost_per_case_usd`` (the cases its model routes to
  its agent);
- expected error cost: ``volume x error rate x error_cost_usd``;
- savings: the manual cost, ``volume x (manual_cost_usd + manual_error_rate x
  error_cost_usd)``, minus running and error cost.

Over ``horizon_months``: net value is savings x horizon minus the build cost; ROI is net
value over total cost (build plus running and error cost); payback is build cost over
monthly savings. Default error rates follow the model's fit (:attr:`Workflow.model_fits`).
An agent's measured figures (:func:`measure`) replace its assumed cost per case and error
rate.

.. code-block:: python

    from charter.advisor import Workflow, advise

    workflow = Workflow.model_validate({
        "name": "fraud-screening",
        "latency": {"p95_seconds": 0.2},
        "regulatory": ["audit_trail"],
        "systems_touched": 1,
        "volume_per_month": 400_000,
        "inputs": "structured",
        "task_variety": "narrow",
        "labelled_history": 250_000,
        "error_cost_usd": 120,
        "manual_cost_usd": 2.5,
    })
    advice = advise(workflow)
    assert advice.recommendation == "model"
    print(advice.reasons[0].text)

"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from charter._yaml import load_model, read_yaml_mapping

if TYPE_CHECKING:
    from charter.journal import Journal

Option = Literal["model", "agent", "hybrid"]
OPTIONS: tuple[Option, ...] = ("model", "agent", "hybrid")
"""In order of simplicity, which breaks ties."""
Regulation = Literal["explainability", "human_approval", "audit_trail", "data_residency", "none"]
REGULATIONS: tuple[Regulation, ...] = get_args(Regulation)
Source = Literal["given", "default", "measured"]

SUB_SECOND = 1.0
"""Below this p95 (seconds) only a model answers in time."""
AGENT_SECONDS = 30.0
"""Below this p95 (seconds) an agent's multi-step run may not finish in time."""
HIGH_VOLUME = 10_000
"""Cases a month from which per-case costs dominate."""
LOW_VOLUME = 1_000
"""Cases a month below which a model's fixed costs are spread too thinly."""
MIN_LABELLED = 1_000
"""Labelled outcomes a model needs to be trained and validated at all."""
AMPLE_LABELLED = 10_000
"""Labelled outcomes from which a model can be trained with confidence."""
MANY_SYSTEMS = 3
"""Systems touched from which a workflow needs orchestration."""

AGENT_ERROR_RATE = 0.05
MODEL_ERROR_RATE = 0.03
"""For a model that fits the task."""
UNFIT_MODEL_ERROR_RATE = 0.20
"""For a model that does not (varied task, unstructured inputs or too few labels)."""
HYBRID_ERROR_RATE = 0.02
"""When its model fits; otherwise a hybrid errs as its agent does."""


def _regulations(values: list[Regulation]) -> list[Regulation]:
    if "none" in values and len(set(values)) > 1:
        raise ValueError("'none' cannot be listed with other constraints")
    return [r for r in REGULATIONS if r in values and r != "none"]


class Latency(BaseModel):
    """How fast the business needs an outcome."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    p95_seconds: float = Field(gt=0)
    """Seconds within which 95% of cases must have their outcome."""


class Workflow(BaseModel):
    """A workflow to automate, as the business describes it (:func:`load_workflow` reads
    one from YAML). Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""
    latency: Latency
    regulatory: Annotated[list[Regulation], AfterValidator(_regulations)] = Field(
        default_factory=lambda: []
    )
    """Constraints on its decisions: ``explainability``, ``human_approval``,
    ``audit_trail``, ``data_residency``, or ``none`` (as an empty list does)."""
    systems_touched: int = Field(ge=0)
    """Systems it reads or changes (CRM, payments, email, ...)."""
    volume_per_month: int = Field(gt=0)
    """Cases a month."""
    inputs: Literal["structured", "unstructured", "mixed"]
    """What a case arrives as: fields, free text and documents, or both."""
    task_variety: Literal["narrow", "varied"]
    """One decision repeated, or cases that each need different steps."""
    labelled_history: int = Field(ge=0)
    """Past cases whose correct outcome is known (a model's training data)."""
    error_cost_usd: float = Field(ge=0)
    """What one wrong outcome costs."""
    manual_cost_usd: float = Field(ge=0)
    """What a person handling one case costs."""
    agent_cost_per_case_usd: float = Field(default=0.05, ge=0)
    """Model tokens and tool calls of one agent run (one run per case)."""
    model_cost_per_month_usd: float = Field(default=500.0, ge=0)
    """Serving, monitoring and retraining a model, whatever the volume."""
    agent_build_cost_usd: float = Field(default=15_000.0, ge=0)
    """Tools, charter, evaluation scenarios and rollout of an agent."""
    model_build_cost_usd: float = Field(default=30_000.0, ge=0)
    """Data preparation, training, validation and deployment of a model."""
    hybrid_build_cost_usd: float = Field(default=40_000.0, ge=0)
    """A model plus the agent that calls it as a governed tool."""
    hybrid_agent_share: float = Field(default=0.2, ge=0, le=1)
    """Share of cases a hybrid's model routes to its agent."""
    horizon_months: int = Field(default=12, ge=1, le=120)
    """Months the estimate covers."""
    manual_error_rate: float = Field(default=0.03, ge=0, le=1)
    """Share of cases a person gets wrong."""
    agent_error_rate: float | None = Field(default=None, ge=0, le=1)
    """Share an agent gets wrong; default 5%."""
    model_error_rate: float | None = Field(default=None, ge=0, le=1)
    """Share a model gets wrong; default 3% if a model fits the task, else 20%."""
    hybrid_error_rate: float | None = Field(default=None, ge=0, le=1)
    """Share a hybrid gets wrong; default 2% if a model fits, else the agent's rate."""

    @property
    def model_fits(self) -> bool:
        """A specialised model can learn the task: narrow, inputs not wholly unstructured,
        and at least :data:`MIN_LABELLED` labelled outcomes."""
        return (
            self.task_variety == "narrow"
            and self.inputs != "unstructured"
            and self.labelled_history >= MIN_LABELLED
        )


def load_workflow(path: Path) -> Workflow:
    """Read a workflow YAML file.

    Raises:
        ConfigError: the file is missing or not a YAML mapping, or a field is unknown or
            invalid (the message names the file and the field).
    """
    return load_model(Workflow, read_yaml_mapping(path), str(path))


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Measured(_Model):
    """What an agent's journaled runs actually did."""

    agent: str
    runs: int
    """Runs started."""
    finished: int
    """Runs that ended: completed, failed or stopped."""
    completed: int
    """Finished runs whose agent gave a final answer (whatever was refused on the way)."""
    succeeded: int = 0
    """Finished runs whose outcome is ``succeeded``: completed, nothing refused, no tool
    call failed."""
    denied: int = 0
    """Finished runs with a call refused."""
    failed: int = 0
    """Finished runs that failed, or whose tool call failed."""
    success_rate: float | None
    """Succeeded over finished; None before any run finished. One minus it is the
    measured error rate."""
    median_cost_usd: float | None
    mean_cost_usd: float | None
    """Of the finished runs' ``run.finished`` cost."""
    approvals_per_run: float | None
    """Approval requests per run started."""
    median_steps: float | None
    median_duration_seconds: float | None
    """From ``run.started`` to ``run.finished``, waits for approval included."""


_PAGE = 1000


def measure(journal: Journal, agent: str) -> Measured:
    """Measure ``agent``'s runs in ``journal``.

    Reads the read model the dashboard uses, a page of runs at a time: an indexed walk of
    ``run.started`` filtered by agent, plus a few queries restricted to each page's runs.
    """
    from charter.views._runs import list_runs

    runs = finished = completed = asks = 0
    outcomes: dict[str, int] = {}
    costs: list[float] = []
    steps: list[int] = []
    durations: list[float] = []
    before: int | None = None
    while True:
        page = list_runs(journal, limit=_PAGE, before_seq=before, agent=agent)
        for run in page:
            runs += 1
            asks += run.asks
            if run.status not in ("completed", "failed", "stopped"):
                continue
            finished += 1
            completed += run.status == "completed"
            if run.outcome is not None:
                outcomes[run.outcome] = outcomes.get(run.outcome, 0) + 1
            steps.append(run.steps)
            if run.cost_usd is not None:
                costs.append(run.cost_usd)
            if run.finished_at is not None:
                took = datetime.fromisoformat(run.finished_at) - datetime.fromisoformat(
                    run.started_at
                )
                durations.append(took.total_seconds())
        if len(page) < _PAGE:
            break
        before = page[-1].seq
    return Measured(
        agent=agent,
        runs=runs,
        finished=finished,
        completed=completed,
        succeeded=outcomes.get("succeeded", 0),
        denied=outcomes.get("denied", 0),
        failed=outcomes.get("failed", 0),
        success_rate=outcomes.get("succeeded", 0) / finished if finished else None,
        median_cost_usd=statistics.median(costs) if costs else None,
        mean_cost_usd=statistics.fmean(costs) if costs else None,
        approvals_per_run=asks / runs if runs else None,
        median_steps=statistics.median(steps) if steps else None,
        median_duration_seconds=statistics.median(durations) if durations else None,
    )


class Reason(_Model):
    """One criterion's verdict: the points it gives each option, and why."""

    criterion: str
    """The workflow input that drove it (``economics`` for the cost comparison)."""
    points: dict[Option, int]
    text: str
    """One sentence citing the input."""


class Assumption(_Model):
    """A figure the estimates rest on, and where it came from."""

    name: str
    value: float
    unit: str
    source: Source
    note: str = ""


class Estimate(_Model):
    """One option's cost and return over the horizon, against handling cases by hand."""

    option: Option
    cost_per_case_usd: float
    """Running cost per case (errors and build excluded)."""
    monthly_run_cost_usd: float
    monthly_error_cost_usd: float
    monthly_cost_usd: float
    """Running plus expected error cost."""
    build_cost_usd: float
    total_cost_usd: float
    """Build plus monthly cost over the horizon."""
    all_in_cost_per_case_usd: float
    """Total cost over the horizon's cases."""
    monthly_savings_usd: float
    """Manual monthly cost minus this option's."""
    net_usd: float
    """Savings over the horizon minus the build cost."""
    roi_percent: float | None
    """Net value over total cost; None if the option costs nothing."""
    payback_months: float | None
    """Build cost over monthly savings; None if it never pays back."""


class Advice(_Model):
    """What :func:`advise` recommends, and everything behind it."""

    workflow: str
    recommendation: Option
    scores: dict[Option, int]
    reasons: list[Reason]
    estimates: list[Estimate]
    """In the order of :data:`OPTIONS`."""
    manual_monthly_cost_usd: float
    horizon_months: int
    assumptions: list[Assumption]
    measured: Measured | None = None
    notes: list[str] = Field(default_factory=lambda: [])

    def estimate(self, option: Option) -> Estimate:
        """The estimate of one option."""
        return next(e for e in self.estimates if e.option == option)


@dataclass(frozen=True, slots=True)
class Criterion:
    """One documented rule: when it ``applies`` to a workflow, it gives ``points``."""

    input: str
    applies: Callable[[Workflow], bool]
    points: tuple[int, int, int]
    """For model, agent, hybrid."""
    why: str
    """A sentence template over the workflow ``w`` (``str.format``)."""

    def reason(self, workflow: Workflow) -> Reason:
        """This rule's verdict on ``workflow``."""
        points = dict(zip(OPTIONS, self.points, strict=True))
        return Reason(criterion=self.input, points=points, text=self.why.format(w=workflow))


def _has(regulation: Regulation) -> Callable[[Workflow], bool]:
    return lambda w: regulation in w.regulatory


_P95 = "latency.p95_seconds is {w.latency.p95_seconds:g} s: "
_VOLUME = "volume_per_month is {w.volume_per_month:,} cases: "
_LABELS = "labelled_history is {w.labelled_history:,} cases: "
_SYSTEMS = "systems_touched is {w.systems_touched}: "

CRITERIA: tuple[Criterion, ...] = (
    Criterion("latency.p95_seconds", lambda w: w.latency.p95_seconds < SUB_SECOND, (3, -3, 2),
              _P95 + "only a specialised model answers in under a second; an agent's "
              "multi-step run takes seconds, so a hybrid's model answers inline and its agent "
              "acts afterwards."),
    Criterion("latency.p95_seconds",
              lambda w: SUB_SECOND <= w.latency.p95_seconds < AGENT_SECONDS, (1, -1, 1),
              _P95 + "a model answers well within it; an agent's multi-step run (seconds to "
              "tens of seconds) may not, while a hybrid's model answers first."),
    Criterion("latency.p95_seconds", lambda w: w.latency.p95_seconds >= AGENT_SECONDS, (0, 0, 0),
              _P95 + "there is time for an agent's multi-step run."),
    Criterion("volume_per_month", lambda w: w.volume_per_month >= HIGH_VOLUME, (2, -1, 2),
              _VOLUME + "an agent's cost grows with every case while a model's is mostly "
              "fixed; a hybrid sends only the cases that need action to its agent."),
    Criterion("volume_per_month", lambda w: w.volume_per_month < LOW_VOLUME, (-1, 1, -1),
              _VOLUME + "too few to spread a model's build and upkeep over; an agent's cost "
              "follows the cases it handles."),
    Criterion("volume_per_month",
              lambda w: LOW_VOLUME <= w.volume_per_month < HIGH_VOLUME, (0, 0, 0),
              _VOLUME + "neither high nor low enough to favour an option."),
    Criterion("inputs", lambda w: w.inputs == "structured", (2, 0, 1),
              "inputs are structured: a model learns from the fields directly."),
    Criterion("inputs", lambda w: w.inputs == "unstructured", (-2, 2, 0),
              "inputs are unstructured: an agent reads text and documents, which a model "
              "would first need turned into features."),
    Criterion("inputs", lambda w: w.inputs == "mixed", (-1, 1, 2),
              "inputs are mixed: a model scores the structured part and an agent reads the "
              "rest, which is the hybrid pattern."),
    Criterion("task_variety", lambda w: w.task_variety == "narrow", (2, 0, 1),
              "task_variety is narrow: one prediction repeated, which a specialised model "
              "does fastest and cheapest."),
    Criterion("task_variety", lambda w: w.task_variety == "varied", (-2, 2, 0),
              "task_variety is varied: cases need different steps, which an agent plans and "
              "a single model cannot."),
    Criterion("labelled_history", lambda w: w.labelled_history >= AMPLE_LABELLED, (2, 0, 2),
              _LABELS + "ample to train and validate a model."),
    Criterion("labelled_history",
              lambda w: MIN_LABELLED <= w.labelled_history < AMPLE_LABELLED, (1, 0, 1),
              _LABELS + f"enough for a first model, short of the {AMPLE_LABELLED:,} that "
              "would make it reliable."),
    Criterion("labelled_history", lambda w: w.labelled_history < MIN_LABELLED, (-3, 0, -2),
              _LABELS + f"fewer than the {MIN_LABELLED:,} a model needs to be trained and "
              "validated; an agent works from instructions, not labels."),
    Criterion("systems_touched", lambda w: w.systems_touched <= 1, (1, 0, 0),
              _SYSTEMS + "little to orchestrate; a prediction can be served in place."),
    Criterion("systems_touched", lambda w: w.systems_touched == 2, (0, 0, 0),
              _SYSTEMS + "two systems favour no option."),
    Criterion("systems_touched", lambda w: w.systems_touched >= MANY_SYSTEMS, (-2, 2, 2),
              _SYSTEMS + "acting across them needs orchestration (an agent's tools), which a "
              "model alone does not do."),
    Criterion("regulatory", lambda w: not w.regulatory, (0, 0, 0),
              "regulatory is none: no constraint favours an option."),
    Criterion("regulatory", _has("explainability"), (1, -1, 2),
              "regulatory includes explainability: a model's decision can be explained from "
              "its features and a hybrid keeps that prediction at its core, while an LLM's "
              "reasoning cannot be reliably explained."),
    Criterion("regulatory", _has("human_approval"), (-1, 1, 2),
              "regulatory includes human_approval: an agent's charter asks a person before "
              "acting (approval receipts), in a hybrid on top of the model's prediction; a "
              "bare model has no approval step."),
    Criterion("regulatory", _has("audit_trail"), (0, 1, 1),
              "regulatory includes audit_trail: charter journals an agent's every step in a "
              "hash-chained journal; a model's predictions need a trail built around them."),
    Criterion("regulatory", _has("data_residency"), (1, 0, 1),
              "regulatory includes data_residency: a model runs where the data lives; an "
              "agent must keep its reasoner in the region (charter's local reasoner)."),
    Criterion("volume_per_month, systems_touched",
              lambda w: w.volume_per_month >= HIGH_VOLUME and w.systems_touched >= MANY_SYSTEMS,
              (0, 0, 2),
              "volume_per_month is {w.volume_per_month:,} with systems_touched "
              "{w.systems_touched}: at high volume with actions across systems a model screens "
              "every case cheaply and the agent acts only where needed."),
)  # fmt: skip
"""The fit criteria in the order they apply; economics is scored after them."""


@dataclass(frozen=True, slots=True)
class _Figures:
    agent_cost: float
    error_rates: dict[Option, float]
    assumptions: list[Assumption]
    notes: list[str]


def _figures(w: Workflow, measured: Measured | None) -> _Figures:
    """The figures the estimates use, each listed as an assumption with its source."""

    def src(name: str) -> Source:
        return "given" if name in w.model_fields_set else "default"

    agent_cost, cost_src = w.agent_cost_per_case_usd, src("agent_cost_per_case_usd")
    agent_rate, rate_src = w.agent_error_rate, src("agent_error_rate")
    agent_rate = AGENT_ERROR_RATE if agent_rate is None else agent_rate
    cost_note, rate_note = "one agent run per case", "agent runs with a wrong outcome"
    notes: list[str] = []
    if measured is not None and measured.success_rate is not None:
        runs = f"{measured.finished:,} finished run(s) of {measured.agent!r}"
        new_rate = 1 - measured.success_rate
        replaced = [f"error rate ({agent_rate:.1%} -> {new_rate:.1%})"]
        agent_rate, rate_src = new_rate, "measured"
        rate_note = f"runs that did not succeed (denied, failed, ...), of the {runs}"
        if measured.mean_cost_usd is not None:
            replaced.insert(0, f"cost per case (${agent_cost:g} -> ${measured.mean_cost_usd:g})")
            agent_cost, cost_src = measured.mean_cost_usd, "measured"
            cost_note = f"mean cost of the {runs}; one run per case"
        notes.append(
            f"Measured: the {runs} in the journal replace the assumed agent "
            f"{' and '.join(replaced)}."
        )
    elif measured is not None:
        notes.append(
            f"Measured: {measured.agent!r} has {measured.runs} run(s) in the journal but none "
            "finished, so the agent's cost and error rate stay assumed."
        )
    fits = w.model_fits
    fit_note = "a model fits the task" if fits else "no model fits the task"
    model_rate = w.model_error_rate
    if model_rate is None:
        model_rate = MODEL_ERROR_RATE if fits else UNFIT_MODEL_ERROR_RATE
    hybrid_rate = w.hybrid_error_rate
    if hybrid_rate is None:
        hybrid_rate = HYBRID_ERROR_RATE if fits else agent_rate
    hybrid_note = (
        "its agent and approvers handle the model's hard cases"
        if fits
        else f"{fit_note}, so the hybrid errs as its agent does"
    )
    usd, share = "USD", "share of cases"
    rows: list[tuple[str, float, str, Source, str]] = [
        ("volume_per_month", w.volume_per_month, "cases", "given", "cases a month"),
        ("manual_cost_usd", w.manual_cost_usd, usd, "given", "a person handling one case"),
        ("error_cost_usd", w.error_cost_usd, usd, "given", "one wrong outcome"),
        ("agent_cost_per_case_usd", agent_cost, usd, cost_src, cost_note),
        ("model_cost_per_month_usd", w.model_cost_per_month_usd, usd,
         src("model_cost_per_month_usd"), "serving, monitoring, retraining"),
        ("hybrid_agent_share", w.hybrid_agent_share, share, src("hybrid_agent_share"),
         "cases a hybrid's model routes to its agent"),
        ("agent_build_cost_usd", w.agent_build_cost_usd, usd, src("agent_build_cost_usd"), "once"),
        ("model_build_cost_usd", w.model_build_cost_usd, usd, src("model_build_cost_usd"), "once"),
        ("hybrid_build_cost_usd", w.hybrid_build_cost_usd, usd, src("hybrid_build_cost_usd"),
         "once"),
        ("manual_error_rate", w.manual_error_rate, share, src("manual_error_rate"),
         "cases a person gets wrong"),
        ("agent_error_rate", agent_rate, share, rate_src, rate_note),
        ("model_error_rate", model_rate, share, src("model_error_rate"), fit_note),
        ("hybrid_error_rate", hybrid_rate, share, src("hybrid_error_rate"), hybrid_note),
        ("horizon_months", w.horizon_months, "months", src("horizon_months"), "of the estimate"),
    ]  # fmt: skip
    return _Figures(
        agent_cost=agent_cost,
        error_rates={"model": model_rate, "agent": agent_rate, "hybrid": hybrid_rate},
        assumptions=[
            Assumption(name=name, value=value, unit=unit, source=source, note=note)
            for name, value, unit, source, note in rows
        ],
        notes=notes,
    )


def manual_monthly_cost(w: Workflow) -> float:
    """What handling every case by hand costs a month, errors included."""
    return w.volume_per_month * (w.manual_cost_usd + w.manual_error_rate * w.error_cost_usd)


def _estimate(w: Workflow, figures: _Figures, option: Option) -> Estimate:
    volume, horizon = w.volume_per_month, w.horizon_months
    if option == "agent":
        run_cost, build = volume * figures.agent_cost, w.agent_build_cost_usd
    elif option == "model":
        run_cost, build = w.model_cost_per_month_usd, w.model_build_cost_usd
    else:
        routed = w.hybrid_agent_share * volume * figures.agent_cost
        run_cost, build = w.model_cost_per_month_usd + routed, w.hybrid_build_cost_usd
    error_cost = volume * figures.error_rates[option] * w.error_cost_usd
    monthly = run_cost + error_cost
    total = build + monthly * horizon
    savings = manual_monthly_cost(w) - monthly
    net = savings * horizon - build
    return Estimate(
        option=option,
        cost_per_case_usd=round(run_cost / volume, 6),
        monthly_run_cost_usd=round(run_cost, 2),
        monthly_error_cost_usd=round(error_cost, 2),
        monthly_cost_usd=round(monthly, 2),
        build_cost_usd=round(build, 2),
        total_cost_usd=round(total, 2),
        all_in_cost_per_case_usd=round(total / (volume * horizon), 6),
        monthly_savings_usd=round(savings, 2),
        net_usd=round(net, 2),
        roi_percent=round(100 * net / total, 1) if total > 0 else None,
        payback_months=round(build / savings, 2) if savings > 0 else None,
    )


def _usd(value: float) -> str:
    return f"{'-' if value < 0 else ''}${abs(value):,.0f}"


def _economics(w: Workflow, estimates: dict[Option, Estimate]) -> list[Reason]:
    horizon, criterion = w.horizon_months, "economics"
    best = max(OPTIONS, key=lambda o: (estimates[o].net_usd, -OPTIONS.index(o)))
    reasons = [
        Reason(
            criterion=criterion,
            points={o: int(o == best) for o in OPTIONS},
            text=(
                f"economics: {best} has the highest net value over horizon_months {horizon} "
                f"({_usd(estimates[best].net_usd)} against manual_cost_usd "
                f"${w.manual_cost_usd:,g} a case and error_cost_usd ${w.error_cost_usd:,g})."
            ),
        )
    ]
    losing: list[Option] = [o for o in OPTIONS if estimates[o].net_usd < 0]
    if losing:
        nets = ", ".join(f"{o} {_usd(estimates[o].net_usd)}" for o in losing)
        reasons.append(
            Reason(
                criterion=criterion,
                points={o: -int(o in losing) for o in OPTIONS},
                text=(
                    f"economics: {' and '.join(losing)} would not pay back within "
                    f"horizon_months {horizon} (net {nets})."
                ),
            )
        )
    return reasons


def advise(workflow: Workflow, measured: Measured | None = None) -> Advice:
    """Score the model, agent and hybrid options for ``workflow`` and estimate their cost.

    Args:
        workflow: the workflow as described.
        measured: an agent's journaled figures (:func:`measure`); once it has finished
            runs, its mean cost per run and error rate replace the assumed ones.
    """
    figures = _figures(workflow, measured)
    estimates: dict[Option, Estimate] = {o: _estimate(workflow, figures, o) for o in OPTIONS}
    reasons = [c.reason(workflow) for c in CRITERIA if c.applies(workflow)]
    reasons += _economics(workflow, estimates)
    scores: dict[Option, int] = {o: sum(r.points[o] for r in reasons) for o in OPTIONS}
    pick = max(OPTIONS, key=lambda o: (scores[o], estimates[o].net_usd, -OPTIONS.index(o)))
    notes = list(figures.notes)
    if estimates[pick].net_usd < 0:
        notes.append(
            f"{pick} fits best but would not pay back within {workflow.horizon_months} months "
            "under these assumptions: check them, or keep the work manual for now."
        )
    if pick != "agent" and workflow.labelled_history < MIN_LABELLED:
        notes.append(
            f"Recommending a {pick} assumes a trained model, but labelled_history is "
            f"{workflow.labelled_history:,}, short of the {MIN_LABELLED:,} needed to train and "
            "validate one: label past cases first, or start with an agent and keep its "
            "journaled outcomes as labels."
        )
    others: list[Option] = [o for o in OPTIONS if o != pick]
    second = max(others, key=lambda o: scores[o])
    if scores[pick] - scores[second] <= 1:
        notes.append(
            f"A close call: {pick} leads {second} by {scores[pick] - scores[second]} point(s); "
            "the reasons show which inputs would tip it."
        )
    return Advice(
        workflow=workflow.name,
        recommendation=pick,
        scores=scores,
        reasons=reasons,
        estimates=[estimates[o] for o in OPTIONS],
        manual_monthly_cost_usd=round(manual_monthly_cost(workflow), 2),
        horizon_months=workflow.horizon_months,
        assumptions=figures.assumptions,
        measured=measured,
        notes=notes,
    )
