"""The shortcut past the JSON Schema validator for the plainest input schemas: it says
"valid" only where the validator does, whatever the arguments; any other schema is left
to the validator."""

from __future__ import annotations

import itertools
from typing import Any

import jsonschema
import pytest

from charter.integrations.mcp._plain_schema import plain_check
from charter.integrations.mcp._toolset import McpArgs

PLAIN: list[dict[str, Any]] = [
    # what the SDK derives from `def get_ticket(ticket_id: int)`
    {
        "properties": {"ticket_id": {"title": "Ticket Id", "type": "integer"}},
        "required": ["ticket_id"],
        "title": "get_ticketArguments",
        "type": "object",
    },
    # an optional argument, and no others allowed
    {
        "type": "object",
        "properties": {
            "to": {"type": "string", "format": "email", "description": "who"},
            "cc": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "n": {"type": ["number", "boolean"]},
            "any": {},
            "also_any": True,
        },
        "required": ["to"],
        "additionalProperties": False,
        "$schema": "http://json-schema.org/draft-07/schema#",
    },
    {"type": "object"},
    {"properties": {"items": {"type": "array"}, "obj": {"type": "object"}, "z": {"type": "null"}}},
]
NOT_PLAIN: list[dict[str, Any]] = [
    {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}},
    {"type": "object", "properties": {"s": {"type": "string", "maxLength": 3}}},
    {"type": "object", "properties": {"e": {"enum": ["a", "b"]}}},
    {"type": "object", "properties": {"o": {"type": "object", "properties": {}}}},
    {"type": "object", "properties": {"r": {"$ref": "#/$defs/R"}}, "$defs": {"R": {}}},
    {"type": "object", "additionalProperties": {"type": "string"}},
    {"type": "object", "patternProperties": {"^x": {"type": "string"}}},
    {"type": "object", "properties": {"u": {"anyOf": [{"type": "string", "minLength": 2}]}}},
    {"type": "object", "properties": {"t": {"type": "date"}}},
    {"type": "object", "properties": {"t": {"type": []}}},
    {"type": "object", "properties": {"f": False}},
    {"type": "object", "required": "to"},
    {"type": ["object"]},
    {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
]
SCALARS: list[Any] = [None, True, False, 0, 1, -7, 1.0, 1.5, float("nan"), 10**30, "", "x"]
VALUES: list[Any] = [*SCALARS, [], [1], {}, {"a": 1}]
NAMES = ["ticket_id", "to", "cc", "n", "any", "also_any", "items", "obj", "z", "other"]


def argument_sets() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [{}]
    for name, value in itertools.product(NAMES, VALUES):
        found.append({name: value})
    for value, other in itertools.product(VALUES, VALUES[:8]):
        found.append({"ticket_id": value, "to": other})
        found.append({"to": value, "cc": other, "other": 1})
        found.append({"to": "a@b.c", "n": value, "cc": other})
        found.append({"items": value, "obj": other, "z": value})
    return found


@pytest.mark.parametrize("schema", PLAIN)
def test_a_plain_schema_vouches_only_for_what_the_validator_accepts(schema: dict[str, Any]) -> None:
    check = plain_check(schema)
    assert check is not None
    validator: Any = jsonschema.Draft202012Validator(schema)
    vouched = 0
    for args in argument_sets():
        if check(args):
            vouched += 1
            assert validator.is_valid(args), (schema, args)
        # Where it does not vouch, the validator decides; it only errs on the safe side
        # for numbers written as floats (1.0 is an integer to JSON Schema).
        elif validator.is_valid(args):
            assert any(isinstance(v, float) for v in args.values()), (schema, args)
    assert vouched > 0


@pytest.mark.parametrize("schema", NOT_PLAIN)
def test_any_other_schema_is_left_to_the_validator(schema: dict[str, Any]) -> None:
    assert plain_check(schema) is None


def test_arguments_of_a_plain_schema_are_still_refused_with_the_validators_words() -> None:
    args_model = type("args", (McpArgs,), {"input_schema": PLAIN[1], "__module__": __name__})
    assert args_model.model_validate({"to": "a@b.c", "cc": None}).model_dump() == {
        "to": "a@b.c",
        "cc": None,
    }
    with pytest.raises(ValueError, match="'to' is a required property"):
        args_model.model_validate({"cc": "x"})
    with pytest.raises(ValueError, match="Additional properties are not allowed"):
        args_model.model_validate({"to": "a@b.c", "bcc": "x"})
    with pytest.raises(ValueError, match="is not valid under any of the given schemas"):
        args_model.model_validate({"to": "a@b.c", "cc": 3})
    integer = type("integer_args", (McpArgs,), {"input_schema": PLAIN[0], "__module__": __name__})
    assert integer.model_validate({"ticket_id": 1.0}).model_dump() == {"ticket_id": 1.0}
