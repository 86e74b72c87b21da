"""Rate limits across an agent's runs, with a controllable clock."""

from __future__ import annotations

import pytest

from charter.policy import Charter, RateLimit, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


LIMIT = RateLimit(id="refunds", tools=["refund_*"], max_calls=2, per_seconds=60)


def test_calls_within_the_limit_are_admitted() -> None:
    limiter = RateLimiter(Clock())

    assert limiter.admit("refund_order", [LIMIT]) is None
    assert limiter.admit("refund_order", [LIMIT]) is None


def test_the_call_over_the_limit_is_refused() -> None:
    limiter = RateLimiter(Clock())
    limiter.admit("refund_order", [LIMIT])
    limiter.admit("refund_order", [LIMIT])

    assert limiter.admit("refund_order", [LIMIT]) == LIMIT


def test_the_window_slides() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    limiter.admit("refund_order", [LIMIT])
    clock.now += 30
    limiter.admit("refund_order", [LIMIT])
    clock.now += 31  # the first call has left the window

    assert limiter.admit("refund_order", [LIMIT]) is None
    assert limiter.admit("refund_order", [LIMIT]) == LIMIT


def test_a_refused_call_is_not_counted() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    for _ in range(5):
        limiter.admit("refund_order", [LIMIT])
    clock.now += 61

    assert limiter.admit("refund_order", [LIMIT]) is None


def test_tools_outside_the_pattern_are_not_limited() -> None:
    limiter = RateLimiter(Clock())
    for _ in range(10):
        assert limiter.admit("lookup_order", [LIMIT]) is None


def test_duplicate_rate_limit_ids_are_refused() -> None:
    limit = {"id": "x", "max_calls": 1, "per_seconds": 1}
    with pytest.raises(ValueError, match=r"rate_limits\.1\.id: 'x' is used twice"):
        Charter.model_validate({"name": "c", "rate_limits": [limit, limit]})


def test_rule_ids_may_not_use_the_rate_limit_prefix() -> None:
    with pytest.raises(ValueError, match="may not start with"):
        Charter.model_validate({"name": "c", "rules": [{"id": "rate_limits.x", "effect": "deny"}]})
