"""Charters, decisions and budgets."""

from charter.policy._budget import BudgetMeter
from charter.policy._charter import Budgets, Charter, ToolRules, load_charter
from charter.policy._decision import Decision, Verdict

__all__ = ["BudgetMeter", "Budgets", "Charter", "Decision", "ToolRules", "Verdict", "load_charter"]
