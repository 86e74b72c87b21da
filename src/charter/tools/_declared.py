"""Tools known only by name and contract: run by someone else, governed by charter.

An integration (another framework's agent, an MCP client) runs its own tools; charter
governs and journals them. :func:`declared_tool` describes such a tool without a Python
callable: its name, optionally the JSON schema of its arguments, and its contract. With
no ``compensate`` callable registered, a rollback reports its completed calls as
irreversible.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict, Field, create_model

from charter.tools._tool import (
    Confidentiality,
    SideEffect,
    Tool,
    ToolContract,
    Trust,
)

_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list[Any],
    "object": dict[str, Any],
}


class _AnyArguments(BaseModel):
    """Arguments of a declared tool without a schema: any JSON object."""

    model_config = ConfigDict(extra="allow")


def _args_model(name: str, schema: Mapping[str, Any] | None) -> type[BaseModel]:
    if schema is None:
        return _AnyArguments
    try:
        key = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):  # not plain JSON: built afresh (or refused) as ever
        return _built_model(name, schema)
    return _cached_model(name, key)


@functools.lru_cache(maxsize=512)
def _cached_model(name: str, schema_json: str) -> type[BaseModel]:
    """One model per tool name and schema: an integration declares its framework's tools
    on every run it opens, and building a pydantic model costs ~0.3-0.5 ms (the model is
    never changed once built, so the runs can share it)."""
    return _built_model(name, json.loads(schema_json))


def _built_model(name: str, schema: Mapping[str, Any]) -> type[BaseModel]:
    if schema.get("type", "object") != "object":
        raise ValueError(f"tool {name!r}: the arguments' schema must be an object schema")
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    fields: dict[str, Any] = {}
    for field_name, spec in properties.items():
        kind = _JSON_TYPES.get(str(spec.get("type", "")), Any)
        described = Field(description=spec.get("description"))
        if field_name in required:
            fields[field_name] = (kind, described)
        else:
            fields[field_name] = (kind | None, Field(None, description=spec.get("description")))
    extra = "allow" if schema.get("additionalProperties", False) else "forbid"
    return create_model(  # type: ignore[call-overload]
        f"{name}_args", __config__=ConfigDict(extra=extra), **fields
    )


def declared_tool(
    name: str,
    *,
    description: str = "",
    args_schema: Mapping[str, Any] | None = None,
    side_effect: SideEffect = "read",
    trust: Trust = "trusted",
    confidentiality: Confidentiality = "internal",
    targets: tuple[str, ...] = (),
    idempotent: bool = False,
    cost_usd: float = 0.0,
    owner: str = "",
    reads: tuple[str, ...] = (),
    compensate: Callable[..., Any] | None = None,
) -> Tool:
    """A tool charter governs but does not run (see the module docstring).

    Args:
        name: the name calls use.
        description: what it does (for reviewers and the dashboard).
        args_schema: JSON schema of its arguments (an object schema; ``properties`` of
            type string, integer, number, boolean, array or object, ``required``);
            default: any JSON object.
        side_effect: ``read``, ``write`` or ``external``.
        trust: the trust label of its output.
        confidentiality: the confidentiality label of its output.
        targets: the arguments that choose what a write acts on.
        idempotent: calling twice has the effect of calling once.
        cost_usd: the price of one call, for budgets.
        owner: who answers for it.
        reads: data classes it reads.
        compensate: undoes a completed call (called with ``result=`` and its
            arguments); without one a rollback reports its calls irreversible.

    Raises:
        ValueError: a contract field or the schema is not valid.
    """

    def run_elsewhere(**_: Any) -> NoReturn:
        raise RuntimeError(f"tool {name!r} is declared, not implemented: its caller runs it")

    return Tool(
        name=name,
        description=description or f"{name} (run by its caller)",
        fn=run_elsewhere,
        args_model=_args_model(name, args_schema),
        contract=ToolContract(
            side_effect=side_effect,
            reads=tuple(reads),
            trust=trust,
            confidentiality=confidentiality,
            idempotent=idempotent,
            cost_usd=cost_usd,
            timeout_s=None,
            owner=owner,
            targets=tuple(targets),
        ),
        compensate=compensate,
    )
