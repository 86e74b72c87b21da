"""Charter and agent files, fuzzed: arbitrary YAML, mutated valid files, garbage bytes.

The only outcomes allowed are a loaded charter (or agent) or a ``ConfigError`` whose message
names the file; never another exception, never a hang. A charter that loads must also
decide: its Cedar compiles and every tool gets a decision.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from hypothesis import event, example, given
from hypothesis import strategies as st

import charter
from charter.agent import Agent, load_agent
from charter.errors import ConfigError, ReasonerUnavailableError
from charter.policy import Charter, Decision, load_charter
from reliability._support import bounded, no_hang, text_no_surrogates

SUPPORT_CHARTER = (Path(charter.__file__).parent / "demo" / "support.charter.yaml").read_text()

RAW_CEDAR_CHARTER = """
name: payments
version: "3"
tools:
  allow: [pay, "lookup_*"]
rules:
  - id: no-email
    effect: deny
    tools: [send_email]
  - id: big-payments
    effect: ask
    tools: [pay]
    when: context.args has amount_cents && context.args.amount_cents > 5000
    reason: payments over $50 need a manager
  - id: night-payments
    effect: deny
    tools: [pay]
    when: context.hour < 6
cedar: |
  @id("no-eve")
  @reason("eve is not paid")
  forbid(principal, action, resource)
    when { context.args has payee && context.args.payee == "eve" };
  @id("simulate-tests")
  @effect("simulate")
  permit(principal, action, resource) when { context.phase == "shadow" };
budgets: {max_steps: 12, max_tokens: 40000, max_wall_seconds: 600, on_breach: ask}
rate_limits:
  - {id: pay-rate, tools: [pay], max_calls: 5, per_seconds: 60}
approvals:
  escalation:
    - {approvers: [dana, lee], timeout_seconds: 1800}
  receipt_ttl_seconds: 900
rollback_on: [failed]
"""

SEEDS = [SUPPORT_CHARTER, RAW_CEDAR_CHARTER]
TOOL_NAMES = ["pay", "lookup_order", "grant_store_credit", "update_customer", "send_email", "zz"]
CHARTER_KEYS = [
    "name", "version", "description", "tools", "budgets", "rules", "cedar", "prices",
    "rate_limits", "flows", "anomalies", "notifications", "approvals", "phase", "rollout",
    "baseline", "allow_repeat_writes", "rollback_on", "models", "allow", "deny", "id",
    "effect", "when", "reason", "max_steps",
]  # fmt: skip
"""Real field names (and some at the wrong level), so mutations reach the validators."""

CEDAR_SNIPPETS = [
    "context.args.amount_cents > 5000",
    "context.args has amount_cents",
    'resource.name == "pay"',
    "true",
    "",
    "}",
    "{",
    "true }; permit(principal, action, resource) when { true",
    "context.args.amount_cents > 99999999999999999999",
    "?principal == principal",
    'ip("10.0.0.1").isInRange(ip("10.0.0.0/8"))',
    'decimal("1.5") > decimal("x")',
    'context.args.a.b.c.d like "*\\0*"',
    "// comment",
    "if true then 1 else",
    "!" * 300 + "true",
    "(" * 200 + "true" + ")" * 200,
]

# Values YAML can hold (no lone surrogates: they cannot be written as UTF-8).
yaml_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | text_no_surrogates
    | st.sampled_from(CEDAR_SNIPPETS)
    | st.sampled_from(["allow", "deny", "ask", "redact", "simulate", "shadow", "*", "pay"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(CHARTER_KEYS) | text_no_surrogates, children, max_size=4)
    ),
    max_leaves=16,
)


def _write(tmp_path: Path, name: str, body: bytes | str) -> Path:
    path = tmp_path / name
    if isinstance(body, str):
        body = body.encode("utf-8")
    path.write_bytes(body)
    return path


def _dump(doc: object) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def _load_charter_or_config_error(path: Path) -> Charter | None:
    """Load ``path``; a ConfigError must name it. Anything else fails the test."""
    try:
        with no_hang(30, f"loading {path.name}"):
            loaded = load_charter(path)
    except ConfigError as exc:
        assert str(path) in str(exc), f"the error does not name the file: {exc}"
        event("refused")
        return None
    event("loaded")
    _decides(loaded)
    return loaded


def _decides(loaded: Charter) -> None:
    """A charter that loaded compiles and decides every tool, never raising."""
    assert len(loaded.policy_hash) == 16
    for name in TOOL_NAMES:
        for args in ({}, {"amount_cents": 9000, "payee": "eve", "tier": "premium"}):
            decision = loaded.decide(name, args)
            assert isinstance(decision, Decision)
            assert decision.verdict in ("allow", "deny", "ask", "redact", "simulate")
            assert decision.rules, decision


# Mutations of a valid document


YamlNode = dict[Any, Any] | list[Any] | str | int | float | bool | None
"""A node of a charter document as YAML loads it (its children left open)."""


def _paths(node: YamlNode, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``node`` (dict keys and list indexes), the root included."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


def _mutate(doc: Any, data: st.DataObject) -> Any:
    """``doc`` with one to four random changes: a value replaced (by anything, a Cedar
    fragment, a deep nest), a key dropped or added, a list item duplicated (so ids clash)."""
    doc = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 4), label="changes")):
        path = data.draw(st.sampled_from(_paths(doc)), label="path")
        op = data.draw(
            st.sampled_from(["replace", "cedar", "deep", "drop", "add", "duplicate"]), label="op"
        )
        if not path:
            if op in ("replace", "deep"):
                doc = data.draw(yaml_values)
            continue
        parent, last = _at(doc, path[:-1]), path[-1]
        if op == "replace":
            parent[last] = data.draw(yaml_values, label="value")
        elif op == "cedar":
            parent[last] = data.draw(st.sampled_from(CEDAR_SNIPPETS), label="cedar")
        elif op == "deep":
            depth = data.draw(st.integers(1, 120), label="depth")
            nested: Any = data.draw(yaml_values, label="leaf")
            for _level in range(depth):
                nested = [nested] if data.draw(st.booleans()) else {"a": nested}
            parent[last] = nested
        elif op == "drop":
            del parent[last]
        elif op == "add" and isinstance(parent, dict):
            key = data.draw(st.sampled_from(CHARTER_KEYS) | text_no_surrogates, label="key")
            parent[key] = data.draw(yaml_values, label="value")
        elif op == "duplicate" and isinstance(parent, list):
            items = cast(list[Any], parent)  # what YAML loaded: Any
            items.append(copy.deepcopy(items[last]))
    return doc


def _mutate_bytes(body: bytes, data: st.DataObject) -> bytes:
    """``body`` with a few bytes replaced, inserted or deleted."""
    buffer = bytearray(body)
    for _ in range(data.draw(st.integers(1, 6), label="byte edits")):
        at = data.draw(st.integers(0, len(buffer)), label="at")
        op = data.draw(st.sampled_from(["set", "insert", "delete"]), label="byte op")
        byte = data.draw(st.integers(0, 255) | st.sampled_from(list(b":-[]{}&*!|>'\"#%@`\t\n ")))
        if op == "set" and at < len(buffer):
            buffer[at] = byte
        elif op == "insert":
            buffer.insert(at, byte)
        elif op == "delete" and at < len(buffer):
            del buffer[at]
    return bytes(buffer)


# Charters


@bounded(150)
@given(doc=st.dictionaries(st.sampled_from(CHARTER_KEYS), yaml_values, max_size=6) | yaml_values)
def test_arbitrary_yaml_is_a_charter_or_a_config_error(tmp_path: Path, doc: object) -> None:
    _load_charter_or_config_error(_write(tmp_path, "any.charter.yaml", _dump(doc)))


@bounded(250)
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_mutated_charters_are_charters_or_config_errors(
    tmp_path: Path, seed: str, data: st.DataObject
) -> None:
    doc = _mutate(yaml.safe_load(seed), data)
    _load_charter_or_config_error(_write(tmp_path, "mutated.charter.yaml", _dump(doc)))


@bounded(150)
@given(seed=st.sampled_from(SEEDS), data=st.data())
def test_byte_edited_charters_are_charters_or_config_errors(
    tmp_path: Path, seed: str, data: st.DataObject
) -> None:
    body = _mutate_bytes(seed.encode("utf-8"), data)
    _load_charter_or_config_error(_write(tmp_path, "edited.charter.yaml", body))


@bounded(100)
@given(body=st.binary(max_size=300) | text_no_surrogates.map(str.encode))
@example(body=b"\xff\xfe\x00garbage\x80")
@example(body="name: x".encode("utf-16"))
def test_garbage_bytes_are_a_config_error(tmp_path: Path, body: bytes) -> None:
    _load_charter_or_config_error(_write(tmp_path, "garbage.charter.yaml", body))


@pytest.mark.parametrize(
    ("name", "body", "says"),
    [
        ("deep-lists", "name: x\nrules: " + "[" * 2000 + "]" * 2000, "nested too deeply"),
        ("deep-maps", "name: x\nrules: " + "{a: " * 3000 + "1" + "}" * 3000, "nested too deeply"),
        ("huge-int", "name: x\nbudgets: {max_steps: " + "9" * 5000 + "}", "digits"),
        ("bad-date", "name: x\nversion: 2024-13-45", "month must be in 1..12"),
        ("not-utf8", "name: caf\udce9", "not UTF-8"),
    ],
)
def test_yaml_that_breaks_the_parser_is_a_config_error(
    tmp_path: Path, name: str, body: str, says: str
) -> None:
    path = _write(tmp_path, f"{name}.charter.yaml", body.encode("utf-8", "surrogateescape"))

    with pytest.raises(ConfigError, match=says) as caught:
        load_charter(path)

    assert str(caught.value).startswith(str(path))


def test_an_alias_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    # Nine levels of nine aliases: 387 million strings if anything walked the expansion.
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    body = "name: x\nrules: *a8\nnotes:\n" + "\n".join(f"  {line}" for line in levels)
    path = _write(tmp_path, "bomb.charter.yaml", body)

    with no_hang(30, "loading an alias bomb"), pytest.raises(ConfigError):
        load_charter(path)


# Agents


def _agent_doc(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "payments.charter.yaml").write_text(RAW_CEDAR_CHARTER)
    return {
        "name": "payer",
        "version": "2",
        "instructions": "Pay orders.",
        "toolsets": [{"ref": "reliability._support:payments", "options": {"ledger": "ledger.db"}}],
        "tools": ["pay", "lookup_order"],
        "reasoner": {
            "kind": "rules",
            "match": r"pay (?P<order_id>\d+) for (?P<cents>\d+)",
            "steps": [
                {"id": "pay", "call": "pay", "args": {"order_id": "{goal.order_id}"}},
                {"respond": "Paid: {steps.pay.result.payment_id}"},
            ],
        },
        "charter": "payments.charter.yaml",
    }


PLAN_REASONER = {
    "kind": "plan",
    "plans": [
        {
            "match": r"order (?P<order_id>\d+)",
            "steps": [
                {"id": "o", "call": "lookup_order", "args": {"order_id": "{goal.order_id}"}},
                {
                    "id": "p",
                    "call": "pay",
                    "args": {
                        "order_id": {
                            "$extract": {
                                "from": "{steps.o.result.status}",
                                "pattern": r"(\d+)",
                                "type": "integer",
                            }
                        },
                        "amount_cents": 100,
                    },
                },
                {"respond": "done"},
            ],
        }
    ],
}

AGENT_VALUES = st.sampled_from(
    [
        "reliability._support:payments",
        "reliability._support:nothing_here",
        "reliability._support:AGENT",
        "reliability._support:I64",
        "zz_no_such_module:toolset",
        "reliability._support:payments.x",
        {"kind": "llm", "model": "m", "base_url": "::::"},
        {"kind": "llm", "model": "m", "base_url": "http://127.0.0.1:9/v1"},
        {"kind": "llm"},
        {"kind": "local", "n_ctx": 10**30},
        PLAN_REASONER,
        "(" * 1200 + ")" * 1200,
        "a{99999999999999999999}",
        "(?P<order_id>",
        "payments.charter.yaml",
        "missing.charter.yaml",
        "",
        ".",
        "a\x00b.charter.yaml",
        {"name": "inline", "rules": [{"id": "r", "effect": "ask", "when": "}"}]},
        {"name": "inline", "tools": {"allow": ["nope_*"]}},
    ]
)
"""Values aimed at the agent file's own fields: toolset references, reasoners (an
unreachable endpoint, regexes that are too deep or repeat too often), charter paths."""


def _load_agent_or_config_error(path: Path) -> Agent | None:
    """Load ``path``: an agent, or a ConfigError naming it or the charter file it names. An
    ``llm`` reasoner without a model or key is ReasonerUnavailableError (documented)."""
    try:
        with no_hang(30, f"loading {path.name}"):
            loaded = load_agent(path)
    except ConfigError as exc:
        named = str(path) in str(exc) or str(path.parent) in str(exc)
        assert named, f"the error names neither the agent file nor its charter: {exc}"
        event("refused")
        return None
    except ReasonerUnavailableError as exc:
        assert "llm reasoner" in str(exc), exc
        event("reasoner unavailable")
        return None
    event("loaded")
    _decides(loaded.charter)
    return loaded


@bounded(200)
@given(data=st.data())
def test_mutated_agent_files_are_agents_or_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: st.DataObject
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("CHARTER_LLM_MODEL", raising=False)
    monkeypatch.delenv("CHARTER_LLM_BASE_URL", raising=False)
    doc = _agent_doc(tmp_path)
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        path = data.draw(st.sampled_from(_paths(doc)[1:]), label="path")
        parent = _at(doc, path[:-1])
        parent[path[-1]] = copy.deepcopy(data.draw(AGENT_VALUES | yaml_values, label="value"))
    _load_agent_or_config_error(_write(tmp_path, "payer.agent.yaml", _dump(doc)))


@bounded(100)
@given(data=st.data())
def test_byte_edited_agent_files_are_agents_or_config_errors(
    tmp_path: Path, data: st.DataObject
) -> None:
    body = _mutate_bytes(_dump(_agent_doc(tmp_path)).encode("utf-8"), data)
    _load_agent_or_config_error(_write(tmp_path, "payer.agent.yaml", body))


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        (("reasoner", "match"), "(" * 1200 + ")" * 1200, "match is not a valid regular"),
        (("reasoner", "match"), "a{99999999999999999999}", "match is not a valid regular"),
        (("reasoner",), {**PLAN_REASONER, "plans": [{"match": "(" * 1200 + ")" * 1200,
                                                     "steps": [{"respond": "x"}]}]},
         "match is not a valid regular"),
        (("reasoner",), {"kind": "llm", "base_url": "::::"}, "field reasoner.llm.base_url"),
        (("charter",), "a\x00b.charter.yaml", "a.b.charter.yaml"),
    ],
)  # fmt: skip
def test_agent_fields_that_broke_the_loader_are_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: tuple[str, ...], value: Any, says: str
) -> None:
    monkeypatch.setenv("CHARTER_LLM_MODEL", "m")
    doc = _agent_doc(tmp_path)
    _at(doc, field[:-1])[field[-1]] = value
    path = _write(tmp_path, "payer.agent.yaml", _dump(doc))

    with pytest.raises(ConfigError, match=says):
        load_agent(path)


def test_a_relative_toolset_module_is_a_config_error(tmp_path: Path) -> None:
    doc = _agent_doc(tmp_path)
    doc["toolsets"][0]["ref"] = ".payments:toolset"

    with pytest.raises(ConfigError, match=r"payer\.agent\.yaml"):
        load_agent(_write(tmp_path, "payer.agent.yaml", _dump(doc)))
