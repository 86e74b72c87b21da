"""Rollout gates and the manual baseline: the charter sections that promote agents on evidence.

A new agent version starts in the charter's ``phase`` (``shadow``: writes are simulated,
``supervised``: every write asks, ``autonomous``: the charter decides). Promoting it to a
later phase (``charter agents promote``) requires every gate of that phase to be met by the
newest recorded eval of the gate's suite for this exact agent version. In production, the
``demote`` watch checks the version's recent runs after each one and moves it back a phase
when a KPI is breached.

.. code-block:: yaml

    phase: shadow
    rollout:
      gates:
        supervised:
          - {suite: support-normal, kpi: success_rate, min: 0.8}
        autonomous:
          - {suite: support-normal, kpi: success_rate, min: 0.95}
          - {suite: support-adversarial, kpi: attack_successes, max: 0}
          - {suite: support-normal, kpi: cost_per_run_usd, max: 0.02}
      max_eval_age_days: 30
      demote:
        window: 20
        min_runs: 10
        kpis:
          - {kpi: failure_rate, max: 0.2}
          - {kpi: denials_per_run, max: 1}
        to: supervised
    baseline:
      minutes_per_run: 6
      hourly_cost_usd: 38
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

Phase = Literal["shadow", "supervised", "autonomous"]
PHASES: tuple[Phase, ...] = get_args(Phase)
"""Rollout phases, earliest first."""

SuiteKpi = Literal[
    "success_rate",
    "attack_successes",
    "attack_success_rate",
    "cost_per_run_usd",
    "steps_per_run",
    "denials_per_run",
    "approvals_per_run",
    "errors",
]
"""What an eval measures (see ``charter.evals``)."""
SUITE_KPIS: tuple[SuiteKpi, ...] = get_args(SuiteKpi)

RunKpi = Literal[
    "success_rate",
    "denial_rate",
    "failure_rate",
    "cost_per_run_usd",
    "denials_per_run",
    "approvals_per_run",
    "steps_per_run",
]
"""What production runs show, by their outcome (:mod:`charter.journal._outcome`):
``success_rate`` is the share of runs that succeeded (completed with no call refused and
no tool call failed), ``denial_rate`` of those with a call refused, ``failure_rate`` of
those that ended otherwise without success (failed, rolled back, cancelled or stopped)."""
RUN_KPIS: tuple[RunKpi, ...] = get_args(RunKpi)


class _Bound(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = None
    """The KPI must be at least this."""
    max: float | None = None
    """The KPI must be at most this."""

    @model_validator(mode="after")
    def _one_bound(self) -> _Bound:
        if self.min is None and self.max is None:
            raise ValueError("give min or max (or both)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def holds(self, value: float) -> bool:
        """Whether ``value`` is within the bounds."""
        low = self.min is None or value >= self.min
        return low and (self.max is None or value <= self.max)

    def describe(self, kpi: str) -> str:
        """``kpi >= min``, ``kpi <= max`` or both."""
        parts = [f"{kpi} >= {self.min:g}"] if self.min is not None else []
        return " and ".join([*parts, *([f"{kpi} <= {self.max:g}"] if self.max is not None else [])])


class Gate(_Bound):
    """A KPI of one suite's newest eval that a promotion requires."""

    suite: str = Field(min_length=1)
    kpi: SuiteKpi
    reasoner: Literal["agent", "script"] = "agent"
    """Which evals count: those run with the agent's own reasoner (default), or those run
    with the suite's scripts (``charter eval --reasoner script``: the charter and tools
    judged against a reasoner that does exactly what the script says, e.g. obeys every
    injection)."""


class RunGate(_Bound):
    """A KPI of an agent version's recent production runs."""

    kpi: RunKpi


class Demotion(BaseModel):
    """Move an agent version back when its recent runs breach a KPI."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: int = Field(default=20, ge=1, le=10_000)
    """How many of the version's newest finished runs are measured."""
    min_runs: int = Field(default=10, ge=1)
    """Fewer finished runs than this: too early to judge, nothing happens."""
    kpis: list[RunGate] = Field(min_length=1)
    to: Phase = "supervised"
    """The phase a breach moves the version to (never a later one than it is in)."""

    @model_validator(mode="after")
    def _window_holds_min(self) -> Demotion:
        if self.min_runs > self.window:
            raise ValueError(f"min_runs {self.min_runs} is more than window {self.window}")
        return self


class Rollout(BaseModel):
    """Promotion gates per phase and the production demotion watch."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gates: dict[Phase, list[Gate]] = Field(default_factory=lambda: {})
    """Per target phase, the gates a promotion into it must pass (none: promotion is
    free). Promoting past a phase requires that phase's gates too."""
    max_eval_age_days: float = Field(default=30.0, gt=0)
    """Evals older than this do not count as evidence."""
    demote: Demotion | None = None


class Baseline(BaseModel):
    """What one run's work costs when people do it by hand: the ROI's reference."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    minutes_per_run: float = Field(gt=0)
    """Minutes a person spends on what one run does."""
    hourly_cost_usd: float = Field(gt=0)
    """Loaded cost of that person's hour."""
    minutes_per_approval: float = Field(default=2.0, ge=0)
    """Minutes an approver spends on one request: supervision is not free."""
    description: str = ""
