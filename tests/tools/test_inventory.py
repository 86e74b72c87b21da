"""Tests for the tool inventory: registration, lookup, revocation."""

import pytest

from charter.errors import CharterError, UnknownToolError
from charter.tools import Inventory, Tool, tool


def _make(name: str) -> Tool:
    def fn() -> str:
        """A tool."""
        return name

    return tool(name=name)(fn)


def test_add_then_get_returns_the_same_tool() -> None:
    inventory = Inventory()
    lookup = _make("lookup_order")

    inventory.add(lookup)

    assert inventory.get("lookup_order") is lookup


def test_constructor_registers_tools_in_order() -> None:
    inventory = Inventory([_make("b_tool"), _make("a_tool")])

    assert inventory.names() == ["b_tool", "a_tool"]
    assert len(inventory) == 2
    assert [t.name for t in inventory] == ["b_tool", "a_tool"]


def test_contains_checks_by_name() -> None:
    inventory = Inventory([_make("lookup_order")])

    assert "lookup_order" in inventory
    assert "refund_order" not in inventory


def test_adding_a_duplicate_name_is_an_error() -> None:
    inventory = Inventory([_make("lookup_order")])

    with pytest.raises(ValueError, match="a tool named 'lookup_order' is already in the inventory"):
        inventory.add(_make("lookup_order"))


def test_duplicate_in_constructor_is_an_error() -> None:
    with pytest.raises(ValueError, match="'dup'"):
        Inventory([_make("dup"), _make("dup")])


def test_unknown_tool_error_suggests_close_names() -> None:
    inventory = Inventory([_make("lookup_order"), _make("refund_order"), _make("send_email")])

    with pytest.raises(UnknownToolError) as info:
        inventory.get("lookup_ordr")

    message = str(info.value)
    assert message.startswith("unknown tool 'lookup_ordr' (did you mean lookup_order")
    assert "known tools: lookup_order, refund_order, send_email" in message


def test_unknown_tool_error_without_close_names_lists_known_ones() -> None:
    inventory = Inventory([_make("refund_order"), _make("lookup_order")])

    with pytest.raises(UnknownToolError) as info:
        inventory.get("zzz")

    assert str(info.value) == "unknown tool 'zzz'; known tools: lookup_order, refund_order"


def test_unknown_tool_in_empty_inventory_says_none() -> None:
    with pytest.raises(UnknownToolError, match="known tools: none"):
        Inventory().get("anything")


def test_unknown_tool_error_is_a_charter_error() -> None:
    with pytest.raises(CharterError):
        Inventory().get("anything")


def test_revoke_marks_a_tool_revoked() -> None:
    inventory = Inventory([_make("refund_order"), _make("lookup_order")])

    inventory.revoke("refund_order")

    assert inventory.is_revoked("refund_order") is True
    assert inventory.is_revoked("lookup_order") is False


def test_revoked_tool_stays_registered() -> None:
    inventory = Inventory([_make("refund_order")])

    inventory.revoke("refund_order")

    assert inventory.names() == ["refund_order"]
    assert inventory.get("refund_order").name == "refund_order"


def test_restore_undoes_revoke() -> None:
    inventory = Inventory([_make("refund_order")])
    inventory.revoke("refund_order")

    inventory.restore("refund_order")

    assert inventory.is_revoked("refund_order") is False


def test_restore_of_a_tool_never_revoked_is_harmless() -> None:
    inventory = Inventory([_make("refund_order")])

    inventory.restore("refund_order")

    assert inventory.is_revoked("refund_order") is False


def test_revoking_an_unknown_name_is_an_error() -> None:
    inventory = Inventory([_make("refund_order")])

    with pytest.raises(UnknownToolError, match="unknown tool 'refund_ordr'"):
        inventory.revoke("refund_ordr")

    assert inventory.is_revoked("refund_ordr") is False


def test_restoring_an_unknown_name_is_an_error() -> None:
    with pytest.raises(UnknownToolError, match="unknown tool 'ghost'"):
        Inventory([_make("refund_order")]).restore("ghost")
