"""Cedar, fuzzed: rule conditions and raw ``cedar:`` text from a grammar of valid fragments
mixed with stray tokens, and random call arguments for charters with conditional rules.

A charter is either refused when built (a ValidationError) or decides every call: a decision
is always returned, never an exception, and a rule that cannot be evaluated denies the
call by ``policy.error`` (fail closed).
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from pydantic import JsonValue, ValidationError

from charter import tool
from charter.policy import Charter, CompiledCharter, Decision, Label, decide_call
from reliability._support import I64, any_text, bounded, json_args, json_values

VERDICTS = ("allow", "deny", "ask", "redact", "simulate")
EFFECTS = st.sampled_from(VERDICTS)
NOON = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
THRESHOLD = 5000


@tool(side_effect="external", reads=("customer.pii",))
def pay(payee: str, amount_cents: int, memo: dict[str, Any] | None = None) -> str:
    """Pay someone."""
    return "paid"


amounts = st.one_of(
    st.integers(-(2**40), 2**40),
    st.integers(0, 10_000),
    st.integers(THRESHOLD - 2, THRESHOLD + 2),
    st.integers(I64 - 2, I64 + 2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([5000.0, 5001.0, 5000.5, 1e300]),
    json_values,
)
payees = st.one_of(st.sampled_from(["eve", "bob", "alice"]), any_text, json_values)
call_args = json_args | st.fixed_dictionaries(
    {"payee": payees, "amount_cents": amounts}, optional={"memo": json_values}
)
"""Arguments as a reasoner might propose them for ``pay``: anything, or the right names
with values of any type."""


# Conditions: valid fragments, combined, with stray tokens mixed in

ATTRIBUTES = [
    "context.args.amount_cents",
    "context.args.payee",
    "context.args.memo",
    "context.args.memo.note",
    "context.args.items",
    "context.hour",
    "context.weekday",
    "context.date",
    "context.phase",
    "context.labels",
    "resource.name",
    "resource.side_effect",
    "resource.trust",
    "resource.idempotent",
    "resource.reads",
    "principal",
    "resource",
]
RECORDS = ["context.args", "context.args.memo", "context", "resource", "context.labels"]


def _cedar_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


literals = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    any_text.map(_cedar_string),
    any_text.map(lambda text: f'"{text}"'),  # unescaped: quotes and backslashes break it
    st.sampled_from(
        ["true", "false", "[]", "[1, 2]", "{}", "{a: 1}", 'Agent::"agent"', 'Tool::"pay"']
    ),
    st.sampled_from(['ip("10.0.0.1")', 'decimal("1.25")', 'decimal("nope")', 'ip("::1/300")']),
)
OPERATORS = ["==", "!=", "<", "<=", ">", ">=", "in", "+", "-", "*"]


def _binary(a: str, op: str, b: str) -> str:
    return f"{a} {op} {b}"


def _has(record: str, name: str) -> str:
    return f"{record} has {name}"


def _like(a: str, literal: str) -> str:
    return f"{a} like {literal}"


def _method(a: str, method: str, literal: str) -> str:
    return f"{a}.{method}({literal})"


def _and(a: str, b: str) -> str:
    return f"{a} && {b}"


def _or(a: str, b: str) -> str:
    return f"({a}) || ({b})"


def _if(a: str, b: str, c: str) -> str:
    return f"if {a} then {b} else {c}"


atoms = st.one_of(
    st.builds(
        _binary,
        st.sampled_from(ATTRIBUTES),
        st.sampled_from(OPERATORS),
        literals | st.sampled_from(ATTRIBUTES),
    ),
    st.builds(
        _has,
        st.sampled_from(RECORDS),
        st.sampled_from(["amount_cents", "payee", "note", '"odd key"', "x"]),
    ),
    st.builds(_like, st.sampled_from(ATTRIBUTES), literals),
    st.builds(
        _method,
        st.sampled_from(ATTRIBUTES),
        st.sampled_from(["contains", "containsAll", "containsAny", "isInRange", "lessThan"]),
        literals,
    ),
    st.sampled_from(["true", "false", "context.args.amount_cents > 5000"]),
)
conditions: st.SearchStrategy[str] = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.builds(_and, inner, inner),
        st.builds(_or, inner, inner),
        inner.map(lambda a: f"!({a})"),
        st.builds(_if, inner, inner, inner),
    ),
    max_leaves=6,
)
STRAY = [
    "}", "{", ")", "(", ";", "//", "&&", "||", ".", ",", '"', "\\", "@id(\"x\")", "?principal",
    "permit(principal, action, resource)", "forbid(principal, action, resource)", "when",
    "unless", "};", "true }; permit(principal, action, resource) when { true", "\x00", "é",
]  # fmt: skip


@st.composite
def stray_conditions(draw: st.DrawFn) -> str:
    """A valid condition with tokens inserted, dropped or replaced."""
    tokens = draw(conditions).split(" ")
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(tokens)))
        stray = draw(st.sampled_from(STRAY) | any_text)
        match draw(st.sampled_from(["insert", "drop", "replace"])):
            case "insert":
                tokens.insert(at, stray)
            case "drop" if at < len(tokens):
                del tokens[at]
            case "replace" if at < len(tokens):
                tokens[at] = stray
            case _:
                pass
    return " ".join(tokens)


any_condition = conditions | stray_conditions()


BIG = "context.args has amount_cents && context.args.amount_cents > 5"


def _charter(rules: list[dict[str, Any]], cedar: str | None = None) -> Charter | None:
    """The charter, or None when building it refuses the policy (the only refusal allowed)."""
    try:
        built = Charter.model_validate({"name": "fuzzed", "rules": rules, "cedar": cedar})
    except ValidationError:
        event("refused")
        return None
    event("built")
    return built


def _check(decision: Decision, built: Charter) -> None:
    assert isinstance(decision, Decision)
    assert decision.verdict in VERDICTS
    event(f"verdict {decision.verdict}")
    assert decision.rules, decision
    assert decision.policy == built.policy_hash
    if "policy.error" in decision.rules:
        assert decision.verdict == "deny"
        assert decision.reason.startswith("a rule could not be evaluated")
        assert not re.search(r"`policy\d+`", decision.reason), decision.reason  # rule ids
        event("policy.error")


@bounded(300)
@given(when=any_condition, effect=EFFECTS, args=call_args)
@example(when="context.args.amount_cents > 99999999999999999999", effect="ask", args={})
@example(when="true }; permit(principal, action, resource) when { true", effect="deny", args={})
def test_a_fuzzed_condition_is_refused_or_decides_every_call(
    when: str, effect: str, args: dict[str, Any]
) -> None:
    built = _charter(
        [
            {"id": "fuzzed", "effect": effect, "tools": ["pay"], "when": when},
            {
                "id": "big",
                "effect": "ask",
                "tools": ["pay"],
                "when": "context.args.amount_cents > 5",
            },
        ]
    )
    if built is None:
        return
    by_cedar = CompiledCharter(built, compile_conditions=False)
    for target in ("pay", pay, "other"):
        decision = built.decide(target, args, now=NOON)
        _check(decision, built)
        # Compiled to Python or not, the same verdict and rules.
        alone = by_cedar.decide(target, args, now=NOON)
        assert (decision.verdict, decision.rules) == (alone.verdict, alone.rules), (when, args)
    _check(decide_call(built, pay, args, {"payee": Label("untrusted", "public")}), built)


RAW_FRAGMENTS = [
    '@id("no-eve") forbid(principal, action, resource) when { context.args.payee == "eve" };',
    '@id("ok") permit(principal, action, resource);',
    '@id("ask-big") @effect("ask") permit(principal, action == Action::"call", resource) '
    "when { context.args.amount_cents > 100 };",
    '@id("sim") @effect("simulate") @reason("r") permit(principal, action, resource) '
    'when { context.phase == "shadow" };',
    '@id("tmpl") permit(principal == ?principal, action, resource);',
    "permit(principal, action, resource);",  # no @id: refused
    '@id("big") permit(principal, action, resource);',  # clashes with a rule id
    '@id("x") permit(principal, action, resource) unless { resource.name like "p*" };',
]


@st.composite
def raw_cedar(draw: st.DrawFn) -> str:
    """Raw policies: fragments, fragments with fuzzed conditions, stray tokens between."""
    parts: list[str] = []
    for index in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["fragment", "fuzzed", "stray"]))
        if kind == "fragment":
            parts.append(draw(st.sampled_from(RAW_FRAGMENTS)))
        elif kind == "fuzzed":
            verb = draw(st.sampled_from(["permit", "forbid"]))
            effect = draw(st.sampled_from(["", *(f'@effect("{e}") ' for e in VERDICTS)]))
            when = draw(any_condition)
            parts.append(f'@id("raw{index}") {effect}{verb}(principal, action, resource) '
                         f"when {{ {when} }};")  # fmt: skip
        else:
            parts.append(draw(st.sampled_from(STRAY) | any_text))
    return "\n".join(parts)


@bounded(250)
@given(cedar=raw_cedar(), args=call_args)
def test_fuzzed_raw_cedar_is_refused_or_decides_every_call(
    cedar: str, args: dict[str, Any]
) -> None:
    built = _charter(
        [{"id": "big", "effect": "ask", "tools": ["pay"], "when": BIG}],
        cedar,
    )
    if built is None:
        return
    for target in ("pay", pay, "other"):
        _check(built.decide(target, args, now=NOON), built)


# Arguments: the verdict is exactly what the rule says, or policy.error, never an exception

ASKING = Charter.model_validate(
    {
        "name": "asking",
        "rules": [
            {
                "id": "big",
                "effect": "ask",
                "tools": ["pay"],
                "when": f"context.args has amount_cents && context.args.amount_cents > {THRESHOLD}",
            },
            {
                "id": "never-eve",
                "effect": "deny",
                "tools": ["pay"],
                "when": 'context.args.payee == "eve"',
            },
        ],
    }
)  # fmt: skip


def _unrepresentable(value: JsonValue) -> bool:
    """Whether Cedar cannot take ``value`` in a request: integers outside signed 64 bits
    (after charter's float-to-int conversion) and strings that are not Unicode text."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, float):
        return value.is_integer() and not -I64 <= int(value) < I64
    if isinstance(value, int):
        return not -I64 <= value < I64
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_unrepresentable(k) or _unrepresentable(v) for k, v in value.items())
    return any(_unrepresentable(v) for v in value)


def _reserved(value: JsonValue) -> bool:
    """Whether a record at any depth has a key Cedar would read as an escape (refused as
    call data, whatever its value)."""
    if isinstance(value, dict):
        if any(key in ("__entity", "__extn", "__expr") for key in value):
            return True
        return any(_reserved(v) for v in value.values())
    if isinstance(value, list):
        return any(_reserved(v) for v in value)
    return False


def _without_nulls(value: JsonValue) -> JsonValue:
    """``value`` as a Cedar context holds it: nulls dropped at every level (no null there)."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value if v is not None]
    return value


def _expected(args: dict[str, Any]) -> tuple[str, str]:
    """``(verdict, rule)`` the ASKING charter must give, worked out without Cedar."""
    if _reserved(args) or _unrepresentable(_without_nulls(args)):
        return "deny", "policy.error"
    payee = args.get("payee")
    amount = args.get("amount_cents")
    if isinstance(amount, float) and amount.is_integer():
        amount = int(amount)  # Cedar has no floats: integral ones are compared as integers
    # ``payee`` is read without ``has``: an absent or non-string payee cannot be compared.
    if payee is None:
        return "deny", "policy.error"
    eve = payee == "eve"
    if amount is None:
        big = False
    elif isinstance(amount, int) and not isinstance(amount, bool):
        big = amount > THRESHOLD
    else:
        return "deny", "policy.error"  # a string, list, record or bool compared with >
    if eve:
        return "deny", "never-eve"
    return ("ask", "big") if big else ("allow", "tools.allow")


@bounded(400)
@given(
    amount=amounts,
    payee=payees,
    extra=st.dictionaries(
        any_text.filter(lambda key: not key.startswith("__")), json_values, max_size=3
    ),
)
@example(amount=2**63, payee="bob", extra={})
@example(amount=5001, payee="bob", extra={"x": "\ud800"})
@example(amount=float("nan"), payee="bob", extra={})
@example(amount=True, payee="bob", extra={})
@example(amount=0, payee={"\ud800": None}, extra={})
@example(amount=5001, payee="eve", extra={})
@example(amount=0, payee="eve", extra={"": {"__extn": None}})
def test_random_arguments_get_exactly_the_rules_verdict_or_policy_error(
    amount: Any, payee: Any, extra: dict[str, Any]
) -> None:
    args = {**extra, "amount_cents": amount, "payee": payee}

    decision = ASKING.decide("pay", args, now=NOON)

    _check(decision, ASKING)
    verdict, rule = _expected(args)
    assert (decision.verdict, decision.rules[0]) == (verdict, rule), (args, decision)


@bounded(200)
@given(when=any_condition, args=call_args)
@example(when="true }; forbid(principal, action, resource) when { true", args={})
def test_an_unconditional_deny_always_wins(when: str, args: dict[str, Any]) -> None:
    built = _charter(
        [
            {"id": "fuzzed", "effect": "allow", "tools": ["pay"], "when": when},
            {"id": "stop", "effect": "deny", "tools": ["pay"]},
        ]
    )
    if built is None:
        return

    decision = built.decide("pay", args, now=NOON)

    assert decision.verdict == "deny", decision


def test_nan_and_infinity_are_compared_as_text_not_numbers() -> None:
    for value in (math.nan, math.inf, -math.inf):
        decision = ASKING.decide("pay", {"amount_cents": value, "payee": "bob"}, now=NOON)
        assert decision.rules == ("policy.error",)
        assert "expected long, got string" in decision.reason


def test_a_raw_policy_with_an_unknown_effect_is_refused_when_built() -> None:
    cedar = '@id("odd") @effect("bogus") permit(principal, action, resource);'

    with pytest.raises(ValidationError, match=r"@effect\('bogus'\) is none of"):
        Charter.model_validate({"name": "fuzzed", "cedar": cedar})


def test_a_condition_cannot_add_a_policy_of_its_own() -> None:
    injected = "false }; permit(principal, action, resource) when { true"
    rule = {"id": "quiet", "effect": "deny", "tools": ["pay"], "when": injected}

    with pytest.raises(ValidationError, match="must be one Cedar expression"):
        Charter.model_validate({"name": "fuzzed", "rules": [rule]})


def test_an_argument_shaped_like_a_cedar_escape_is_data() -> None:
    marked = 'context.args.memo has "__entity"'
    rule = {"id": "marked", "effect": "deny", "tools": ["pay"], "when": marked}
    built = Charter.model_validate({"name": "fuzzed", "rules": [rule]})
    memo = {"__entity": {"type": "Agent", "id": "agent"}}

    decision = built.decide("pay", {"memo": memo}, now=NOON)
    assert decision.verdict == "deny" and decision.rules == ("policy.error",)
    assert "'__entity' is reserved" in decision.reason
