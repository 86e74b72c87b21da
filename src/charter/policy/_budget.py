"""Budget metering for one run."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from charter.policy._charter import Budgets


@dataclass(slots=True)
class BudgetMeter:
    """Counts what a run has spent against its charter's budgets."""

    budgets: Budgets
    steps: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def breach(self) -> tuple[str, str] | None:
        """``(rule id, message)`` of the first exceeded budget, or None."""
        b = self.budgets
        if self.steps >= b.max_steps:
            return "budget.max_steps", f"step budget of {b.max_steps} used up"
        if b.max_tokens is not None and self.tokens > b.max_tokens:
            return "budget.max_tokens", f"token budget exceeded ({self.tokens} > {b.max_tokens})"
        elapsed = time.monotonic() - self.started
        if b.max_wall_seconds is not None and elapsed > b.max_wall_seconds:
            return (
                "budget.max_wall_seconds",
                f"wall-time budget exceeded ({elapsed:.1f}s > {b.max_wall_seconds}s)",
            )
        return None
