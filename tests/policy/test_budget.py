"""Tests for budget metering."""

import time

from charter.policy import BudgetMeter, Budgets


def test_fresh_meter_has_no_breach() -> None:
    meter = BudgetMeter(Budgets(max_steps=3, max_tokens=100, max_wall_seconds=60))

    assert meter.breach() is None


def test_steps_below_the_budget_are_no_breach() -> None:
    meter = BudgetMeter(Budgets(max_steps=3), steps=2)

    assert meter.breach() is None


def test_steps_reaching_the_budget_are_a_breach() -> None:
    meter = BudgetMeter(Budgets(max_steps=3), steps=3)

    assert meter.breach() == ("budget.max_steps", "step budget of 3 used up")


def test_tokens_at_the_budget_are_no_breach() -> None:
    meter = BudgetMeter(Budgets(max_tokens=100), tokens=100)

    assert meter.breach() is None


def test_tokens_over_the_budget_are_a_breach() -> None:
    meter = BudgetMeter(Budgets(max_tokens=100), tokens=101)

    assert meter.breach() == ("budget.max_tokens", "token budget exceeded (101 > 100)")


def test_tokens_are_unlimited_without_a_token_budget() -> None:
    meter = BudgetMeter(Budgets(max_tokens=None), tokens=10**9)

    assert meter.breach() is None


def test_wall_time_over_the_budget_is_a_breach() -> None:
    meter = BudgetMeter(Budgets(max_wall_seconds=30), started=time.monotonic() - 100)

    breach = meter.breach()

    assert breach is not None
    rule, message = breach
    assert rule == "budget.max_wall_seconds"
    assert message.startswith("wall-time budget exceeded (")
    assert message.endswith("s > 30.0s)")


def test_wall_time_within_the_budget_is_no_breach() -> None:
    meter = BudgetMeter(Budgets(max_wall_seconds=1000), started=time.monotonic() - 100)

    assert meter.breach() is None


def test_wall_time_is_unlimited_without_a_wall_budget() -> None:
    meter = BudgetMeter(Budgets(max_wall_seconds=None), started=time.monotonic() - 10**6)

    assert meter.breach() is None


def test_step_budget_is_reported_before_token_budget() -> None:
    meter = BudgetMeter(Budgets(max_steps=1, max_tokens=1), steps=1, tokens=5)

    breach = meter.breach()

    assert breach is not None
    assert breach[0] == "budget.max_steps"


def test_token_budget_is_reported_before_wall_time_budget() -> None:
    meter = BudgetMeter(
        Budgets(max_tokens=1, max_wall_seconds=1), tokens=5, started=time.monotonic() - 100
    )

    breach = meter.breach()

    assert breach is not None
    assert breach[0] == "budget.max_tokens"


def test_meter_starts_with_nothing_spent() -> None:
    meter = BudgetMeter(Budgets())

    assert (meter.steps, meter.tokens, meter.cost_usd) == (0, 0, 0.0)
