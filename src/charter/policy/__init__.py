"""Charters, decisions and budgets."""

from charter.policy._budget import BudgetMeter, RateLimiter
from charter.policy._cedar import CompiledCharter
from charter.policy._charter import (
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

__all__ = [
    "BudgetMeter",
    "Budgets",
    "Charter",
    "CompiledCharter",
    "Decision",
    "Effect",
    "ModelPrice",
    "Phase",
    "RateLimit",
    "RateLimiter",
    "Rule",
    "ToolRules",
    "Verdict",
    "load_charter",
]
