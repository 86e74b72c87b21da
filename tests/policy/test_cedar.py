"""Charter rules compiled to Cedar: effects, conditions, raw Cedar, failing closed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from charter.errors import ConfigError
from charter.policy import Charter
from charter.tools import tool


@tool(side_effect="write")
def refund_order(order_id: int, amount_cents: int | None = None) -> int:
    """Refund an order."""
    return order_id


@tool(side_effect="external")
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return to


@tool
def lookup_order(order_id: int) -> int:
    """Look up an order."""
    return order_id


def _charter(**fields: Any) -> Charter:
    return Charter.model_validate({"name": "c"} | fields)


LARGE_REFUNDS = {
    "id": "large-refunds",
    "effect": "ask",
    "tools": ["refund_order"],
    "when": "context.args has amount_cents && context.args.amount_cents > 50000",
    "reason": "refunds over $500 need a manager",
}


def test_condition_on_arguments_asks_for_large_refunds() -> None:
    charter = _charter(rules=[LARGE_REFUNDS])

    decision = charter.decide(refund_order, {"order_id": 1, "amount_cents": 60000})

    assert decision.verdict == "ask"
    assert decision.rules == ("large-refunds",)
    assert decision.reason == "refunds over $500 need a manager"
    assert decision.policy == charter.policy_hash


def test_condition_not_met_allows() -> None:
    decision = _charter(rules=[LARGE_REFUNDS]).decide(
        refund_order, {"order_id": 1, "amount_cents": 100}
    )

    assert (decision.verdict, decision.rules) == ("allow", ("tools.allow",))


def test_missing_optional_argument_is_absent_not_null() -> None:
    decision = _charter(rules=[LARGE_REFUNDS]).decide(
        refund_order, {"order_id": 1, "amount_cents": None}
    )

    assert decision.verdict == "allow"


def test_deny_wins_over_a_matching_ask_and_allow() -> None:
    rules = [
        LARGE_REFUNDS,
        {
            "id": "no-refunds-on-1013",
            "effect": "deny",
            "tools": ["refund_order"],
            "when": "context.args.order_id == 1013",
        },
    ]

    decision = _charter(rules=rules).decide(refund_order, {"order_id": 1013, "amount_cents": 90000})

    assert (decision.verdict, decision.rules) == ("deny", ("no-refunds-on-1013",))


def test_ask_is_stronger_than_simulate_and_redact() -> None:
    rules = [
        {"id": "a", "effect": "redact", "tools": ["refund_order"]},
        {"id": "b", "effect": "simulate", "tools": ["refund_order"]},
        {"id": "c", "effect": "ask", "tools": ["refund_order"]},
    ]

    assert _charter(rules=rules).decide(refund_order, {"order_id": 1}).rules == ("c",)


def test_an_obligation_does_not_open_a_tool_the_allow_list_closes() -> None:
    charter = _charter(tools={"allow": ["lookup_order"]}, rules=[LARGE_REFUNDS])

    decision = charter.decide(refund_order, {"order_id": 1, "amount_cents": 60000})

    assert (decision.verdict, decision.rules) == ("deny", ("tools.default-deny",))


def test_condition_on_tool_contract() -> None:
    rule = {"id": "no-external", "effect": "deny", "when": 'resource.side_effect == "external"'}
    charter = _charter(rules=[rule])

    assert charter.decide(send_email, {"to": "a@b.c", "body": "x"}).rules == ("no-external",)
    assert charter.decide(lookup_order, {"order_id": 1}).verdict == "allow"


def test_condition_on_time_of_day() -> None:
    charter = _charter(
        rules=[{"id": "night-freeze", "effect": "deny", "when": "context.hour >= 22"}]
    )
    night = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    noon = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    assert charter.decide(lookup_order, {"order_id": 1}, now=night).verdict == "deny"
    assert charter.decide(lookup_order, {"order_id": 1}, now=noon).verdict == "allow"


def test_condition_on_rollout_phase() -> None:
    rule = {
        "id": "shadow-writes",
        "effect": "simulate",
        "tools": ["refund_order"],
        "when": 'context.phase == "shadow"',
    }

    shadow = _charter(phase="shadow", rules=[rule]).decide(refund_order, {"order_id": 1})
    live = _charter(rules=[rule]).decide(refund_order, {"order_id": 1})

    assert (shadow.verdict, live.verdict) == ("simulate", "allow")


def test_condition_on_agent() -> None:
    rule = {
        "id": "intern-no-refunds",
        "effect": "deny",
        "tools": ["refund_order"],
        "when": 'principal == Agent::"intern"',
    }
    charter = _charter(rules=[rule])

    assert charter.decide(refund_order, {"order_id": 1}, agent="intern").verdict == "deny"
    assert charter.decide(refund_order, {"order_id": 1}, agent="support").verdict == "allow"


def test_a_rule_that_cannot_be_evaluated_fails_closed() -> None:
    rule = {
        "id": "bad",
        "effect": "deny",
        "tools": ["lookup_order"],
        "when": "context.args.no_such_argument > 3",
    }

    decision = _charter(rules=[rule]).decide(lookup_order, {"order_id": 1})

    assert (decision.verdict, decision.rules) == ("deny", ("policy.error",))
    assert "could not be evaluated" in decision.reason


def test_raw_cedar_forbid_denies_with_its_id() -> None:
    cedar = (
        '@id("raw.big-orders")\n'
        'forbid(principal, action, resource == Tool::"lookup_order")'
        " when { context.args.order_id > 9000 };"
    )
    charter = _charter(cedar=cedar)

    assert charter.decide(lookup_order, {"order_id": 9999}).rules == ("raw.big-orders",)
    assert charter.decide(lookup_order, {"order_id": 1}).verdict == "allow"


def test_raw_cedar_permit_allows_a_tool_outside_the_allow_list() -> None:
    cedar = '@id("raw.lookups")\npermit(principal, action, resource == Tool::"lookup_order");'
    charter = _charter(tools={"allow": []}, cedar=cedar)

    assert charter.decide(lookup_order, {"order_id": 1}).rules == ("raw.lookups",)
    assert charter.decide(send_email, {"to": "x", "body": "y"}).verdict == "deny"


def test_raw_cedar_without_an_id_is_refused() -> None:
    with pytest.raises(ValueError, match="needs an @id"):
        _charter(cedar="permit(principal, action, resource);")


def test_invalid_raw_cedar_is_refused() -> None:
    with pytest.raises(ValueError, match="cedar"):
        _charter(cedar='@id("x") permit(principal, action, resource) when {')


def test_invalid_condition_names_the_rule() -> None:
    with pytest.raises(ValueError, match=r"rules\.0\.when: invalid Cedar condition"):
        _charter(rules=[{"id": "x", "effect": "deny", "when": "context.args.amount >"}])


def test_duplicate_rule_ids_are_refused() -> None:
    rule = {"id": "x", "effect": "deny"}
    with pytest.raises(ValueError, match=r"rules\.1\.id: 'x' is used twice"):
        _charter(rules=[rule, rule])


def test_reserved_rule_id_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="may not start with"):
        _charter(rules=[{"id": "tools.sneaky", "effect": "allow"}])


def test_unknown_effect_is_refused() -> None:
    with pytest.raises(ValueError, match="effect"):
        _charter(rules=[{"id": "x", "effect": "maybe"}])


def test_raw_id_clashing_with_a_rule_id_is_refused() -> None:
    with pytest.raises(ValueError, match="also a rule id"):
        _charter(
            rules=[{"id": "x", "effect": "deny"}],
            cedar='@id("x")\nforbid(principal, action, resource);',
        )


def test_charter_file_with_a_bad_condition_is_a_config_error(tmp_path: Any) -> None:
    from charter.policy import load_charter

    path = tmp_path / "c.yaml"
    path.write_text("name: c\nrules:\n  - {id: x, effect: deny, when: 'context.args.a >'}\n")

    with pytest.raises(ConfigError, match=r"c\.yaml: rules\.0\.when: invalid Cedar condition"):
        load_charter(path)


def test_compiled_cedar_text_is_sliced_per_tool() -> None:
    charter = _charter(rules=[LARGE_REFUNDS])

    assert "large-refunds" in charter.compiled.cedar_text("refund_order")
    assert "large-refunds" not in charter.compiled.cedar_text("lookup_order")


@pytest.mark.parametrize(
    ("charter", "denied"),
    [
        ({"tools": {"deny": ["send_*"]}}, True),  # the tool list denies it outright
        ({"tools": {"allow": ["lookup_*"]}}, True),  # nothing could allow it
        ({"rules": [{"id": "never", "effect": "deny", "tools": ["send_email"]}]}, True),
        ({}, False),
        ({"tools": {"allow": []}, "rules": [{"id": "ok", "effect": "allow"}]}, False),
        (
            {"rules": [{"id": "not-out", "effect": "deny", "when": 'context.args.to like "*@x"'}]},
            False,  # a condition: some calls may be allowed
        ),
        (
            {
                "tools": {"allow": []},
                "cedar": '@id("raw") permit(principal, action, resource);',
            },
            False,  # raw Cedar may allow what the rules do not
        ),
    ],
)
def test_denies_every_call_only_when_no_call_could_be_allowed(
    charter: dict[str, Any], denied: bool
) -> None:
    compiled = Charter(name="c", **charter).compiled
    assert compiled.denies_every_call("send_email") is denied
    if denied:  # and indeed a call is denied
        assert compiled.decide(send_email, {"to": "a@b", "body": "x"}).verdict == "deny"
