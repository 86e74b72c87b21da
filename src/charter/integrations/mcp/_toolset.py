"""An MCP server's tools as charter tools: contracts from the agent file, arguments
checked against the server's input schema, definitions checked against the lockfile."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar, cast

from pydantic import BaseModel, ConfigDict, model_validator

try:
    import jsonschema
except ImportError as exc:  # brought in by the mcp extra
    raise ImportError("MCP toolsets need the mcp extra: pip install 'charter[mcp]'") from exc

from charter.errors import ConfigError
from charter.integrations.mcp._connection import (
    McpCallBroken,
    McpConnection,
    connection_for,
    redact,
)
from charter.integrations.mcp._fields import path_problem
from charter.integrations.mcp._lockfile import Lockfile, PinCheck, definition_hash, lock_path
from charter.integrations.mcp._plain_schema import plain_check
from charter.integrations.mcp._spec import (
    ContractSpec,
    McpServerSpec,
    effective_contract,
    load_server,
)
from charter.integrations.mcp._wire import ToolAnswer
from charter.tools import Tool, ToolContract, ToolOutcomeUnknownError, ToolRefusal

TOOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
"""The tool names MCP recommends, and all charter accepts from a server."""


class McpToolError(RuntimeError):
    """The server answered a call with an error result."""


class McpArgs(BaseModel):
    """Arguments of an MCP tool: any JSON object its input schema accepts."""

    model_config = ConfigDict(extra="allow", frozen=True)
    input_schema: ClassVar[dict[str, Any]] = {}
    validator_cache: ClassVar[Any] = None

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        """The server's input schema, as the model sees it."""
        return json.loads(json.dumps(cls.input_schema))  # a copy callers may edit

    @model_validator(mode="before")
    @classmethod
    def _check_schema(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValueError("arguments must be an object")
        args = dict(cast(Mapping[str, Any], data))
        cached: Any = cls.__dict__.get("validator_cache")
        if cached is None:  # one per tool: building them costs more than a check
            cached = (
                plain_check(cls.input_schema),
                jsonschema.Draft202012Validator(cls.input_schema),
            )
            cls.validator_cache = cached
        plain, validator = cached
        if plain is not None and plain(args):
            return args  # what the validator would accept, as a plain schema shows
        errors: list[jsonschema.ValidationError] = sorted(validator.iter_errors(args), key=str)
        if errors:
            raise ValueError("; ".join(_problem(e) for e in errors[:5]))
        return args


def _problem(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    return f"{path}: {error.message[:200]}" if path else error.message[:200]


def check_names(listed: list[dict[str, Any]], spec: McpServerSpec, source: str) -> None:
    """Refuse a server offering a tool name that is not a plain identifier, or one twice:
    such names could confuse prompts, policies and rule ids.

    Raises:
        ConfigError: naming the server and the first bad name.
    """
    names = [str(d.get("name")) for d in listed]
    for name in names:
        if not TOOL_NAME.fullmatch(name) or names.count(name) > 1:
            raise ConfigError(
                f"{source}: mcp server {spec.server!r} offers a tool named {name[:80]!r}: "
                "tool names must be unique, 1-128 of A-Z a-z 0-9 _ . -"
            )


def mcp_toolset(options: Mapping[str, Any], source: str) -> list[Tool]:
    """The tools of the MCP server an agent file's ``mcp:`` entry names.

    Tools whose definition the lockfile beside ``source`` does not pin are returned
    refused (never offered, every call denied, the refusal journaled by the run).

    Raises:
        ConfigError: the entry is invalid, or the server cannot be reached or listed.
    """
    agent_file = Path(source)
    spec = load_server(options, agent_file)
    lockfile = Lockfile.read(lock_path(agent_file))
    connection = connection_for(spec)
    listed = connection.list_tools()
    unknown = sorted(set(spec.tools) - {str(d.get("name")) for d in listed})
    if unknown:
        raise ConfigError(
            f"{source}: mcp server {spec.server!r}: contracts for tools it does not offer: "
            f"{', '.join(unknown)}"
        )
    check_names(listed, spec, source)
    check_default_fields(spec, listed, source)
    checks = [lockfile.check(spec.server, d, pin=spec.pin) for d in listed]
    return [mcp_tool(spec, connection, check, lockfile.path) for check in checks]


def mcp_tool(
    spec: McpServerSpec, connection: McpConnection, check: PinCheck, lockfile: Path
) -> Tool:
    """One listed tool as a charter :class:`~charter.tools.Tool`."""
    definition = check.new_definition or {}
    name = check.tool
    schema = definition.get("inputSchema") or {"type": "object"}
    annotations = cast(dict[str, Any], definition.get("annotations") or {})
    contract = effective_contract(spec, name, annotations)
    output_schema = definition.get("outputSchema")
    if isinstance(output_schema, dict) and contract.fields:
        contract = _checked_fields(spec, name, contract, cast(dict[str, Any], output_schema))
    args_model = cast(
        type[McpArgs],
        type(
            f"{spec.server}_{name}_args",
            (McpArgs,),
            {"input_schema": schema, "__module__": __name__},
        ),
    )
    missing = [t for t in contract.targets if t not in (schema.get("properties") or {})]
    if missing:
        raise ConfigError(
            f"mcp server {spec.server!r}: tool {name!r}: targets {missing} are not arguments"
        )
    refusal = None
    if not check.allowed:
        refusal = ToolRefusal(check.rule, check.reason(lockfile), check.record(lockfile))
    writes = contract.side_effect != "read"
    call = McpToolCall(spec, connection, name, writes, check.new_hash, contract.timeout_s)
    return Tool(
        name=name,
        description=str(definition.get("description") or name),
        fn=call,
        args_model=args_model,
        contract=contract,
        refusal=refusal,
        origin={
            "mcp_server": spec.server,
            "sha256": check.new_hash,
            "pin": check.state,
        },
    )


def _checked_fields(
    spec: McpServerSpec, name: str, contract: ToolContract, schema: dict[str, Any]
) -> ToolContract:
    """``contract`` with the output field labels ``schema`` has: a path of the tool's
    own that it lacks is an error; one of the server's defaults is left out."""
    own = (spec.tools.get(name) or ContractSpec()).fields or {}
    kept: list[tuple[str, str]] = []
    for path, label in contract.fields:
        problem = path_problem(schema, path)
        if problem is None:
            kept.append((path, label))
        elif path in own:
            raise ConfigError(
                f"mcp server {spec.server!r}: tool {name!r}: output field {path!r}: {problem}"
            )
    return replace(contract, fields=tuple(kept))


def check_default_fields(spec: McpServerSpec, listed: list[dict[str, Any]], source: str) -> None:
    """Refuse a server ``defaults`` field path that no tool's output can have: every
    tool gives an output schema and none has the path.

    Raises:
        ConfigError: naming the server and the field.
    """
    schemas = [d.get("outputSchema") for d in listed]
    if not schemas or not all(isinstance(s, dict) for s in schemas):
        return
    for path in spec.defaults.fields or {}:
        problems = [path_problem(cast(dict[str, Any], s), path) for s in schemas]
        if all(p is not None for p in problems):
            raise ConfigError(
                f"{source}: mcp server {spec.server!r}: defaults output field {path!r} is in "
                f"no tool's output schema ({problems[0]})"
            )


class McpToolCall:
    """The implementation of an MCP tool: a call on the server's session, synchronous
    (charter's runner, from its threads) or awaited (the gateway, on the session's loop)."""

    def __init__(
        self,
        spec: McpServerSpec,
        connection: McpConnection,
        name: str,
        writes: bool,
        pinned: str,
        timeout_s: float | None,
    ) -> None:
        self.spec = spec
        self.connection = connection
        self.name = name
        self.writes = writes
        """A lost answer leaves a write in doubt (ToolOutcomeUnknownError); a read fails."""
        self.pinned = pinned
        """The definition hash the tool was loaded with: a session listing another is
        never sent the call."""
        self.timeout_s = timeout_s or 300.0

    @property
    def wait_s(self) -> float:
        """How long an answer is waited for: past the runner's timeout, so that a late
        answer is journaled as it is."""
        return max(4 * self.timeout_s, 60.0)

    def __call__(self, **args: Any) -> Any:
        """Call the tool from a thread other than its session's loop."""
        try:
            result = self.connection.call(self.name, args, self.wait_s, self.pinned)
        except (McpCallBroken, FutureTimeout) as exc:
            if not self.writes:
                raise
            raise self._in_doubt(exc) from exc
        return self._outcome(result)

    async def acall(self, args: dict[str, Any]) -> Any:
        """Call the tool, awaited (with no thread hop on its session's loop)."""
        try:
            result = await self.connection.acall(self.name, args, self.wait_s, self.pinned)
        except (McpCallBroken, TimeoutError) as exc:
            if not self.writes:
                raise
            raise self._in_doubt(exc) from exc
        return self._outcome(result)

    def _in_doubt(self, exc: Exception) -> ToolOutcomeUnknownError:
        why = str(exc) or f"no answer from mcp server {self.spec.server!r} to {self.name!r}"
        return ToolOutcomeUnknownError(why)

    def _outcome(self, result: ToolAnswer) -> Any:
        if result.is_error:
            why = redact(result.text[:500], self.spec)
            raise McpToolError(f"mcp server {self.spec.server!r} tool {self.name!r} failed: {why}")
        if result.structured_content is not None:
            return result.structured_content
        return result.text


__all__ = ["McpArgs", "McpToolCall", "McpToolError", "definition_hash", "mcp_tool", "mcp_toolset"]
