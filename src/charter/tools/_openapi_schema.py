"""An OpenAPI document's schemas as plain JSON Schema: local ``$ref`` inlined, 3.0 dialect
converted (``nullable``, boolean ``exclusiveMinimum``/``exclusiveMaximum``).

Reasoners see, and arguments are validated against, self-contained schemas. A reference
back into a schema being inlined (a recursive type) becomes ``{}`` (anything) at that depth;
a document whose references expand past a node budget is refused, so a small document
cannot ask for an exponential expansion.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import unquote

from charter.errors import ConfigError

MAX_NODES = 20_000
"""Schema nodes one toolset may inline in total."""

_DROPPED = frozenset({"example", "xml", "externalDocs", "discriminator", "nullable"})
"""OpenAPI 3.0 keywords that are not JSON Schema (nullable is rewritten, then dropped)."""


def pointer(document: Mapping[str, Any], ref: str, where: str) -> Any:
    """The node a local ``#/...`` reference names; :class:`ConfigError` otherwise."""
    if not ref.startswith("#"):
        raise ConfigError(
            f"{where}: $ref {ref!r} points outside the document; only local references "
            "(#/components/...) are supported"
        )
    node: Any = document
    for raw in (p for p in ref[1:].split("/") if p):
        token = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = cast(Mapping[str, Any], node)[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(cast(list[Any], node)):
            node = cast(list[Any], node)[int(token)]
        else:
            raise ConfigError(f"{where}: $ref {ref!r} names nothing in the document")
    return node


def follow(document: Mapping[str, Any], node: Any, where: str) -> Any:
    """``node`` with its own ``$ref`` chain followed (a parameter, a request body)."""
    seen: set[str] = set()
    current: Any = node
    while isinstance(current, Mapping) and "$ref" in current:
        ref = str(cast(Mapping[str, Any], current)["$ref"])
        if ref in seen:
            raise ConfigError(f"{where}: $ref {ref!r} refers to itself")
        seen.add(ref)
        current = pointer(document, ref, where)
    return cast(Any, current)


class SchemaInliner:
    """Inlines the references of one document's schemas, sharing one node budget."""

    def __init__(self, document: Mapping[str, Any], *, openapi_30: bool) -> None:
        self.document = document
        self.openapi_30 = openapi_30
        self.nodes = 0

    def inline(self, schema: Any, where: str) -> dict[str, Any]:
        """A self-contained JSON Schema for ``schema``."""
        result = self._node(schema, where, ())
        return cast(dict[str, Any], result) if isinstance(result, dict) else {}

    def _node(self, node: Any, where: str, active: tuple[str, ...]) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ConfigError(
                f"{where}: schemas expand to more than {MAX_NODES} nodes once references "
                "are inlined; simplify the document or list fewer operations"
            )
        if isinstance(node, list):
            return [self._node(item, where, active) for item in cast(list[Any], node)]
        if not isinstance(node, Mapping):
            return node
        mapping = cast(Mapping[str, Any], node)
        if "$ref" in mapping:
            ref = str(mapping["$ref"])
            if ref in active:  # recursive: anything, at this depth
                return {}
            target: Any = self._node(pointer(self.document, ref, where), where, (*active, ref))
            siblings = {k: v for k, v in mapping.items() if k != "$ref"}
            if not siblings or not isinstance(target, dict):
                return target
            # 3.1 allows keywords beside $ref: both must hold.
            both: list[Any] = [target, self._node(siblings, where, active)]
            return {"allOf": both}
        converted = {
            key: self._node(value, where, active)
            for key, value in mapping.items()
            if not (self.openapi_30 and key in _DROPPED)
        }
        if self.openapi_30:
            _convert_30(mapping, converted)
        return converted


def _convert_30(original: Mapping[str, Any], converted: dict[str, Any]) -> None:
    """Rewrite the 3.0 keywords JSON Schema 2020-12 spells differently, in place."""
    if original.get("nullable") is True:
        kind = converted.get("type")
        if isinstance(kind, str):
            converted["type"] = [kind, "null"]
        elif "enum" in converted:
            converted["enum"] = [*cast(list[Any], converted["enum"]), None]
        elif kind is None:
            pass  # no type: null is already allowed
    for bound, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if converted.get(flag) is True and bound in converted:
            converted[flag] = converted.pop(bound)
        elif converted.get(flag) is False:
            del converted[flag]


_INTEGER = re.compile(r"^-?\d{1,18}$")


def coerce_scalars(value: Any, schema: Mapping[str, Any]) -> Any:
    """``value`` with numbers and booleans given as text converted where ``schema`` asks
    for them (``"7"`` for an integer), as Pydantic's lax mode converts them for Python
    tools: reasoners and templates often write numbers as strings. Anything else is left
    for validation to judge."""
    kinds = schema.get("type")
    types = set(cast(list[str], kinds)) if isinstance(kinds, list) else {kinds}
    if isinstance(value, str) and "string" not in types:
        text = value.strip()
        if "integer" in types and _INTEGER.match(text):
            return int(text)
        if "number" in types:
            try:
                number = float(text)
            except ValueError:
                return value
            return int(number) if number.is_integer() and _INTEGER.match(text) else number
        if "boolean" in types and text in ("true", "false"):
            return text == "true"
        return value
    if isinstance(value, dict) and isinstance(schema.get("properties"), Mapping):
        properties = cast(Mapping[str, Any], schema["properties"])
        return {
            k: coerce_scalars(v, properties[k]) if isinstance(properties.get(k), Mapping) else v
            for k, v in cast(dict[str, Any], value).items()
        }
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        items = cast(Mapping[str, Any], schema["items"])
        return [coerce_scalars(v, items) for v in cast(list[Any], value)]
    return cast(Any, value)
