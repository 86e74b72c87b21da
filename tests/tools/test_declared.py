"""Declared tools: the argument models built from their schemas, shared between the runs
that declare the same tool again, and never across a changed schema."""

from __future__ import annotations

from typing import Any

import pytest

from charter.tools import ToolArgumentsError, declared_tool


def _schema(required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"order_id": {"type": "integer"}, "note": {"type": "string"}},
        "required": required,
    }


def test_declaring_the_same_tool_again_reuses_its_argument_model() -> None:
    first = declared_tool("refund_order", args_schema=_schema(["order_id"]))
    again = declared_tool("refund_order", args_schema=_schema(["order_id"]))

    assert again.args_model is first.args_model
    assert again.validate_args({"order_id": "7"}).model_dump() == {"order_id": 7, "note": None}


def test_a_changed_schema_under_the_same_name_gets_a_model_of_its_own() -> None:
    loose = declared_tool("refund_order", args_schema=_schema(["order_id"]))
    strict = declared_tool("refund_order", args_schema=_schema(["order_id", "note"]))

    assert strict.args_model is not loose.args_model
    loose.validate_args({"order_id": 7})
    with pytest.raises(ToolArgumentsError, match="note"):
        strict.validate_args({"order_id": 7})


def test_a_schema_edited_after_declaring_leaves_the_declared_tool_as_it_was() -> None:
    schema = _schema(["order_id"])
    declared = declared_tool("tag_order", args_schema=schema)

    schema["required"].append("note")
    schema["properties"]["order_id"]["type"] = "string"

    assert declared.validate_args({"order_id": "7"}).model_dump()["order_id"] == 7
    edited = declared_tool("tag_order", args_schema=schema)
    with pytest.raises(ToolArgumentsError, match="note"):
        edited.validate_args({"order_id": "7"})


def test_the_same_schema_under_another_name_is_another_model() -> None:
    one = declared_tool("refund_order", args_schema=_schema([]))
    other = declared_tool("void_order", args_schema=_schema([]))

    assert one.args_model is not other.args_model
    assert other.args_model.__name__ == "void_order_args"


def test_a_schema_that_is_not_plain_json_is_still_refused_or_built() -> None:
    with pytest.raises(ValueError, match="object schema"):
        declared_tool("odd", args_schema={"type": "array", "items": object()})
    built = declared_tool(
        "odd", args_schema={"type": "object", "properties": {"n": {"type": "integer"}}, "x": {1}}
    )
    assert built.validate_args({"n": "3"}).model_dump() == {"n": 3}
