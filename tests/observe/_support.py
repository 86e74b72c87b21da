"""Tools shared by the telemetry tests."""

from __future__ import annotations

from charter import tool


@tool
def lookup_order(order_id: int) -> dict[str, int]:
    """Look up an order."""
    return {"order_id": order_id}


@tool(side_effect="write", cost_usd=0.25)
def refund_order(order_id: int, amount_cents: int) -> dict[str, int]:
    """Refund an order."""
    if amount_cents > 5000:
        raise ValueError("amount exceeds the order total")
    return {"refund_id": order_id}


@tool(side_effect="write")
def cancel_order(order_id: int) -> str:
    """Cancel an order."""
    return "cancelled"


TOOLS = [lookup_order, refund_order, cancel_order]
