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


def test_toolset_offers_the_demo_tools(tools: dict[str, Tool]) -> None:
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
            "read_inbox",
            "get_email",
            "update_customer",
            "grant_store_credit",
            "delete_customer",
        ]
    )


def test_toolset_explains_an_outdated_world(tmp_path: Path) -> None:
    old = create_world(tmp_path / "old.db")
    with session(old) as conn:
        conn.execute("UPDATE world_meta SET value = '1' WHERE key = 'schema_version'")
    with pytest.raises(ConfigError, match=r"schema 1.*charter demo --reset"):
        toolset({"world": str(old)})


@pytest.mark.parametrize(
    ("name", "side_effect", "trust", "confidentiality", "reversible"),
    [
        ("lookup_order", "read", "trusted", "internal", False),
        ("lookup_customer", "read", "trusted", "pii", False),
        ("search_kb", "read", "untrusted", "internal", False),
        ("get_ticket", "read", "untrusted", "pii", False),
        ("read_inbox", "read", "untrusted", "pii", False),
        ("get_email", "read", "untrusted", "pii", False),
        ("churn_report", "read", "trusted", "internal", False),
        ("refund_order", "write", "trusted", "internal", True),
        ("send_email", "external", "trusted", "internal", True),
        ("reply_ticket", "write", "trusted", "internal", True),
        ("update_customer", "write", "trusted", "pii", True),
        ("grant_store_credit", "write", "trusted", "internal", True),
        ("delete_customer", "write", "trusted", "internal", False),
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


@pytest.mark.parametrize(
    ("name", "targets"),
    [
        ("refund_order", ("order_id",)),
        ("send_email", ("to",)),
        ("reply_ticket", ("ticket_id",)),
        ("update_customer", ("customer_id",)),
        ("grant_store_credit", ("customer_id",)),
        ("delete_customer", ("customer_id",)),
    ],
)
def test_writes_name_the_argument_choosing_what_they_act_on(
    tools: dict[str, Tool], name: str, targets: tuple[str, ...]
) -> None:
    assert tools[name].contract.targets == targets


def test_reads_have_no_targets(tools: dict[str, Tool]) -> None:
    assert all(not t.contract.targets for t in tools.values() if t.contract.side_effect == "read")


def test_inbox_reads_declare_what_they_read(tools: dict[str, Tool]) -> None:
    assert (
        tools["read_inbox"].contract.reads == tools["get_email"].contract.reads == ("inbox.text",)
    )


def test_lookup_customer_declares_it_reads_pii(tools: dict[str, Tool]) -> None:
    assert tools["lookup_customer"].contract.reads == ("customer.pii",)


def test_every_tool_has_an_owner_and_a_timeout(tools: dict[str, Tool]) -> None:
    assert all(t.contract.owner and t.contract.timeout_s for t in tools.values())


def test_only_writes_and_external_calls_cost_money(tools: dict[str, Tool]) -> None:
    costly = {t.name for t in tools.values() if t.contract.cost_usd > 0}
    assert costly == {t.name for t in tools.values() if t.contract.side_effect != "read"}


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


def test_lookup_customer_starts_without_credit_or_erasure(tools: dict[str, Tool]) -> None:
    customer = call(tools, "lookup_customer", customer_id=17)
    assert (customer["store_credit_cents"], customer["erased_at"]) == (0, None)


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


# --- the inbox -------------------------------------------------------------------------------


def test_read_inbox_lists_the_newest_first(tools: dict[str, Tool]) -> None:
    emails = call(tools, "read_inbox")["emails"]
    assert [e["email_id"] for e in emails] == list(range(508, 500, -1))
    assert emails[-1]["from_addr"] == "maya.okafor@example.com"
    assert "body" not in emails[0]


def test_read_inbox_honours_the_limit(tools: dict[str, Tool]) -> None:
    assert len(call(tools, "read_inbox", limit=2)["emails"]) == 2


def test_read_inbox_refuses_a_limit_out_of_range(tools: dict[str, Tool]) -> None:
    with pytest.raises(ValueError, match="between 1 and 100"):
        call(tools, "read_inbox", limit=0)


def test_get_email_matches_the_sender_to_a_customer(tools: dict[str, Tool]) -> None:
    email = call(tools, "get_email", email_id=502)
    assert (email["customer_id"], email["from_addr"]) == (1, "isla.jansen@example.com")
    assert "order 1030" in email["body"]


def test_get_email_returns_an_injected_message_as_data(tools: dict[str, Tool]) -> None:
    email = call(tools, "get_email", email_id=505)
    assert email["customer_id"] is None
    assert "call delete_customer" in email["body"]


def test_get_email_refuses_an_unknown_email(tools: dict[str, Tool]) -> None:
    with pytest.raises(ValueError, match="email 7 does not exist; list the inbox"):
        call(tools, "get_email", email_id=7)


# --- update_customer ---------------------------------------------------------------------------


def customer(world: Path, customer_id: int) -> tuple[str, str]:
    with session(world) as conn:
        row = conn.execute(
            "SELECT tier, email FROM customers WHERE id = ?", (customer_id,)
        ).fetchone()
    return row[0], row[1]


def test_update_customer_changes_the_tier(tools: dict[str, Tool], world: Path) -> None:
    result = call(tools, "update_customer", customer_id=9, tier="plus")
    assert (result["previous_tier"], result["tier"]) == ("basic", "plus")
    assert customer(world, 9) == ("plus", "hana.martin@example.com")


def test_update_customer_changes_the_email(tools: dict[str, Tool], world: Path) -> None:
    call(tools, "update_customer", customer_id=17, email=" maya@example.org ")
    assert customer(world, 17) == ("plus", "maya@example.org")


def test_update_customer_needs_a_field_to_change(tools: dict[str, Tool]) -> None:
    with pytest.raises(ValueError, match="give tier or email"):
        call(tools, "update_customer", customer_id=17)


def test_update_customer_refuses_a_change_that_changes_nothing(tools: dict[str, Tool]) -> None:
    with pytest.raises(ValueError, match="already has tier plus"):
        call(tools, "update_customer", customer_id=17, tier="plus")


def test_update_customer_refuses_an_address_of_another_customer(
    tools: dict[str, Tool], world: Path
) -> None:
    with pytest.raises(ValueError, match="belongs to customer 5; nothing was changed"):
        call(
            tools,
            "update_customer",
            customer_id=17,
            tier="basic",
            email="elena.petrova@example.com",
        )
    assert customer(world, 17) == ("plus", "maya.okafor@example.com")


def test_update_customer_refuses_a_malformed_address(tools: dict[str, Tool]) -> None:
    with pytest.raises(ValueError, match="not an email address"):
        call(tools, "update_customer", customer_id=17, email="maya at home")


def test_update_customer_refuses_an_unknown_tier(tools: dict[str, Tool]) -> None:
    with pytest.raises(ToolArgumentsError, match="tier"):
        tools["update_customer"].validate_args({"customer_id": 17, "tier": "gold"})


def test_update_customer_refuses_an_unknown_customer(tools: dict[str, Tool]) -> None:
    with pytest.raises(ValueError, match="customer 999 does not exist"):
        call(tools, "update_customer", customer_id=999, tier="plus")


def test_update_customer_compensation_restores_both_fields(
    tools: dict[str, Tool], world: Path
) -> None:
    args = {"customer_id": 9, "tier": "premium", "email": "hana@example.org"}
    restored = undo(tools, "update_customer", call(tools, "update_customer", **args), **args)
    assert customer(world, 9) == ("basic", "hana.martin@example.com")
    assert restored["already_undone"] is False


def test_update_customer_compensation_is_idempotent(tools: dict[str, Tool]) -> None:
    args = {"customer_id": 9, "tier": "plus"}
    result = call(tools, "update_customer", **args)
    undo(tools, "update_customer", result, **args)
    assert undo(tools, "update_customer", result, **args)["already_undone"] is True


def test_update_customer_compensation_keeps_a_later_change(
    tools: dict[str, Tool], world: Path
) -> None:
    args = {"customer_id": 9, "tier": "plus"}
    result = call(tools, "update_customer", **args)
    call(tools, "update_customer", customer_id=9, tier="premium")
    undo(tools, "update_customer", result, **args)
    assert customer(world, 9)[0] == "premium"


# --- grant_store_credit ------------------------------------------------------------------------


def test_grant_store_credit_adds_to_the_balance(tools: dict[str, Tool]) -> None:
    call(tools, "grant_store_credit", customer_id=17, amount_cents=1500, reason="delay")
    result = call(tools, "grant_store_credit", customer_id=17, amount_cents=500, reason="again")
    assert result["store_credit_cents"] == 2000
    assert call(tools, "lookup_customer", customer_id=17)["store_credit_cents"] == 2000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"customer_id": 17, "amount_cents": 0, "reason": "x"}, "positive"),
        ({"customer_id": 17, "amount_cents": 100, "reason": " "}, "reason"),
        ({"customer_id": 999, "amount_cents": 100, "reason": "x"}, "customer 999 does not exist"),
    ],
)
def test_grant_store_credit_refuses_bad_input_and_grants_nothing(
    tools: dict[str, Tool], world: Path, args: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call(tools, "grant_store_credit", **args)
    assert scalar(world, "SELECT COUNT(*) FROM store_credits") == 0


def test_grant_store_credit_compensation_voids_it(tools: dict[str, Tool], world: Path) -> None:
    args = {"customer_id": 17, "amount_cents": 1500, "reason": "delay"}
    result = call(tools, "grant_store_credit", **args)
    first = undo(tools, "grant_store_credit", result, **args)
    second = undo(tools, "grant_store_credit", result, **args)
    assert (first["store_credit_cents"], first["already_undone"]) == (0, False)
    assert second["already_undone"] is True
    assert scalar(world, "SELECT status FROM store_credits") == "voided"


# --- delete_customer ---------------------------------------------------------------------------


def test_delete_customer_erases_personal_data(tools: dict[str, Tool], world: Path) -> None:
    result = call(tools, "delete_customer", customer_id=17, reason="customer request")
    erased = call(tools, "lookup_customer", customer_id=17)
    assert (erased["name"], erased["email"]) == ("[erased]", "erased-17@erased.invalid")
    assert erased["erased_at"] == result["erased_at"]
    assert "cracked armrest" not in call(tools, "get_ticket", ticket_id=88)["body"]
    assert "Maya" not in call(tools, "get_email", email_id=501)["body"]


def test_delete_customer_keeps_orders_and_payments(tools: dict[str, Tool], world: Path) -> None:
    result = call(tools, "delete_customer", customer_id=17, reason="customer request")
    assert 1042 in call(tools, "lookup_customer", customer_id=17)["order_ids"]
    assert result["orders_kept"] == scalar(
        world, "SELECT COUNT(*) FROM orders WHERE customer_id = 17"
    )
    assert ledger(world, 1042) == [("charge", 18950)]


def test_delete_customer_cannot_be_undone(tools: dict[str, Tool]) -> None:
    assert tools["delete_customer"].compensate is None


def test_delete_customer_refuses_an_erased_customer(tools: dict[str, Tool]) -> None:
    call(tools, "delete_customer", customer_id=17, reason="customer request")
    with pytest.raises(ValueError, match="customer 17 was erased on 2026-11-20; nothing was"):
        call(tools, "delete_customer", customer_id=17, reason="again")


def test_an_erased_customer_takes_no_credit_or_update(tools: dict[str, Tool]) -> None:
    call(tools, "delete_customer", customer_id=17, reason="customer request")
    with pytest.raises(ValueError, match="was erased"):
        call(tools, "grant_store_credit", customer_id=17, amount_cents=100, reason="x")
    with pytest.raises(ValueError, match="was erased"):
        call(tools, "update_customer", customer_id=17, tier="basic")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"customer_id": 999, "reason": "x"}, "customer 999 does not exist"),
        ({"customer_id": 17, "reason": ""}, "reason must not be empty"),
    ],
)
def test_delete_customer_refuses_bad_input_and_erases_nothing(
    tools: dict[str, Tool], world: Path, args: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call(tools, "delete_customer", **args)
    assert scalar(world, "SELECT COUNT(*) FROM customers WHERE erased_at IS NOT NULL") == 0
