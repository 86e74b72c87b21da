"""The proposed call a decision is made on."""

from __future__ import annotations

from dataclasses import replace

from charter.runtime._decide import ProposedCall
from charter.runtime._ledger import call_identity
from charter.tools import tool


@tool(side_effect="write", targets=("order_id",))
def refund_order(order_id: int, reason: str = "") -> int:
    """Refund an order."""
    return order_id


def test_a_calls_identity_is_its_tool_and_arguments_each_time_it_is_asked() -> None:
    call = ProposedCall(3, refund_order, {"order_id": 7, "reason": "late"})

    first, again = call.identity, call.identity

    assert first == again == call_identity(refund_order, {"order_id": 7, "reason": "late"})


def test_a_call_rebuilt_with_other_arguments_has_their_identity_not_the_old_one() -> None:
    call = ProposedCall(3, refund_order, {"order_id": 7})
    assert call.identity == call_identity(refund_order, {"order_id": 7})

    other = replace(call, args={"order_id": 8})

    assert other.identity == call_identity(refund_order, {"order_id": 8})
    assert other.identity != call.identity
    assert other == ProposedCall(3, refund_order, {"order_id": 8})  # the cache is no field
