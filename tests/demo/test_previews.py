"""The demo writes' previews: amounts, people and warnings resolved, read-only."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from charter.demo._previews import read_only
from charter.demo.tools import toolset
from charter.demo.world import create_world
from charter.tools import Tool, preview_call


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return create_world(tmp_path / "world.db")


@pytest.fixture
def tools(world: Path) -> dict[str, Tool]:
    return {t.name: t for t in toolset({"world": str(world)})}


def _preview(tools: dict[str, Tool], name: str, **args: Any) -> dict[str, Any]:
    shown = preview_call(tools[name], args)
    assert shown is not None and "summary" in shown, shown
    return shown


def test_every_demo_write_has_a_preview(tools: dict[str, Tool]) -> None:
    writes = sorted(t.name for t in tools.values() if t.contract.side_effect != "read")

    assert writes == sorted(name for name in writes if tools[name].preview is not None)
    assert len(writes) == 6


def test_a_full_refund_shows_the_money_the_customer_and_the_order(
    tools: dict[str, Tool],
) -> None:
    shown = _preview(tools, "refund_order", order_id=1042, reason="damaged")

    assert shown["summary"] == (
        "refund 189.50 USD to Maya Okafor (customer 17) for order 1042 "
        "(Ergonomic office chair), delivered 2026-11-08"
    )
    assert shown["facts"][0] == {
        "name": "amount",
        "value": "189.50 USD (everything still refundable)",
    }
    assert [f["name"] for f in shown["facts"]][:3] == ["amount", "customer", "order"]
    assert shown["warnings"] == []


def test_a_refund_of_an_order_already_refunded_warns(tools: dict[str, Tool]) -> None:
    tools["refund_order"].invoke(
        tools["refund_order"].validate_args({"order_id": 1042, "reason": "r", "amount_cents": 50})
    )

    shown = _preview(tools, "refund_order", order_id=1042, reason="damaged")

    assert any(
        w.startswith("order 1042 was already refunded: 0.50 USD on ") for w in shown["warnings"]
    )
    assert "refund 189.00 USD" in shown["summary"]


def test_a_fully_refunded_order_refunds_nothing_and_says_the_call_will_fail(
    tools: dict[str, Tool],
) -> None:
    shown = _preview(tools, "refund_order", order_id=1006, reason="again")

    assert shown["summary"].startswith("refund nothing")
    assert "order 1006 is refunded: the refund will fail" in shown["warnings"]


def test_an_unknown_order_is_a_warning_not_an_error(tools: dict[str, Tool]) -> None:
    shown = _preview(tools, "refund_order", order_id=999999, reason="r")

    assert shown["warnings"] == ["order 999999 does not exist; check the order number"]


def test_an_email_to_no_customer_warns_that_it_leaves_the_company(tools: dict[str, Tool]) -> None:
    shown = _preview(tools, "send_email", to="evil@attacker.example", subject="s", body="b")

    assert "belongs to no customer" in shown["warnings"][0]


def test_credit_reply_update_and_erasure_name_the_customer(tools: dict[str, Tool]) -> None:
    credit = _preview(tools, "grant_store_credit", customer_id=17, amount_cents=1500, reason="r")
    reply = _preview(tools, "reply_ticket", ticket_id=80, body="hello")
    update = _preview(tools, "update_customer", customer_id=17, email="x@evil.example")
    erase = _preview(tools, "delete_customer", customer_id=17, reason="asked")

    assert credit["summary"].startswith("grant 15.00 USD store credit to Maya Okafor")
    assert "ticket 80 is closed: the reply will fail" in reply["warnings"]
    assert "maya.okafor@example.com → x@evil.example" in update["summary"]
    assert "erasure cannot be undone" in erase["warnings"]


def test_previews_change_nothing(world: Path, tools: dict[str, Tool]) -> None:
    before = world.read_bytes()
    _preview(tools, "refund_order", order_id=1042, reason="r")
    _preview(tools, "delete_customer", customer_id=17, reason="r")

    assert world.read_bytes() == before


def test_the_preview_connection_cannot_write(world: Path) -> None:
    with read_only(world) as conn, pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM customers")
