"""The plainest input schemas, checked without the general JSON Schema validator.

Most MCP servers describe a tool's arguments as an object of named properties, each of a
JSON type (or of one of a few, as an optional argument is), some required: the schema an
SDK derives from a function's signature. For such a schema, :func:`plain_check` gives a
check a few dozen times cheaper than :mod:`jsonschema`'s, that says *valid* only where the
validator would: it is a shortcut past the validator, never a second opinion. Arguments
it does not vouch for, and every schema using any other keyword, go to the validator,
whose verdict and messages stand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

Check = Callable[[dict[str, Any]], bool]

ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly"}
    | {"$comment", "format", "$schema"}
)
"""Keywords that never make a value invalid (``format`` asserts nothing unless the
validator is given a format checker, which charter's is not; ``$schema`` does not change
the validator charter uses)."""
_ROOT = ANNOTATIONS | {"type", "properties", "required", "additionalProperties"}


def _is_string(value: Any) -> bool:
    return isinstance(value, str)


def _is_integer(value: Any) -> bool:
    # A float such as 1.0 is an integer to JSON Schema too: left to the validator.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_boolean(value: Any) -> bool:
    return isinstance(value, bool)


def _is_null(value: Any) -> bool:
    return value is None


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _is_array(value: Any) -> bool:
    return isinstance(value, list)


TYPES: dict[str, Callable[[Any], bool]] = {
    "string": _is_string,
    "integer": _is_integer,
    "number": _is_number,
    "boolean": _is_boolean,
    "null": _is_null,
    "object": _is_object,
    "array": _is_array,
}


def plain_check(schema: Mapping[str, Any]) -> Check | None:
    """A check of an arguments object against ``schema``, or None when the schema is not
    one of the plainest (then only the validator can say).

    The check returns True only for arguments the JSON Schema validator accepts; False
    means "ask the validator" (the arguments may still be valid)."""
    if not schema.keys() <= _ROOT or schema.get("type", "object") != "object":
        return None
    extra = schema.get("additionalProperties", True)
    raw_properties = schema.get("properties", {})
    required = schema.get("required", [])
    if not isinstance(extra, bool) or not isinstance(raw_properties, dict):
        return None
    if not isinstance(required, list):
        return None
    if not all(isinstance(r, str) for r in cast(list[Any], required)):
        return None
    properties: dict[str, Callable[[Any], bool]] = {}
    for name, sub in cast(dict[str, Any], raw_properties).items():
        found = _value_check(sub)
        if found is None:
            return None
        properties[name] = found
    needed = tuple(cast(list[str], required))

    def check(args: dict[str, Any]) -> bool:
        for name in needed:
            if name not in args:
                return False
        for name, value in args.items():
            test = properties.get(name)
            if test is None:
                if not extra:
                    return False
            elif not test(value):
                return False
        return True

    return check


def _anything(value: Any) -> bool:
    return True


def _value_check(schema: Any) -> Callable[[Any], bool] | None:
    """A check of one property's value, or None when its schema is not plain."""
    if schema is True:
        return _anything
    if not isinstance(schema, dict):
        return None
    body = cast(dict[str, Any], schema)
    keys = body.keys() - ANNOTATIONS
    if not keys:
        return _anything
    if keys == {"type"}:
        return _type_check(body["type"])
    if keys == {"anyOf"}:  # an optional argument: [{"type": "string"}, {"type": "null"}]
        branches: Any = body["anyOf"]
        if not isinstance(branches, list) or not branches:
            return None
        checks: list[Callable[[Any], bool]] = []
        for branch in cast(list[Any], branches):
            if not isinstance(branch, dict) or branch.keys() - ANNOTATIONS != {"type"}:
                return None
            found = _type_check(cast(dict[str, Any], branch)["type"])
            if found is None:
                return None
            checks.append(found)
        return lambda value: any(test(value) for test in checks)
    return None


def _type_check(declared: Any) -> Callable[[Any], bool] | None:
    """A check of ``"type": declared`` (a name or a list of names); None if unknown."""
    names = cast(list[Any], declared) if isinstance(declared, list) else [declared]
    if not names or not all(isinstance(n, str) and n in TYPES for n in names):
        return None
    tests = [TYPES[n] for n in names]
    if len(tests) == 1:
        return tests[0]
    return lambda value: any(test(value) for test in tests)
