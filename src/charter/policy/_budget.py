"""Budget metering for one run, and rate limits across an agent's runs."""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from charter.policy._charter import Budgets, ModelPrice, RateLimit


@dataclass(slots=True)
class BudgetMeter:
    """Counts what a run has spent against its charter's budgets."""

    budgets: Budgets
    steps: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)
    delegated_steps: int = 0
    """Steps its sub-agents took on its behalf: they count against its budgets, and are
    reported in their own runs (not in this run's ``steps``), as are the next two."""
    delegated_tokens: int = 0
    """Tokens its sub-agents spent on its behalf."""
    delegated_cost_usd: float = 0.0
    """Dollars its sub-agents spent on its behalf."""

    def charge_tokens(
        self, model: str, prompt: int, completion: int, prices: dict[str, ModelPrice]
    ) -> float:
        """Count a proposal's tokens, and their price if the model has one; return that price."""
        self.tokens += prompt + completion
        price = prices.get(model)
        if price is None:
            return 0.0
        cost = (
            prompt * price.prompt_per_million + completion * price.completion_per_million
        ) / 1_000_000
        self.cost_usd += cost
        return cost

    def breach(self) -> tuple[str, str] | None:
        """``(rule id, message)`` of the first exceeded budget, or None."""
        b = self.budgets
        if self.steps + self.delegated_steps >= b.max_steps:
            return "budget.max_steps", f"step budget of {b.max_steps} used up"
        tokens, cost = self.tokens + self.delegated_tokens, self.cost_usd + self.delegated_cost_usd
        if b.max_tokens is not None and tokens > b.max_tokens:
            return "budget.max_tokens", f"token budget exceeded ({tokens} > {b.max_tokens})"
        if b.max_cost_usd is not None and cost > b.max_cost_usd:
            return (
                "budget.max_cost_usd",
                f"cost budget exceeded (${cost:.4f} > ${b.max_cost_usd})",
            )
        elapsed = time.monotonic() - self.started
        if b.max_wall_seconds is not None and elapsed > b.max_wall_seconds:
            return (
                "budget.max_wall_seconds",
                f"wall-time budget exceeded ({elapsed:.1f}s > {b.max_wall_seconds}s)",
            )
        return None


class CallLimiter(Protocol):
    """Anything that counts calls against rate limits."""

    def admit(self, tool_name: str, limits: list[RateLimit]) -> RateLimit | None:
        """Count a call of ``tool_name``; return the limit it would exceed, or None."""
        ...


class RateLimiter:
    """Sliding-window call counts per rate limit, shared by every run of one agent.

    In-process, for agents governed outside a runner; a runner counts from its journal
    instead (:class:`charter.runtime.JournalRateLimiter`), across processes.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, tool_name: str, limits: list[RateLimit]) -> RateLimit | None:
        """Count a call of ``tool_name``; return the limit it would exceed (not counted)."""
        matching = [r for r in limits if any(fnmatch.fnmatchcase(tool_name, p) for p in r.tools)]
        if not matching:
            return None
        now = self._clock()
        with self._lock:
            windows = [self._calls.setdefault(r.id, deque()) for r in matching]
            for limit, window in zip(matching, windows, strict=True):
                while window and window[0] <= now - limit.per_seconds:
                    window.popleft()
                if len(window) >= limit.max_calls:
                    return limit
            for window in windows:
                window.append(now)
        return None
