"""Conditions compiled to Python decide exactly as Cedar does.

Every example builds a charter from fuzzed conditions over the supported syntax (and
some that is not), decides fuzzed calls twice, once through the compiled Python and once
through Cedar, and requires the same verdict and the same matched rule ids. Inputs cover
missing attributes, type mismatches (Cedar's errors deny by ``policy.error``), arithmetic
at the edge of 64 bits, integers beyond it, text with quotes, backslashes, NULs and lone
surrogates.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import cedarpy
import pytest
from cedarpy import pst
from hypothesis import event, example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from charter import tool
from charter.policy import Charter, CompiledCharter, Label
from charter.policy._cedar import _as_is, cedar_value, tool_entity  # pyright: ignore[reportPrivateUsage]
from charter.policy._fold import fold
from charter.policy._predicate import condition_reads, condition_tree, representable
from reliability._support import I64, any_text, bounded, no_hang

NOON = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
VERDICTS = ("allow", "deny", "ask", "redact", "simulate")


@tool(side_effect="external", reads=("customer.pii", "orders"), owner="payments")
def pay(payee: str, amount_cents: int, memo: dict[str, Any] | None = None) -> str:
    """Pay someone."""
    return "paid"


def _cedar_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


ATTRIBUTES = [
    "context.args.a",
    "context.args.b",
    "context.args.rec",
    "context.args.rec.x",
    "context.args.items",
    "context.args",
    "context.labels.trust",
    "context.labels.nope",
    "context.args_labels.a.trust",
    "context.args_labels.b",
    "context.args_labels.nope",
    "context.args_labels",
    "context.phase",
    "context.hour",
    "context.date",
    "context.nope",
    "context",
    "resource.name",
    "resource.side_effect",
    "resource.reads",
    "resource.idempotent",
    "resource.owner",
    "resource.nope",
    "principal",
    "principal.nope",
    "action",
    "action.nope",
    "resource",
]
RECORDS = ["context.args", "context.args.rec", "context", "resource", "principal", "action"]
EDGES = [I64 - 1, I64 - 2, -(I64 - 1), 2**62, 3, 0, -1, 5000]

edge_text = st.sampled_from(['a"b', "a\\b", "\x00", "é", "\U0001f600", "*", "", "x*y"])
literals = st.one_of(
    st.integers(-(2**40), 2**40).map(str),
    st.sampled_from(EDGES).map(str),
    st.just("-9223372036854775808"),
    (any_text | edge_text).map(_cedar_string),
    st.sampled_from(
        [
            *("true", "false", "[]", '[1, "a"]', "[[1], {x: 1}]", "{}", '{x: 1, y: "s"}'),
            *('Agent::"agent"', 'Tool::"pay"', 'Action::"call"', "{x: [2, 1]}", "[1, 1, 2]"),
        ]
    ),
)
OPERATORS = ["==", "!=", "<", "<=", ">", ">=", "+", "-", "*"]
operands = st.sampled_from(ATTRIBUTES) | literals
patterns = st.lists(st.sampled_from(["a", "*", "\\*", '\\"', "é", "\\\\", "b", "x"]), max_size=5)


def _binary(a: str, op: str, b: str) -> str:
    return f"{a} {op} {b}"


def _has(record: str, names: str) -> str:
    return f"{record} has {names}"


def _like(a: str, pattern: list[str]) -> str:
    return f'{a} like "{"".join(pattern)}"'


def _method(a: str, method: str, b: str) -> str:
    return f"{a}.{method}({b})"


def _is_empty(a: str) -> str:
    return f"{a}.isEmpty()"


def _is(a: str, entity_type: str) -> str:
    return f"{a} is {entity_type}"


def _negated(a: str) -> str:
    return f"-{a}"


def _argument_compared(name: str, op: str, literal: str) -> str:
    return f"context.args has {name} && context.args.{name} {op} {literal}"


def _record_field_compared(op: str, literal: str) -> str:
    return f"context.args has rec.x && context.args.rec.x {op} {literal}"


def _and(a: str, b: str) -> str:
    return f"({a}) && ({b})"


def _or(a: str, b: str) -> str:
    return f"({a}) || ({b})"


def _if(a: str, b: str, c: str) -> str:
    return f"if {a} then {b} else {c}"


def _equal(a: str, b: str) -> str:
    return f"({a}) == ({b})"


def _in_set(a: str, b: str) -> str:
    return f"[{a}, {b}].contains({b})"


def _in_record(a: str, b: str) -> str:
    return f"{{k: {a}}}.k == {b}"


atoms = st.one_of(
    st.builds(_binary, operands, st.sampled_from(OPERATORS), operands),
    st.builds(
        _has,
        st.sampled_from(RECORDS),
        st.sampled_from(["a", "b", "rec", "rec.x", "x", '"odd key"', "args.a", "name", "nope"]),
    ),
    st.builds(_like, st.sampled_from(ATTRIBUTES), patterns),
    st.builds(
        _method,
        st.sampled_from(ATTRIBUTES),
        st.sampled_from(["contains", "containsAll", "containsAny"]),
        operands,
    ),
    st.builds(_is_empty, st.sampled_from(ATTRIBUTES)),
    st.builds(_is, st.sampled_from(ATTRIBUTES), st.sampled_from(["Agent", "Tool"])),
    st.builds(_negated, st.sampled_from(ATTRIBUTES)).map(lambda e: f"{e} == 1"),
    st.sampled_from(["true", "false", 'principal in Agent::"agent"', 'ip("10.0.0.1").isIpv4()']),
    st.sampled_from(
        [
            'resource.name == "pay"',
            'resource.name != "refund"',
            'resource.side_effect == "external"',
            'resource.reads.contains("orders")',
            'resource.reads.contains("nothing")',
            "resource has owner",
            "resource has nope",
            'resource == Tool::"pay"',
            'resource.name like "p*"',
            "resource.idempotent",
        ]
    ),
    st.builds(
        _argument_compared,
        st.sampled_from(["a", "b"]),
        st.sampled_from(OPERATORS),
        literals,
    ),
    st.builds(
        _record_field_compared,
        st.sampled_from(OPERATORS),
        literals,
    ),
)
conditions: st.SearchStrategy[str] = st.recursive(
    atoms,
    lambda inner: st.one_of(
        st.builds(_and, inner, inner),
        st.builds(_or, inner, inner),
        inner.map(lambda a: f"!({a})"),
        st.builds(_if, inner, inner, inner),
        st.builds(_equal, inner, operands),
        st.builds(_in_set, inner, operands),
        st.builds(_in_record, inner, operands),
    ),
    max_leaves=5,
)

values = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(-5, 5),
        st.sampled_from(EDGES),
        st.integers(I64 - 2, I64 + 2),
        st.floats(allow_nan=True, allow_infinity=True),
        any_text | edge_text,
        st.none(),
    ),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["x", "y", "a"]), inner, max_size=2)
    ),
    max_leaves=6,
)
record_args = st.fixed_dictionaries({"x": st.integers(0, 9)})
call_args = st.dictionaries(
    st.sampled_from(["a", "b", "rec", "items", "odd key"]), values, max_size=4
) | st.fixed_dictionaries(
    {"a": st.integers(-10, 10) | st.sampled_from(EDGES), "b": edge_text},
    optional={
        "rec": record_args,
        "items": st.lists(st.integers(0, 3)),
    },
)


def _decisions(
    charter: Charter, target: Any, args: dict[str, Any], labels: Label, *, fuzzed: bool = True
) -> None:
    python = charter.compiled
    cedar = CompiledCharter(charter, compile_conditions=False)
    # Every other argument carries the call's label, the rest a trusted one.
    each = {name: labels if i % 2 else Label() for i, name in enumerate(args)}
    fast = python.decide(
        target, args, now=NOON, labels=labels, phase="supervised", args_labels=each
    )
    slow = cedar.decide(target, args, now=NOON, labels=labels, phase="supervised", args_labels=each)
    assert (fast.verdict, fast.rules) == (slow.verdict, slow.rules), (args, fast, slow)
    if fuzzed:
        event(f"{fast.verdict} {'policy.error' if 'policy.error' in fast.rules else ''}")


@bounded(800)
@given(
    whens=st.lists(conditions, min_size=1, max_size=3),
    effects=st.lists(st.sampled_from(VERDICTS), min_size=3, max_size=3),
    args=call_args,
    untrusted=st.booleans(),
)
@example(
    whens=["context.args.a + 1 > 0"], effects=["deny"] * 3, args={"a": I64 - 1}, untrusted=False
)
@example(whens=["context.args.a * 2 == 0"], effects=["ask"] * 3, args={"a": 2**62}, untrusted=False)
@example(whens=["-context.args.a == 1"], effects=["ask"] * 3, args={"a": -I64}, untrusted=False)
@example(whens=["context.args.a > 1"], effects=["ask"] * 3, args={"a": I64}, untrusted=False)
@example(
    whens=['context.args.a == "\\ud800"'],
    effects=["ask"] * 3,
    args={"a": "\ud800"},
    untrusted=False,
)
@example(
    whens=["context.args.a == [1, 2]"], effects=["deny"] * 3, args={"a": [2, 1, 1]}, untrusted=False
)
@example(
    whens=['context.args.a like "a\\*b*"'],
    effects=["deny"] * 3,
    args={"a": "a*bc"},
    untrusted=False,
)
@example(whens=["context.args.a == 1"], effects=["deny"] * 3, args={"a": True}, untrusted=False)
@example(
    whens=["context.args.rec.x"], effects=["deny"] * 3, args={"rec": {"x": 1}}, untrusted=False
)
def test_compiled_conditions_decide_as_cedar_does(
    whens: list[str], effects: list[str], args: dict[str, Any], untrusted: bool
) -> None:
    rules = [
        {"id": f"r{index}", "effect": effects[index], "tools": ["pay"], "when": when}
        for index, when in enumerate(whens)
    ]
    rules.append({"id": "plain", "effect": effects[-1], "tools": ["pay"]})
    try:
        charter = Charter.model_validate({"name": "diff", "rules": rules})
    except ValidationError:
        event("refused")
        return
    event(f"python: {charter.compiled.evaluated_in_python('pay')}")
    labels = Label("untrusted" if untrusted else "trusted", "pii")
    for target in (pay, "pay"):
        _decisions(charter, target, args, labels)


SUPPORTED = [
    "context.args.a > 5 && context.args has b",
    'context.args.rec.x == "s" || !(context.phase == "shadow")',
    'resource.reads.contains("orders") && resource.name like "p*"',
    'if context.args has a then context.args.a - 1 < 3 else principal == Agent::"x"',
    "[1, 2].containsAll([2]) && {a: 1} == {a: 1} && context.labels.trust is Agent",
    'context.args.items.containsAny([1, "a"]) && context.args.items.isEmpty()',
]


@pytest.mark.parametrize("when", SUPPORTED)
def test_supported_conditions_are_evaluated_in_python(when: str) -> None:
    rule = {"id": "r", "effect": "deny", "tools": ["pay"], "when": when}
    charter = Charter.model_validate({"name": "c", "rules": [rule]})

    assert charter.compiled.evaluated_in_python("pay")


@pytest.mark.parametrize(
    "when",
    ['principal in Agent::"x"', 'ip("10.0.0.1").isIpv4()', 'decimal("1.2") == decimal("1.2")'],
)
def test_other_conditions_are_left_to_cedar(when: str) -> None:
    rule = {"id": "r", "effect": "deny", "tools": ["pay"], "when": when}
    charter = Charter.model_validate({"name": "c", "rules": [rule]})

    assert not charter.compiled.evaluated_in_python("pay")
    assert charter.decide(pay, {"payee": "x"}).verdict in ("deny", "allow")


def test_raw_cedar_slices_are_left_to_cedar() -> None:
    cedar = '@id("raw") forbid(principal, action, resource) when { context.args.a > 1 };'
    charter = Charter.model_validate({"name": "c", "cedar": cedar})

    assert not charter.compiled.evaluated_in_python("pay")
    assert charter.decide(pay, {"a": 2}).rules == ("raw",)


def test_an_error_names_the_rule_in_python_and_in_cedar() -> None:
    rule = {"id": "refund-cap", "effect": "deny", "tools": ["pay"], "when": "context.args.a > 1"}
    charter = Charter.model_validate({"name": "c", "rules": [rule]})

    for compiled in (charter.compiled, CompiledCharter(charter, compile_conditions=False)):
        decision = compiled.decide(pay, {"a": "text"})
        assert decision.rules == ("policy.error",)
        assert "rule `refund-cap`" in decision.reason
        assert "policy0" not in decision.reason
        assert "expected long, got string" in decision.reason


def test_arguments_cedar_cannot_take_are_judged_by_cedar() -> None:
    rule = {"id": "big", "effect": "ask", "tools": ["pay"], "when": "context.args.a > 1"}
    charter = Charter.model_validate({"name": "c", "rules": [rule]})

    decision = charter.decide(pay, {"a": 1, "b": 2**64})

    assert decision.rules == ("policy.error",)
    assert "failed to build request" in decision.reason


def test_matched_rules_are_reported_in_charter_order() -> None:
    rules = [
        {"id": f"r{i}", "effect": "ask", "tools": ["pay"], "when": "context.args.a > 0"}
        for i in range(12)
    ]
    charter = Charter.model_validate({"name": "c", "rules": rules})
    expected = tuple(f"r{i}" for i in range(12))

    assert charter.decide(pay, {"a": 1}).rules == expected
    cedar = CompiledCharter(charter, compile_conditions=False)
    assert cedar.decide(pay, {"a": 1}).rules == expected


@bounded(300)
@given(
    pattern=st.lists(st.sampled_from(["a", "b", "*", "\\*", "ab"]), max_size=6),
    text=st.text(alphabet="ab*", max_size=8),
)
def test_like_matches_as_cedar_does(pattern: list[str], text: str) -> None:
    rule = {
        "id": "r",
        "effect": "deny",
        "tools": ["pay"],
        "when": f'context.args.a like "{"".join(pattern)}"',
    }
    charter = Charter.model_validate({"name": "c", "rules": [rule]})

    assert charter.compiled.evaluated_in_python("pay")
    _decisions(charter, pay, {"a": text}, Label())


def test_a_hostile_argument_cannot_make_like_backtrack() -> None:
    when = 'context.args.a like "*a*a*a*a*a*a*a*a*b"'
    charter = Charter.model_validate(
        {"name": "c", "rules": [{"id": "r", "effect": "deny", "tools": ["pay"], "when": when}]}
    )

    with no_hang(10, "a like pattern with nine wildcards on 20,000 characters"):
        decision = charter.decide(pay, {"a": "a" * 20_000})

    assert decision.verdict == "allow"


def test_condition_text_is_data_in_the_compiled_code() -> None:
    when = 'context.args.a == "__import__(\'os\')._exit(3)" || context.args has "a\\")"'
    rule = {"id": "r", "effect": "deny", "tools": ["pay"], "when": when}
    charter = Charter.model_validate({"name": "c", "rules": [rule]})

    assert charter.compiled.evaluated_in_python("pay")
    assert charter.decide(pay, {"a": "__import__('os')._exit(3)"}).rules == ("r",)
    assert charter.decide(pay, {"a": "x"}).verdict == "allow"


# Folding a condition to one tool (what load-time validation checks) keeps its verdict


def _folded(when: str, target: Any) -> str | None:
    """``when`` specialised to ``target``, as Cedar text (None: not representable)."""
    tree = condition_tree(when)
    if tree is None:
        return None
    attributes = tool_entity(target)["attrs"]
    policy = pst.Template(
        id="policy0",
        effect="permit",
        principal=pst.ScopeAny(),
        action=pst.ScopeAny(),
        resource=pst.ScopeAny(),
        clauses=(pst.When(fold(tree, attributes)),),
        annotations=pst.FrozenMap({}),
    )
    tree_set = pst.PolicySet(templates={}, static_policies={"policy0": policy}, template_links=())
    text = str(cedarpy.PolicySet.from_pst(tree_set))
    return text[text.index(" when { ") + len(" when { ") : text.rindex(" };")]


@bounded(500)
@given(when=conditions, args=call_args, target=st.sampled_from([pay, "pay"]))
@example(when='resource.name == "pay" && context.args.a > 1', args={"a": 2}, target=pay)
@example(when='resource.side_effect == "write" && context.args.nope', args={}, target=pay)
def test_a_condition_folded_to_a_tool_decides_as_it_did(
    when: str, args: dict[str, Any], target: Any
) -> None:
    try:
        original = Charter.model_validate(
            {"name": "c", "rules": [{"id": "r", "effect": "deny", "tools": ["pay"], "when": when}]}
        )
        folded_when = _folded(when, target)
    except (ValidationError, ValueError):
        event("refused")
        return
    if folded_when is None:
        return
    folded = original.model_copy(
        update={"rules": [original.rules[0].model_copy(update={"when": folded_when})]}
    )
    before = CompiledCharter(original, compile_conditions=False).decide(target, args, now=NOON)
    after = CompiledCharter(folded, compile_conditions=False).decide(target, args, now=NOON)
    if "policy.error" in before.rules:
        event("error before folding")  # folding may only remove what would not run
        return
    assert (after.verdict, after.rules) == (before.verdict, before.rules), folded_when


@pytest.mark.parametrize("depth", [10, 45, 95])
def test_deeply_nested_conditions_decide_as_cedar_does(depth: int) -> None:
    when = "(" * depth + "context.args.a > 1" + " && true)" * depth
    try:
        charter = Charter.model_validate(
            {"name": "c", "rules": [{"id": "r", "effect": "deny", "tools": ["pay"], "when": when}]}
        )
    except ValidationError:
        pytest.skip("Cedar refuses this depth")  # its own nesting limit
    for args in ({"a": 2}, {"a": 0}, {"a": "x"}, {}):
        _decisions(charter, pay, args, Label(), fuzzed=False)


@pytest.mark.parametrize(
    ("when", "reads"),
    [
        ("context.args.a > 1", {"args"}),
        ('context.labels.trust == "trusted"', {"labels"}),
        ("context.hour >= 22 && context.args has a", {"hour", "args"}),
        ('context.date == "2026-03-04" || context.weekday == 2', {"date", "weekday"}),
        ('context.args_labels.a.trust == "untrusted"', {"args_labels"}),
        ('context.phase == "shadow"', {"phase"}),
        ("context has hour", {"*"}),
        ("context.nope == 1", {"*"}),
        ('resource.name == "pay"', set[str]()),
    ],
)
def test_a_condition_reads_what_it_names_of_the_context(when: str, reads: set[str]) -> None:
    assert condition_reads(when) == reads


@pytest.mark.parametrize(
    "when",
    [
        "context.hour == 12",
        "context.weekday == 2",
        'context.date == "2026-03-04"',
        'context.phase == "supervised"',
        'context.args_labels.a.trust == "untrusted"',
        'context.args_labels.b.confidentiality == "public"',
        "context has args_labels && context has date && context has phase",
        '(context has hour && context.hour == 12) || context.args.a == "x"',
    ],
)
def test_each_context_attribute_is_there_for_the_conditions_that_read_it(when: str) -> None:
    # A condition is given only the attributes it reads: each decides as Cedar, which
    # gets the whole context, and matches at noon on 2026-03-04 (a Wednesday).
    rules = [
        {"id": "reads", "effect": "deny", "tools": ["pay"], "when": when},
        {"id": "args-only", "effect": "ask", "tools": ["pay"], "when": "context.args has a"},
    ]
    charter = Charter.model_validate({"name": "c", "rules": rules})

    assert charter.compiled.evaluated_in_python("pay")
    _decisions(charter, pay, {"a": 1, "b": "x"}, Label("untrusted", "pii"), fuzzed=False)
    each = {"a": Label("untrusted", "pii"), "b": Label("trusted", "public")}
    decision = charter.decide(
        pay, {"a": 1, "b": "x"}, now=NOON, phase="supervised", args_labels=each
    )
    assert decision.rules == ("reads",)


@bounded(300)
@given(args=call_args)
def test_arguments_taken_as_they_are_are_what_cedar_would_be_given(args: dict[str, Any]) -> None:
    kept = _as_is(args)
    if kept is None:
        event("converted")
        return
    event("as they are")
    assert kept is args
    assert cedar_value(dict(args)) == args
    assert representable(args)


@pytest.mark.parametrize(
    "args",
    [
        {"__entity": "x"},
        {"__extn": 1},
        {"a": None},
        {"a": 1.0},
        {"a": 2**63},
        {"a": "é"},
        {"é": 1},
        {"a": "\ud800"},
        {"a": [1]},
        {"a": {"x": 1}},
        {1: 1},
    ],
)
def test_arguments_cedar_would_read_otherwise_are_converted_first(args: dict[Any, Any]) -> None:
    assert _as_is(args) is None


def test_a_reserved_argument_key_is_still_a_policy_error() -> None:
    rule = {"id": "r", "effect": "deny", "tools": ["pay"], "when": "context.args has a"}
    charter = Charter.model_validate({"name": "c", "rules": [rule]})

    decision = charter.decide(pay, {"__entity": 'Agent::"admin"', "a": 1})

    assert decision.verdict == "deny"
    assert decision.rules == ("policy.error",)
    assert "reserved by Cedar" in decision.reason


def test_a_decision_made_once_is_the_same_for_each_set_of_matched_rules() -> None:
    rules = [
        {"id": "small", "effect": "ask", "tools": ["pay"], "when": "context.args.a < 10"},
        {"id": "huge", "effect": "deny", "tools": ["pay"], "when": "context.args.a > 1000"},
    ]
    charter = Charter.model_validate({"name": "c", "rules": rules})

    for _ in range(2):  # the second round is answered from the decisions kept
        assert charter.decide(pay, {"a": 1}).rules == ("small",)
        assert charter.decide(pay, {"a": 1}).verdict == "ask"
        assert charter.decide(pay, {"a": 5000}).rules == ("huge",)
        assert charter.decide(pay, {"a": 5000}).verdict == "deny"
        assert charter.decide(pay, {"a": 500}).verdict == "allow"
