"""An ADK agent's tools as charter tools: named and contracted by the charter, run by ADK."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from google.adk.agents import LlmAgent
from google.adk.tools.base_tool import BaseTool
from google.adk.tools.function_tool import FunctionTool

from charter.agent import Agent
from charter.errors import ConfigError
from charter.policy import Charter, load_charter
from charter.testing import ScriptedReasoner
from charter.tools import Inventory, Tool, declared_tool


def adk_tools(adk_agent: LlmAgent) -> list[BaseTool]:
    """The tools ``adk_agent`` and its sub-agents list themselves (plain functions wrapped
    as ADK does), the first of a name kept.

    Toolsets resolve their tools per invocation, so they are not listed here: a call of
    one of their tools is unknown to charter, hence denied, unless the charter's agent is
    built with that tool's declaration some other way.
    """
    found: dict[str, BaseTool] = {}
    agents: list[Any] = [adk_agent]
    while agents:
        agent = agents.pop(0)
        agents.extend(cast(list[Any], getattr(agent, "sub_agents", None) or []))
        if not isinstance(agent, LlmAgent):
            continue
        listed = cast(list[Any], agent.tools)  # pyright: ignore[reportUnknownMemberType]
        for item in listed:
            if isinstance(item, BaseTool):
                found.setdefault(item.name, item)
            elif callable(item):
                tool = FunctionTool(cast(Callable[..., Any], item))
                found.setdefault(tool.name, tool)
    return list(found.values())


def args_schema(tool: BaseTool) -> dict[str, Any] | None:
    """The JSON schema of ``tool``'s arguments, as ADK declares them to the model."""
    # ADK's own hook for a tool's declaration (BaseTool subclasses override it).
    declaration = tool._get_declaration()  # pyright: ignore[reportPrivateUsage]
    if declaration is None:
        return None
    schema: Any = declaration.parameters_json_schema
    if isinstance(schema, dict):
        return cast(dict[str, Any], schema)
    if declaration.parameters is not None:
        return _lower_types(declaration.parameters.model_dump(mode="json", exclude_none=True))
    return {"type": "object", "properties": {}}


def _lower_types(value: Any) -> Any:
    """A Gemini ``Schema`` dump as JSON schema: its type names are upper case."""
    if isinstance(value, dict):
        items = cast(dict[str, Any], value).items()
        return {
            k: (v.lower() if k == "type" and isinstance(v, str) else _lower_types(v))
            for k, v in items
        }
    if isinstance(value, list):
        return [_lower_types(v) for v in cast(list[Any], value)]
    return value


def charter_agent(
    adk_agent: LlmAgent,
    charter: Charter | str | Path,
    *,
    name: str | None = None,
    compensate: Mapping[str, Callable[..., Any]] | None = None,
    version: str = "1",
) -> Agent:
    """The charter agent governing ``adk_agent``: its identity (``name``, default the ADK
    agent's), its charter (a :class:`Charter` or a charter YAML file) and, as tools, the
    ADK tools (its own and its sub-agents') the charter's ``contracts:`` names, each
    with its ADK argument schema.

    A tool the charter does not name is not charter's: every call of it is denied.
    ``compensate`` maps a tool name to the callable that undoes a completed call
    (called with ``result=`` and its arguments), for rollback.

    Raises:
        ConfigError: the charter names a tool the ADK agent does not have, or
            ``compensate`` names a tool the charter does not.
    """
    built = charter if isinstance(charter, Charter) else load_charter(charter)
    undo = dict(compensate or {})
    named = [t for t in adk_tools(adk_agent) if t.name in built.contracts]
    tools: list[Tool] = [
        declared_tool(
            t.name,
            description=t.description or t.name,
            args_schema=args_schema(t),
            compensate=undo.pop(t.name, None),
        )
        for t in named
    ]
    if undo:
        raise ConfigError(
            f"compensate: {', '.join(sorted(undo))} not among the tools the charter "
            f"{built.name!r} names ({', '.join(t.name for t in tools) or 'none'})"
        )
    instruction = adk_agent.instruction
    return Agent(
        name=name or adk_agent.name,
        instructions=instruction if isinstance(instruction, str) else "",
        inventory=Inventory(tools),
        reasoner=ScriptedReasoner([]),  # ADK's model reasons; charter only governs
        charter=built,
        version=version,
    )
