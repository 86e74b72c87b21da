"""Previews: a tool's read-only description of a call, bounded and never raising."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from charter.tools import Preview, preview_call, tool


def _refund(order_id: int, amount_cents: int | None = None) -> Preview:
    amount = 18950 if amount_cents is None else amount_cents
    return Preview(
        f"refund {amount / 100:.2f} USD for order {order_id}",
        warnings=("already refunded on 2026-11-20",),
        facts={"order": str(order_id)},
    )


@tool(side_effect="write", preview=_refund)
def refund_order(order_id: int, amount_cents: int | None = None) -> dict[str, int]:
    """Refund an order."""
    return {"order_id": order_id}


def test_a_preview_resolves_the_call_in_words() -> None:
    shown = preview_call(refund_order, {"order_id": 1042, "amount_cents": None})

    assert shown == {
        "summary": "refund 189.50 USD for order 1042",
        "warnings": ["already refunded on 2026-11-20"],
        "facts": [{"name": "order", "value": "1042"}],
    }


def test_a_tool_without_a_preview_has_none() -> None:
    @tool(side_effect="write")
    def tag(order_id: int) -> str:
        """Tag."""
        return "x"

    assert preview_call(tag, {"order_id": 1}) is None


def test_a_sentence_is_a_preview_too() -> None:
    def preview(order_id: int) -> str:
        return f"tag order {order_id}"

    @tool(side_effect="write", preview=preview)
    def tag(order_id: int) -> str:
        """Tag."""
        return "x"

    assert preview_call(tag, {"order_id": 7}) == {
        "summary": "tag order 7",
        "warnings": [],
        "facts": [],
    }


def test_a_preview_that_raises_is_unavailable_with_its_error() -> None:
    def broken(order_id: int) -> Preview:
        raise LookupError(f"no order {order_id}")

    @tool(side_effect="write", preview=broken)
    def tag(order_id: int) -> str:
        """Tag."""
        return "x"

    assert preview_call(tag, {"order_id": 7}) == {
        "unavailable": "preview unavailable: LookupError: no order 7"
    }


def test_a_preview_of_the_wrong_type_is_unavailable() -> None:
    def preview(order_id: int) -> dict[str, int]:
        return {"raw": order_id}

    @tool(side_effect="write", preview=preview)
    def tag(order_id: int) -> str:
        """Tag."""
        return "x"

    shown = preview_call(tag, {"order_id": 7})

    assert shown is not None and "returns a Preview or a str, not dict" in shown["unavailable"]


def test_arguments_the_tool_would_refuse_make_the_preview_unavailable() -> None:
    shown = preview_call(refund_order, {"order_id": "not a number"})

    assert shown is not None and "invalid arguments for tool 'refund_order'" in shown["unavailable"]


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    released = threading.Event()
    yield released
    released.set()  # let the stuck preview's thread end


def test_a_preview_that_hangs_times_out_without_blocking(gate: threading.Event) -> None:
    def stuck(order_id: int) -> str:
        gate.wait()
        return "too late"

    @tool(side_effect="write", preview=stuck)
    def tag(order_id: int) -> str:
        """Tag."""
        return "x"

    shown = preview_call(tag, {"order_id": 7}, timeout=0.05)

    assert shown == {"unavailable": "preview unavailable: it did not finish within 0.05s"}


def test_long_preview_text_is_clipped() -> None:
    def preview(order_id: int) -> str:
        return "x" * 5000

    @tool(side_effect="write", preview=preview)
    def tag(order_id: int) -> str:
        """Tag."""
        return "x"

    shown = preview_call(tag, {"order_id": 7})

    assert shown is not None and len(shown["summary"]) == 500
