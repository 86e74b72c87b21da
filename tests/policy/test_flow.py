"""Information-flow labels and the default flow rules."""

from __future__ import annotations

from typing import Any

import pytest

from charter.policy import Charter, Label, check_flows, decide_call, join_all
from charter.tools import tool

UNTRUSTED = Label("untrusted", "internal")
PII = Label("trusted", "pii")
TRUSTED = Label("trusted", "internal")


@tool(side_effect="external", targets=("to",))
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return to


@tool(side_effect="write", targets=("order_id",))
def refund_order(order_id: int, reason: str) -> int:
    """Refund an order."""
    return order_id


@tool
def lookup_order(order_id: int) -> int:
    """Look up an order."""
    return order_id


def _charter(**fields: Any) -> Charter:
    return Charter.model_validate({"name": "c"} | fields)


def test_join_takes_untrusted_and_the_higher_confidentiality() -> None:
    assert UNTRUSTED.join(PII) == Label("untrusted", "pii")
    assert Label("trusted", "secret").join(PII).confidentiality == "secret"
    assert join_all({}) == Label("trusted", "public")


def test_pii_to_an_external_tool_is_denied() -> None:
    decision = decide_call(
        _charter(), send_email, {"to": "a@b.c", "body": "x"}, {"to": TRUSTED, "body": PII}
    )

    assert (decision.verdict, decision.rules) == ("deny", ("flow.confidential-to-external",))
    assert "body of external tool 'send_email' carry pii data" in decision.reason


def test_pii_to_a_write_tool_is_not_a_leak() -> None:
    decision = decide_call(
        _charter(),
        refund_order,
        {"order_id": 1, "reason": "x"},
        {"order_id": TRUSTED, "reason": PII},
    )

    assert decision.verdict == "allow"


def test_an_argument_without_a_label_is_untrusted() -> None:
    decision = decide_call(_charter(), refund_order, {"order_id": 1, "reason": "x"}, {})

    assert (decision.verdict, decision.rules) == ("ask", ("flow.untrusted-target",))


def test_a_charter_may_trust_arguments_of_unknown_provenance() -> None:
    charter = _charter(flows={"unknown_provenance": "trusted"})

    decision = decide_call(charter, refund_order, {"order_id": 1, "reason": "x"})

    assert decision.verdict == "allow"


@pytest.mark.parametrize("compiled", [True, False])
def test_a_condition_reads_one_arguments_label_not_the_join(compiled: bool) -> None:
    charter = _charter(
        rules=[
            {
                "id": "untrusted-recipient",
                "effect": "deny",
                "tools": ["send_email"],
                "when": 'context.args_labels.to.trust == "untrusted"',
            }
        ],
        flows={"untrusted_target": "allow"},
    )
    charter.compiled.compile_conditions = compiled
    body_untrusted = {"to": TRUSTED, "body": UNTRUSTED}
    to_untrusted = {"to": UNTRUSTED, "body": TRUSTED}
    args = {"to": "a@b.c", "body": "x"}

    assert decide_call(charter, send_email, args, body_untrusted).verdict == "allow"
    denied = decide_call(charter, send_email, args, to_untrusted)
    assert (denied.verdict, denied.rules) == ("deny", ("untrusted-recipient",))


def test_untrusted_target_of_a_write_asks_for_approval() -> None:
    labels = {"order_id": UNTRUSTED, "reason": TRUSTED}

    decision = decide_call(_charter(), refund_order, {"order_id": 1013, "reason": "x"}, labels)

    assert (decision.verdict, decision.rules) == ("ask", ("flow.untrusted-target",))
    assert "untrusted data chose order_id of 'refund_order'" in decision.reason


def test_untrusted_non_target_arguments_are_fine() -> None:
    labels = {"order_id": TRUSTED, "reason": UNTRUSTED}

    assert decide_call(_charter(), refund_order, {"order_id": 1, "reason": "x"}, labels).allowed


def test_reads_are_never_flow_checked() -> None:
    assert check_flows(_charter(), lookup_order, {"order_id": Label("untrusted", "secret")}) is None


def test_flow_rules_can_be_set_to_deny_or_turned_off() -> None:
    labels = {"order_id": UNTRUSTED}
    strict = _charter(flows={"untrusted_target": "deny"})
    lax = _charter(flows={"untrusted_target": "allow"})

    assert (
        decide_call(strict, refund_order, {"order_id": 1, "reason": "x"}, labels).verdict == "deny"
    )
    assert decide_call(lax, refund_order, {"order_id": 1, "reason": "x"}, labels).verdict == "allow"


def test_deny_of_cedar_rules_beats_an_ask_of_flow_rules() -> None:
    charter = _charter(tools={"allow": ["*"], "deny": ["refund_order"]})

    decision = decide_call(
        charter, refund_order, {"order_id": 1, "reason": "x"}, {"order_id": UNTRUSTED}
    )

    assert decision.rules == ("tools.deny",)


def test_cedar_conditions_see_the_joined_labels() -> None:
    rule = {
        "id": "no-untrusted-lookups",
        "effect": "deny",
        "when": 'context.labels.trust == "untrusted"',
    }
    charter = _charter(rules=[rule])

    tainted = decide_call(charter, lookup_order, {"order_id": 1}, {"order_id": UNTRUSTED})
    clean = decide_call(charter, lookup_order, {"order_id": 1}, {"order_id": TRUSTED})

    assert (tainted.verdict, clean.verdict) == ("deny", "allow")


def test_targets_must_name_arguments() -> None:
    with pytest.raises(TypeError, match="targets"):

        @tool(side_effect="write", targets=("account",))
        def pay(to: str) -> str:
            """Pay."""
            return to


@pytest.mark.parametrize(
    ("trust", "confidentiality", "message"),
    [
        ("maybe", "pii", "unknown trust label 'maybe'"),
        ("trusted", "top", "unknown confidentiality"),
    ],
)
def test_unknown_labels_are_refused(trust: str, confidentiality: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Label(trust, confidentiality)  # type: ignore[arg-type]
