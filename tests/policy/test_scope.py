"""Task scope: tools and argument values fixed from the goal before anything is read."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from charter.errors import ConfigError
from charter.policy import Charter, Decision
from charter.policy._scope import ScopeRules, derive_scope, govern_scope
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
