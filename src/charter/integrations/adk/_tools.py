"""An ADK agent's tools as charter tools: named and contracted by the charter, run by ADK."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

from google.adk.agents import LlmAgent
from google.adk.tools.base_tool import BaseTool
from google.adk.tools.base_toolset import BaseToolset
from google.adk.tools.function_tool import FunctionTool

from charter.agent import Agent
from charter.errors import ConfigError
from charter.policy import Charter, load_charter
from charter.testing import ScriptedReasoner
from charter.tools import Inventory, Tool, declared_tool


def adk_tools(adk_agent: LlmAgent) -> list[BaseTool]:
    """The tools ``adk_agent`` and its sub-agents list (plain functions wrapped as ADK
    does), then those their toolsets (``BaseToolset``: a set of function tools, an
    ``McpToolset``) offer, named as ADK names them (prefix and filter applied), the first
    of a name kept.

    A toolset is asked for its tools once, here, without an invocation's context, on a
    loop of its own, and closed on it (an MCP toolset connects again when the agent
    runs): a tool it offers only in some invocation's context is not listed, so charter
    denies it as unknown.

    Raises:
        ConfigError: a toolset failed to list its tools.
    """
    found: dict[str, BaseTool] = {}
    toolsets: list[BaseToolset] = []
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
            elif isinstance(item, BaseToolset):
                toolsets.append(item)
            elif callable(item):
                tool = FunctionTool(cast(Callable[..., Any], item))
                found.setdefault(tool.name, tool)
    for tool in _offered(toolsets):
        found.setdefault(tool.name, tool)
    return list(found.values())


def _offered(toolsets: list[BaseToolset]) -> list[BaseTool]:
    """The tools ``toolsets`` offer, listed on a loop of their own (a caller's running
    loop is not blocked into a deadlock: the listing runs on a worker thread)."""
    if not toolsets:
        return []

    async def listing() -> list[BaseTool]:
        tools: list[BaseTool] = []
        for toolset in toolsets:
            try:
                tools += await toolset.get_tools_with_prefix(None)
            except Exception as exc:
                raise ConfigError(
                    f"ADK toolset {type(toolset).__name__} could not list its tools: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            finally:
                await toolset.close()  # its connections belong to this loop: close them
        return tools

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="charter-adk") as pool:
        return pool.submit(asyncio.run, listing()).result()


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
    undo = built.compensation_callables() | dict(compensate or {})
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
    instruction = getattr(adk_agent, "instruction", "")  # a workflow agent has none
    return Agent(
        name=name or adk_agent.name,
        instructions=instruction if isinstance(instruction, str) else "",
        inventory=Inventory(tools),
        reasoner=ScriptedReasoner([]),  # ADK's model reasons; charter only governs
        charter=built,
        version=version,
    )
