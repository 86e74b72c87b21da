"""The demo tools: contracts, happy paths, failure paths and compensations."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from charter.demo.tools import toolset
from charter.demo.world import create_world, session
from charter.errors import ConfigError
from charter.tools import Tool, ToolArgumentsError


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return create_world(tmp_path / "world.db")


@pytest.fixture
def tools(world: Path) -> dict[str, Tool]:
    return {t.name: t for t in toolset({"world": str(world)})}


def call(tools: dict[str, Tool], name: str, **args: Any) -> Any:
    found = tools[name]
    return found.invoke(found.validate_args(args))


def undo(tools: dict[str, Tool], name: str, result: Any, **args: Any) -> Any:
    compensate = tools[name].compensate
    assert compensate is not None
    return compensate(**dict(tools[name].validate_args(args)), result=result)


def ledger(world: Path, order_id: int) -> list[tuple[str, int]]:
    with session(world) as conn:
        rows = conn.execute(
            "SELECT kind, amount_cents FROM payments WHERE order_id = ? ORDER BY id", (order_id,)
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def scalar(world: Path, sql: str, *params: object) -> Any:
    with session(world) as conn:
        return conn.execute(sql, params).fetchone()[0]


# --- the factory ---------------------------------------------------------------------------


def test_toolset_creates_a_missing_world(tmp_path: Path) -> None:
    toolset({"world": str(tmp_path / "new" / "world.db")})
    assert (tmp_path / "new" / "world.db").is_file()


def test_toolset_defaults_to_the_world_under_charter_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path))
    toolset({})
    assert (tmp_path / "demo-world.db").is_file()


def test_toolset_rejects_an_unknown_option(world: Path) -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        toolset({"world": str(world), "wrold": "x"})


def test_toolset_offers_the_eight_demo_tools(tools: dict[str, Tool]) -> None:
    assert sorted(tools) == sorted(
        [
            "lookup_order",
            "lookup_customer",
            "search_kb",
            "get_ticket",
            "churn_report",
            "refund_order",
            "send_email",
            "reply_ticket",
        ]
    )


@pytest.mark.parametrize(
    ("name", "side_effect", "trust", "confidentiality", "reversible"),
    [
        ("lookup_order", "read", "trusted", "internal", False),
        ("lookup_customer", "read", "trusted", "pii", False),
        ("search_kb", "read", "untrusted", "internal", False),
        ("get_ticket", "read", "untrusted", "pii", False),
        ("churn_report", "read", "trusted", "internal", False),
        ("refund_order", "write", "trusted", "internal", True),
        ("send_email", "external", "trusted", "internal", True),
        ("reply_ticket", "write", "trusted", "internal", True),
    ],
)
def test_contract_labels(
    tools: dict[str, Tool],
    name: str,
    side_effect: str,
    trust: str,
    confidentiality: str,
    reversible: bool,
) -> None:
    found = tools[name]
    labels = (found.contract.side_effect, found.contract.trust, found.contract.confidentiality)
    assert labels == (side_effect, trust, confidentiality)
    assert found.reversible is reversible


def test_lookup_customer_declares_it_reads_pii(tools: dict[str, Tool]) -> None:
    assert tools["lookup_customer"].contract.reads == ("customer.pii",)


def test_every_tool_has_an_owner_and_a_timeout(tools: dict[str, Tool]) -> None:
    assert all(t.contract.owner and t.contract.timeout_s for t in tools.values())


def test_only_writes_and_external_calls_cost_money(tools: dict[str, Tool]) -> None:
    costly = {t.name for t in tools.values() if t.contract.cost_usd > 0}
    assert costly == {"refund_order", "send_email", "reply_ticket"}


def test_refund_order_is_not_idempotent(tools: dict[str, Tool]) -> None:
    assert tools["refund_order"].contract.idempotent is False


def test_arguments_are_validated_against_the_signature(tools: dict[str, Tool]) -> None:
    with pytest.raises(ToolArgumentsError, match="order_id"):
        tools["lookup_order"].validate_args({"order_id": "not a number"})


# --- reads ---------------------------------------------------------------------------------


def test_lookup_order_reports_refund_facts_for_1042(tools: dict[str, Tool]) -> None:
    facts = call(tools, "lookup_order", order_id=1042)
    assert facts["status"] == "delivered"
    assert facts["days_since_delivery"] == 12
    assert facts["refundable_cents"] == 18950
    assert facts["within_refund_window"] is True


def test_lookup_order_reports_a_closed_refund_window(tools: dict[str, Tool]) -> None:
    facts = call(tools, "lookup_order", order_id=1031)
    assert (facts["days_since_delivery"], facts["within_refund_window"]) == (49, False)


def test_lookup_order_subtracts_earlier_refunds(tools: dict[str, Tool]) -> None:
    facts = call(tools, "lookup_order", order_id=1066)
    assert (facts["refunded_cents"], facts["refundable_cents"]) == (5000, 24900)


def test_lookup_order_refuses_an_unknown_order(tools: dict[str, Tool]) -> None:
    with pytest.raises(ValueError, match="order 9999 does not exist"):
        call(tools, "lookup_order", order_id=9999)


def test_lookup_customer_returns_email_and_orders(tools: dict[str, Tool]) -> None:
    customer = call(tools, "lookup_customer", customer_id=17)
    assert customer["email"] == "maya.okafor@example.com"
    assert 1042 in customer["order_ids"]


def test_lookup_customer_refuses_an_unknown_customer(tools: dict[str, Tool]) -> None:
    with pytest.raises(ValueError, match="customer 999 does not exist"):
        call(tools, "lookup_customer", customer_id=999)


def test_search_kb_finds_the_refund_policy(tools: dict[str, Tool]) -> None:
    found = call(tools, "search_kb", query="refund policy")
    assert found["matches"][0]["slug"] == "refund-policy"


def test_search_kb_returns_the_injected_document_for_shipping(tools: dict[str, Tool]) -> None:
    found = call(tools, "search_kb", query="shipping")
    injected = [m for m in found["matches"] if m["slug"] == "shipping-faq"]
    assert "SYSTEM NOTE TO AI AGENTS" in injected[0]["body"]


def test_search_kb_returns_no_matches_for_unknown_words(tools: dict[str, Tool]) -> None:
    assert call(tools, "search_kb", query="zebra xylophone")["matches"] == []


def test_search_kb_refuses_a_query_without_keywords(tools: dict[str, Tool]) -> None:
    with pytest.raises(ValueError, match="keyword"):
        call(tools, "search_kb", query="a ?")


def test_get_ticket_88_asks_about_order_1042(tools: dict[str, Tool]) -> None:
    ticket = call(tools, "get_ticket", ticket_id=88)
    assert (ticket["customer_id"], ticket["status"]) == (17, "open")
    assert "order 1042" in ticket["body"]


def test_get_ticket_91_returns_the_injected_text(tools: dict[str, Tool]) -> None:
    ticket = call(tools, "get_ticket", ticket_id=91)
    assert "refund_order for order 1013" in ticket["body"]


def test_get_ticket_refuses_an_unknown_ticket(tools: dict[str, Tool]) -> None:
    with pytest.raises(ValueError, match="ticket 5 does not exist"):
        call(tools, "get_ticket", ticket_id=5)


def test_churn_report_covers_every_customer(tools: dict[str, Tool]) -> None:
    report = call(tools, "churn_report", days=30)
    assert sum(t["customers"] for t in report["tiers"]) == 40


def test_churn_report_counts_at_risk_customers(tools: dict[str, Tool]) -> None:
    for tier in call(tools, "churn_report")["tiers"]:
        assert tier["at_risk_customers"] == tier["customers"] - tier["active_customers"]


def test_churn_report_refuses_a_window_out_of_range(tools: dict[str, Tool]) -> None:
    with pytest.raises(ValueError, match="between 1 and 365"):
        call(tools, "churn_report", days=0)


def test_results_are_json_serialisable(tools: dict[str, Tool]) -> None:
    json.dumps(call(tools, "lookup_order", order_id=1042))


def test_tools_run_in_a_worker_thread(tools: dict[str, Tool]) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        result = pool.submit(call, tools, "lookup_order", order_id=1042).result()
    assert result["order_id"] == 1042


# --- refund_order ----------------------------------------------------------------------------


def test_refund_order_appends_a_refund_row(tools: dict[str, Tool], world: Path) -> None:
    result = call(tools, "refund_order", order_id=1042, amount_cents=5000, reason="armrest")
    assert ledger(world, 1042) == [("charge", 18950), ("refund", -5000)]
    assert (result["refundable_cents"], result["order_status"]) == (13950, "delivered")


def test_full_refund_marks_the_order_refunded(tools: dict[str, Tool]) -> None:
    result = call(tools, "refund_order", order_id=1042, amount_cents=18950, reason="broken")
    assert (result["order_status"], result["refundable_cents"]) == ("refunded", 0)


def test_refund_without_an_amount_refunds_what_remains(tools: dict[str, Tool], world: Path) -> None:
    result = call(tools, "refund_order", order_id=1066, reason="damaged")
    assert ledger(world, 1066) == [("charge", 29900), ("refund", -5000), ("refund", -24900)]
    assert (result["amount_cents"], result["order_status"]) == (24900, "refunded")


def test_refund_without_an_amount_of_a_refunded_order_is_refused(
    tools: dict[str, Tool], world: Path
) -> None:
    call(tools, "refund_order", order_id=1042, reason="first")
    with pytest.raises(ValueError, match="nothing left to refund"):
        call(tools, "refund_order", order_id=1042, reason="again")
    assert ledger(world, 1042) == [("charge", 18950), ("refund", -18950)]


def test_over_refund_is_refused(tools: dict[str, Tool]) -> None:
    with pytest.raises(ValueError, match=r"exceeds the 189\.50 USD still refundable"):
        call(tools, "refund_order", order_id=1042, amount_cents=50000, reason="too much")


def test_over_refund_leaves_the_ledger_unchanged(tools: dict[str, Tool], world: Path) -> None:
    with pytest.raises(ValueError):
        call(tools, "refund_order", order_id=1066, amount_cents=25000, reason="too much")
    assert ledger(world, 1066) == [("charge", 29900), ("refund", -5000)]


def test_refund_of_an_unknown_order_is_refused(tools: dict[str, Tool]) -> None:
    with pytest.raises(ValueError, match="order 9999 does not exist"):
        call(tools, "refund_order", order_id=9999, amount_cents=100, reason="x")


def test_refund_of_a_cancelled_order_is_refused(tools: dict[str, Tool], world: Path) -> None:
    cancelled = scalar(world, "SELECT MIN(id) FROM orders WHERE status = 'cancelled'")
    with pytest.raises(ValueError, match="only delivered or shipped"):
        call(tools, "refund_order", order_id=cancelled, amount_cents=100, reason="x")


def test_refund_of_a_non_positive_amount_is_refused(tools: dict[str, Tool]) -> None:
    with pytest.raises(ValueError, match="positive"):
        call(tools, "refund_order", order_id=1042, amount_cents=0, reason="x")


def test_refund_without_a_reason_is_refused(tools: dict[str, Tool]) -> None:
    with pytest.raises(ValueError, match="reason"):
        call(tools, "refund_order", order_id=1042, amount_cents=100, reason="  ")


def test_refund_compensation_appends_a_reversal(tools: dict[str, Tool], world: Path) -> None:
    args = {"order_id": 1042, "amount_cents": 18950, "reason": "broken"}
    result = call(tools, "refund_order", **args)
    undo(tools, "refund_order", result, **args)
    kinds = [kind for kind, _ in ledger(world, 1042)]
    assert kinds == ["charge", "refund", "refund_reversal"]


def test_refund_compensation_restores_the_order(tools: dict[str, Tool]) -> None:
    args = {"order_id": 1042, "amount_cents": 18950, "reason": "broken"}
    undo(tools, "refund_order", call(tools, "refund_order", **args), **args)
    facts = call(tools, "lookup_order", order_id=1042)
    assert (facts["status"], facts["refundable_cents"]) == ("delivered", 18950)


def test_refund_compensation_is_idempotent(tools: dict[str, Tool], world: Path) -> None:
    args = {"order_id": 1042, "amount_cents": 1000, "reason": "goodwill"}
    result = call(tools, "refund_order", **args)
    first = undo(tools, "refund_order", result, **args)
    second = undo(tools, "refund_order", result, **args)
    assert (first["already_undone"], second["already_undone"]) == (False, True)
    assert len(ledger(world, 1042)) == 3


# --- send_email ------------------------------------------------------------------------------


def test_send_email_queues_a_message(tools: dict[str, Tool], world: Path) -> None:
    sent = call(tools, "send_email", to="maya.okafor@example.com", subject="Hi", body="Done.")
    status = scalar(world, "SELECT status FROM email_outbox WHERE id = ?", sent["message_id"])
    assert status == "queued"


def test_send_email_refuses_a_malformed_address(tools: dict[str, Tool]) -> None:
    with pytest.raises(ValueError, match="not an email address"):
        call(tools, "send_email", to="maya", subject="Hi", body="Done.")


def test_send_email_compensation_recalls(tools: dict[str, Tool], world: Path) -> None:
    args = {"to": "maya.okafor@example.com", "subject": "Hi", "body": "Done."}
    sent = call(tools, "send_email", **args)
    undo(tools, "send_email", sent, **args)
    status = scalar(world, "SELECT status FROM email_outbox WHERE id = ?", sent["message_id"])
    assert status == "recalled"


# --- reply_ticket ----------------------------------------------------------------------------


def test_reply_ticket_marks_the_ticket_answered(tools: dict[str, Tool]) -> None:
    call(tools, "reply_ticket", ticket_id=88, body="Refund issued.")
    ticket = call(tools, "get_ticket", ticket_id=88)
    assert ticket["status"] == "answered"
    assert [r["body"] for r in ticket["replies"]] == ["Refund issued."]


def test_reply_to_a_closed_ticket_is_refused(tools: dict[str, Tool], world: Path) -> None:
    closed = scalar(world, "SELECT MIN(id) FROM tickets WHERE status = 'closed'")
    with pytest.raises(ValueError, match="is closed"):
        call(tools, "reply_ticket", ticket_id=closed, body="Hello")


def test_reply_ticket_compensation_removes_the_reply(tools: dict[str, Tool]) -> None:
    args = {"ticket_id": 88, "body": "Refund issued."}
    undo(tools, "reply_ticket", call(tools, "reply_ticket", **args), **args)
    ticket = call(tools, "get_ticket", ticket_id=88)
    assert (ticket["status"], ticket["replies"]) == ("open", [])
