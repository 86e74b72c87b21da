"""Charters, decisions and budgets."""

from charter.policy._anomaly import AnomalyKind, AnomalyRule, Notifications, PlaybookAction
from charter.policy._budget import BudgetMeter, CallLimiter, RateLimiter
from charter.policy._cedar import CompiledCharter
from charter.policy._charter import (
    ApprovalLevel,
    ApprovalPolicy,
    Budgets,
    Charter,
    Effect,
    ModelPrice,
    Phase,
    RateLimit,
    Rule,
    ToolRules,
    load_charter,
)
from charter.policy._decision import Decision, Verdict
from charter.policy._flow import GOAL_LABEL, Flows, Label, check_flows, decide_call, join_all
from charter.policy._redact import PLACEHOLDER, NamedPattern, RedactRule
from charter.policy._rollout import (
    PHASES,
    RUN_KPIS,
    SUITE_KPIS,
    Baseline,
    Demotion,
    Gate,
    Rollout,
    RunGate,
    RunKpi,
    SuiteKpi,
)

__all__ = [
    "GOAL_LABEL",
    "PHASES",
    "PLACEHOLDER",
    "RUN_KPIS",
    "SUITE_KPIS",
    "AnomalyKind",
    "AnomalyRule",
    "ApprovalLevel",
    "ApprovalPolicy",
    "Baseline",
    "BudgetMeter",
    "Budgets",
    "CallLimiter",
    "Charter",
    "CompiledCharter",
    "Decision",
    "Demotion",
    "Effect",
    "Flows",
    "Gate",
    "Label",
    "ModelPrice",
    "NamedPattern",
    "Notifications",
    "Phase",
    "PlaybookAction",
    "RateLimit",
    "RateLimiter",
    "RedactRule",
    "Rollout",
    "Rule",
    "RunGate",
    "RunKpi",
    "SuiteKpi",
    "ToolRules",
    "Verdict",
    "check_flows",
    "decide_call",
    "join_all",
    "load_charter",
]
