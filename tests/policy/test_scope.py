"""Task scope: tools and argument values fixed from the goal before anything is read."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from charter.errors import ConfigError
from charter.policy import Charter, Decision
from charter.policy._scope import ScopeRules, TaskScope, derive_scope, govern_scope
from charter.tools import tool


@tool
def read_channel(channel: str) -> str:
    """Read a channel."""
    return ""


@tool(side_effect="external", targets=("to",))
def send_email(to: list[str], body: str) -> str:
    """Send mail."""
    return ""


@tool(side_effect="write", targets=("iban",))
def send_money(iban: str, amount: int) -> str:
    """Pay."""
    return ""


SCOPE: dict[str, Any] = {
    "outside": "deny",
    "always": ["read_*"],
    "rules": [
        {
            "id": "email",
            "goal": r"(?i)\bemail\b.*\bto (?P<to>[\w.+-]+@[\w.-]+\w)",
            "tools": ["send_email"],
            "args": {"send_email.to": ["{to}"]},
        },
        {"id": "pay", "goal": r"(?i)\bpay\b", "tools": ["send_money"]},
    ],
}
ALLOW = Decision("allow", (), "", "p")


def _charter(**scope: Any) -> Charter:
    return Charter.model_validate({"name": "c", "scope": SCOPE | scope})


def test_a_summary_task_may_read_but_not_pay() -> None:
    charter = _charter()
    goal = "Summarise #general for me"

    assert govern_scope(charter, goal, read_channel, {"channel": "general"}, ALLOW) is ALLOW
    denied = govern_scope(charter, goal, send_money, {"iban": "X", "amount": 1}, ALLOW)
    assert (denied.verdict, denied.rules) == ("deny", ("scope.tool",))
    assert "send_money" in denied.reason


def test_a_scope_may_ask_instead_of_deny() -> None:
    decision = govern_scope(
        _charter(outside="ask"), "Summarise", send_money, {"iban": "X", "amount": 1}, ALLOW
    )

    assert (decision.verdict, decision.rules) == ("ask", ("scope.tool",))


def test_a_bound_argument_allows_only_the_value_the_goal_named() -> None:
    charter = _charter()
    goal = "Email the minutes to Alice@corp.example please"
    args = {"to": ["alice@corp.example"], "body": "minutes"}

    assert govern_scope(charter, goal, send_email, args, ALLOW) is ALLOW
    smuggled = {"to": ["alice@corp.example", "eve@evil.example"], "body": "minutes"}
    denied = govern_scope(charter, goal, send_email, smuggled, ALLOW)
    assert (denied.verdict, denied.rules) == ("deny", ("scope.args",))
    assert "eve@evil.example" in denied.reason


def test_an_unbound_group_allows_no_value() -> None:
    scope = ScopeRules.model_validate(
        {
            "rules": [
                {
                    "id": "r",
                    "goal": r"mail(?: to (?P<to>\S+@\S+))?",
                    "tools": ["send_email"],
                    "args": {"send_email.to": ["{to}"]},
                }
            ]
        }
    )

    derived = derive_scope(scope, "mail the report")
    objection = derived.check(send_email, {"to": ["x@y.z"], "body": ""}, "p")
    assert objection is not None and objection.rules == ("scope.args",)


def test_a_rule_allowing_the_tool_freely_lifts_anothers_constraint() -> None:
    scope = ScopeRules.model_validate(
        {
            "rules": [
                {
                    "id": "a",
                    "goal": "mail (?P<to>\\S+)",
                    "tools": ["send_email"],
                    "args": {"send_email.to": ["{to}"]},
                },
                {"id": "b", "goal": "newsletter", "tools": ["send_*"]},
            ]
        }
    )

    derived = derive_scope(scope, "mail x@y.z the newsletter")
    assert derived.check(send_email, {"to": ["other@y.z"], "body": ""}, "p") is None
    assert derived.rules == ("a", "b")


def test_no_rule_matching_leaves_the_always_tools_only() -> None:
    derived = derive_scope(_charter().scope or ScopeRules(), "What's the weather?")

    assert (derived.rules, derived.tools) == ((), ("read_*",))


def test_scope_never_weakens_a_denial() -> None:
    deny = Decision("deny", ("r",), "no", "p")

    assert govern_scope(_charter(outside="ask"), "x", send_money, {}, deny) is deny


def test_a_charter_without_scope_has_none() -> None:
    charter = Charter(name="c")

    assert govern_scope(charter, "x", send_money, {"iban": "X", "amount": 1}, ALLOW) is ALLOW


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"goal": "(", "tools": ["x"]}, "not a regular expression"),
        ({"goal": "a", "tools": ["x"], "args": {"x.y": ["{who}"]}}, "not a named group"),
        ({"goal": "a", "tools": ["x"], "args": {"xy": ["1"]}}, "write tool.argument"),
    ],
)
def test_a_bad_scope_rule_is_refused(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Charter.model_validate({"name": "c", "scope": {"rules": [{"id": "r"} | rule]}})


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("send_mail.to", "scope.rules.0.args.send_mail.to: no such tool"),
        ("send_email.too", "scope.rules.0.args.send_email.too: 'send_email' has no 'too'"),
    ],
)
def test_a_scope_constraint_on_an_unknown_argument_is_a_config_error(
    key: str, message: str
) -> None:
    charter = Charter.model_validate(
        {
            "name": "c",
            "scope": {"rules": [{"id": "r", "goal": "a", "tools": ["*"], "args": {key: ["x"]}}]},
        }
    )

    with pytest.raises(ConfigError, match=message):
        charter.check_against([send_email, send_money, read_channel], "c.yaml")


BIND: dict[str, Any] = {
    "rules": [
        {
            "id": "refund",
            "goal": r"(?i)\brefund (?P<who>\w+)",
            "tools": ["send_money"],
            "bind": {
                "send_money.iban": [
                    {"from": ["list_payees[].iban"], "where": {"name": "{who}"}},
                ]
            },
        }
    ]
}


def _resolved(goal: str, payees: list[dict[str, Any]]) -> Any:
    from charter.policy._designate import designate
    from charter.runtime._provenance import canonical

    derived = derive_scope(ScopeRules.model_validate(BIND), goal)
    outputs: dict[int, tuple[str, Any]] = {1: ("list_payees", payees)}
    return derived.resolved(
        {k: tuple(designate(b, outputs, canonical) for b in v) for k, v in derived.bind.items()}
    )


PAYEES = [{"name": "Harbor Properties", "iban": "DE75"}, {"name": "Alex Rivera", "iban": "DE89"}]


def test_a_bound_argument_takes_the_designated_items_field_only() -> None:
    scope = _resolved("Refund Alex the concert money", PAYEES)

    assert scope.check(send_money, {"iban": "DE89", "amount": 45}, "p") is None
    other = scope.check(send_money, {"iban": "DE75", "amount": 45}, "p")
    assert other is not None and (other.verdict, other.rules) == ("deny", ("scope.args",))
    assert "de89 (read at step 1 as list_payees[].iban)" in other.reason


def test_an_ambiguous_designation_binds_nothing_and_says_why() -> None:
    twins = [*PAYEES, {"name": "Alex Mallory", "iban": "GB33"}]
    scope = _resolved("Refund Alex the concert money", twins)

    for iban in ("DE89", "GB33"):
        objection = scope.check(send_money, {"iban": iban, "amount": 45}, "p")
        assert objection is not None and "ambiguous" in objection.reason


def test_a_binding_before_anything_is_read_allows_nothing() -> None:
    derived = derive_scope(ScopeRules.model_validate(BIND), "Refund Alex")

    objection = derived.check(send_money, {"iban": "DE89", "amount": 45}, "p")
    assert objection is not None and objection.rules == ("scope.args",)


def test_the_bindings_are_journaled_with_the_scope_and_read_back() -> None:
    derived = derive_scope(ScopeRules.model_validate(BIND), "Refund Alex")

    payload = derived.to_json()
    assert payload["bind"] == {
        "send_money.iban": [{"from": ["list_payees[].iban"], "where": {"name": "Alex"}}]
    }
    assert "designated" not in payload and "carry" not in payload
    assert TaskScope.from_json(payload) == derived


def test_a_scope_without_bindings_journals_as_before() -> None:
    payload = derive_scope(_charter().scope or ScopeRules(), "Pay now").to_json()

    assert set(payload) == {"rules", "tools", "args", "outside"}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"bind": {"x.y": [{"from": ["t.f"], "where": {"f": "{who}"}}]}}, "not a named group"),
        ({"bind": {"xy": [{"from": ["t.f"]}]}}, "write tool.argument"),
        ({"bind": {"x.y": [{"from": ["tf"]}]}}, "is not tool.field"),
        ({"carry": {"x": ["get_profile"]}}, "is not tool.field"),
    ],
)
def test_a_bad_binding_is_refused(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScopeRules.model_validate({"rules": [{"id": "r", "goal": "a", "tools": ["x"]} | rule]})


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"bind": {"send_money.payee": [{"from": ["t.f"]}]}},
            "bind.send_money.payee: 'send_money' has no 'payee'",
        ),
        ({"carry": {"send_mail": ["t.f"]}}, "carry.send_mail: no such tool"),
    ],
)
def test_a_binding_or_carry_on_an_unknown_tool_or_argument_is_a_config_error(
    rule: dict[str, Any], message: str
) -> None:
    charter = Charter.model_validate(
        {"name": "c", "scope": {"rules": [{"id": "r", "goal": "a", "tools": ["*"]} | rule]}}
    )

    with pytest.raises(ConfigError, match=message):
        charter.check_against([send_email, send_money, read_channel], "c.yaml")
