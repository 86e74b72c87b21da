"""Charters checked against their tools: a Cedar schema from each tool's arguments and
contract, every conditional rule validated when the agent loads and in ``policy check``."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from charter.agent import load_agent
from charter.cli import app
from charter.errors import ConfigError
from charter.policy import Charter
from charter.policy._schema import cedar_type, tool_schema
from charter.tools import tool

TOOLS = '''
from charter import tool

@tool(side_effect="write", targets=("order_id",))
def refund_order(order_id: int, amount_cents: int, reason: str = "") -> dict:
    """Refund an order."""
    return {}

@tool(side_effect="external")
def send_email(to: str, body: str, cc: str | None = None) -> str:
    """Send an email."""
    return to

@tool
def quote(price: float) -> float:
    """Quote a price."""
    return price

TOOLS = [refund_order, send_email, quote]
'''

AGENT = """\
name: desk
reasoner: {kind: rules, steps: [{respond: done}]}
toolsets: [{ref: MODULE:TOOLS}]
charter: desk.charter.yaml
"""


def _rules(*rules: str) -> str:
    return "name: desk\nrules:\n" + "".join(f"  - {rule}\n" for rule in rules)


REFUND_CAP = "{id: refund-cap, effect: ask, tools: [refund_order], when: '%s'}"


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An agent file over three tools; write its charter to ``desk.charter.yaml``."""
    name = f"schema_test_tools_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(TOOLS)
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    (tmp_path / "desk.agent.yaml").write_text(AGENT.replace("MODULE", name))
    yield tmp_path
    sys.modules.pop(name, None)


def _load(desk: Path, charter: str) -> Any:
    (desk / "desk.charter.yaml").write_text(charter)
    return load_agent(desk / "desk.agent.yaml")


def test_a_rule_reading_an_argument_the_tool_lacks_is_refused_at_load(desk: Path) -> None:
    charter = _rules(REFUND_CAP % "context.args.amount > 50000")

    with pytest.raises(ConfigError) as caught:
        _load(desk, charter)

    assert str(caught.value) == (
        f"{desk / 'desk.charter.yaml'}: rule refund-cap: condition reads context.args.amount, "
        "but refund_order has no argument amount (it has order_id, amount_cents, reason)"
    )


def test_an_optional_argument_read_without_has_is_refused(desk: Path) -> None:
    charter = _rules(REFUND_CAP % 'context.args.reason == "fraud"')

    with pytest.raises(ConfigError, match=r"rule refund-cap: .*optional attribute `args\.reason`"):
        _load(desk, charter)


def test_an_optional_argument_read_after_has_loads(desk: Path) -> None:
    charter = _rules(REFUND_CAP % 'context.args has reason && context.args.reason == "fraud"')

    agent = _load(desk, charter)

    decision = agent.charter.decide(agent.inventory.get("refund_order"), {"reason": "fraud"})
    assert decision.rules == ("refund-cap",)


def test_a_rule_on_every_tool_may_guard_an_argument_only_some_have(desk: Path) -> None:
    guarded = "context.args has amount_cents && context.args.amount_cents > 5"
    rule = f"{{id: cap, effect: ask, when: '{guarded}'}}"

    agent = _load(desk, _rules(rule))

    assert agent.charter.decide(agent.inventory.get("send_email"), {"to": "x"}).verdict == "allow"


def test_comparing_values_of_different_types_is_refused(desk: Path) -> None:
    charter = _rules(REFUND_CAP % 'context.args.order_id == "1042"')

    with pytest.raises(ConfigError, match=r"rule refund-cap: .*Long and String.*on refund_order"):
        _load(desk, charter)


def test_a_contract_attribute_that_does_not_exist_is_refused(desk: Path) -> None:
    rule = "{id: owned, effect: deny, tools: [send_email], when: 'resource.team == \"x\"'}"

    with pytest.raises(ConfigError, match=r"rule owned: attribute `team` on entity type `Tool`"):
        _load(desk, _rules(rule))


def test_every_problem_is_reported_once_in_one_line(desk: Path) -> None:
    charter = _rules(
        REFUND_CAP % "context.args.amount > 1",
        "{id: mail, effect: deny, tools: ['send_*'], when: 'context.args.recipient == \"x\"'}",
    )

    with pytest.raises(ConfigError) as caught:
        _load(desk, charter)

    message = str(caught.value)
    assert "\n" not in message
    assert "rule refund-cap:" in message and "rule mail:" in message
    assert "send_email has no argument recipient (it has to, body, cc)" in message
    assert "policy0" not in message and "policy1" not in message


def test_a_rule_on_an_argument_cedar_has_no_type_for_is_not_validated(desk: Path) -> None:
    rule = "{id: cheap, effect: ask, tools: [quote], when: 'context.args.price > 5'}"

    agent = _load(desk, _rules(rule))

    assert agent.charter.decide(agent.inventory.get("quote"), {"price": 6}).rules == ("cheap",)


def test_loading_warms_every_tool(desk: Path) -> None:
    agent = _load(desk, _rules(REFUND_CAP % "context.args.amount_cents > 5"))

    assert set(agent.charter.compiled._slices) == {"refund_order", "send_email", "quote"}
    assert agent.charter.compiled.evaluated_in_python("refund_order")


# Policy check


def test_policy_check_refuses_the_rule_naming_it(desk: Path) -> None:
    (desk / "desk.charter.yaml").write_text(_rules(REFUND_CAP % "context.args.amount > 5"))

    result = CliRunner().invoke(app, ["policy", "check", str(desk / "desk.agent.yaml")])

    assert result.exit_code == 2
    assert "rule refund-cap: condition reads context.args.amount" in result.output


def _rows(output: str) -> dict[str, str]:
    """Each table row's cells joined, wrapped lines included, by tool name."""
    cells: dict[str, list[list[str]]] = {}
    current = ""
    for line in output.splitlines():
        if "│" not in line:
            continue
        parts = [part.strip() for part in line.split("│")[1:-1]]
        current = parts[0] or current
        cells.setdefault(current, []).append(parts)
    return {
        name: " | ".join(" ".join(filter(None, column)) for column in zip(*rows, strict=True))
        for name, rows in cells.items()
    }


def test_policy_check_shows_the_flows_that_apply_to_each_tool(desk: Path) -> None:
    (desk / "desk.charter.yaml").write_text("name: desk\n")

    result = CliRunner().invoke(
        app, ["policy", "check", str(desk / "desk.agent.yaml")], terminal_width=250
    )

    assert result.exit_code == 0, result.output
    lines = _rows(result.output)
    assert "flow.confidential-to-external: deny" in lines["send_email"]
    assert "unless a rule on the right objects" in lines["send_email"]
    assert (
        "flow.untrusted-target: ask when untrusted data chooses order_id" in lines["refund_order"]
    )
    assert "charter.repeat_writes" in lines["refund_order"]
    assert "allow (tools.allow)" in lines["quote"] and "flow." not in lines["quote"]


def test_policy_check_leaves_out_flows_the_charter_turns_off(desk: Path) -> None:
    (desk / "desk.charter.yaml").write_text(
        "name: desk\nflows: {confidential_to_external: allow}\n"
    )

    result = CliRunner().invoke(
        app, ["policy", "check", str(desk / "desk.agent.yaml")], terminal_width=250
    )

    assert "flow.confidential-to-external" not in result.output


# The schema itself


class Tier(Enum):
    GOLD = "gold"
    SILVER = "silver"


class Address(BaseModel):
    city: str
    zip: str | None = None


@tool
def shaped(
    address: Address,
    tags: list[str],
    tier: Tier,
    mode: Literal["a", "b"],
    flag: bool = False,
    extra: dict[str, Any] | None = None,
    ratio: float = 1.0,
    either: int | str = 0,
) -> None:
    """Every shape of argument."""


def test_argument_models_map_to_cedar_types() -> None:
    schema, untyped = tool_schema(shaped)

    args = schema[""]["actions"]["call"]["appliesTo"]["context"]["attributes"]["args"]
    assert args["attributes"] == {
        "address": {
            "type": "Record",
            "attributes": {
                "city": {"type": "String"},
                "zip": {"type": "String", "required": False},
            },
        },
        "tags": {"type": "Set", "element": {"type": "String"}},
        "tier": {"type": "String"},
        "mode": {"type": "String"},
        "flag": {"type": "Boolean", "required": False},
    }
    assert untyped == {"extra", "ratio", "either"}


def test_a_schema_without_a_cedar_type_maps_to_none() -> None:
    assert cedar_type({"type": "number"}, {}) is None
    assert cedar_type({"$ref": "#/$defs/Missing"}, {}) is None
    assert cedar_type({"enum": [1, "a"]}, {}) is None
    assert cedar_type({"type": "array", "prefixItems": [{"type": "integer"}]}, {}) is None


def test_a_charter_in_code_is_checked_against_tools_too() -> None:
    charter = Charter.model_validate(
        {"name": "c", "rules": [{"id": "r", "effect": "deny", "when": "context.args.nope"}]}
    )

    with pytest.raises(
        ConfigError, match=r"rule r: condition reads context\.args\.nope, but shaped"
    ):
        charter.check_against([shaped], "inline")


# Rules narrowed inside their condition, and raw Cedar


def test_a_rule_narrowed_to_one_tool_in_its_condition_is_checked_on_that_tool_only(
    desk: Path,
) -> None:
    when = 'resource.name == "refund_order" && context.args.amount_cents > 50000'

    agent = _load(desk, _rules(f"{{id: big, effect: ask, when: '{when}'}}"))

    refund = agent.inventory.get("refund_order")
    assert agent.charter.decide(refund, {"order_id": 1, "amount_cents": 60000}).rules == ("big",)
    assert agent.charter.decide(agent.inventory.get("send_email"), {"to": "x"}).verdict == "allow"


def test_a_narrowed_rule_reading_a_missing_argument_is_refused_for_its_tool(desk: Path) -> None:
    when = 'resource.side_effect == "write" && context.args.amount > 50000'

    with pytest.raises(ConfigError, match=r"rule big: .*but refund_order has no argument amount"):
        _load(desk, _rules(f"{{id: big, effect: ask, when: '{when}'}}"))


RAW = "name: desk\ncedar: |\n  {}\n"


def test_raw_cedar_scoped_to_a_tool_is_checked_against_it(desk: Path) -> None:
    policy = (
        '@id("raw.big") forbid(principal, action, resource == Tool::"refund_order") '
        "when { context.args.amount > 5 };"
    )

    with pytest.raises(ConfigError) as caught:
        _load(desk, RAW.format(policy))

    assert "rule raw.big: condition reads context.args.amount, but refund_order" in str(
        caught.value
    )
    assert "send_email" not in str(caught.value)


def test_raw_cedar_scoped_to_a_tool_reading_its_arguments_loads(desk: Path) -> None:
    policy = (
        '@id("raw.big") forbid(principal, action, resource == Tool::"refund_order") '
        "when { context.args.amount_cents > 5 };"
    )

    agent = _load(desk, RAW.format(policy))

    refund = agent.inventory.get("refund_order")
    assert agent.charter.decide(refund, {"order_id": 1, "amount_cents": 6}).rules == ("raw.big",)


def test_unscoped_raw_cedar_reading_an_argument_some_tools_lack_is_refused(desk: Path) -> None:
    policy = '@id("raw.eve") forbid(principal, action, resource) when { context.args.to == "eve" };'

    with pytest.raises(ConfigError, match=r"rule raw\.eve: .*refund_order has no argument to"):
        _load(desk, RAW.format(policy))


def test_a_rule_reading_one_arguments_label_loads(desk: Path) -> None:
    charter = _rules(REFUND_CAP % 'context.args_labels.order_id.trust == "untrusted"')

    agent = _load(desk, charter)

    assert agent.charter.rules[0].id == "refund-cap"


def test_a_rule_reading_the_label_of_an_argument_the_tool_lacks_is_refused(desk: Path) -> None:
    charter = _rules(REFUND_CAP % 'context.args_labels.order.trust == "untrusted"')

    with pytest.raises(ConfigError, match=r"rule refund-cap: .*args_labels"):
        _load(desk, charter)


def test_an_optional_arguments_label_needs_has(desk: Path) -> None:
    charter = _rules(REFUND_CAP % 'context.args_labels.reason.trust == "untrusted"')

    with pytest.raises(ConfigError, match=r"rule refund-cap: .*optional attribute"):
        _load(desk, charter)
