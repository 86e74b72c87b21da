"""The charter identity of an SDK agent: its function tools as declared charter tools,
with the contracts the charter names them with."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from agents import Agent as SdkAgent
from agents import FunctionTool, Handoff
from agents.models.interface import Model

from charter.agent import Agent
from charter.errors import ConfigError
from charter.policy import Charter
from charter.testing import ScriptedReasoner
from charter.tools import Inventory, Tool, declared_tool


def agent_graph(agent: SdkAgent[Any]) -> Iterator[SdkAgent[Any]]:
    """``agent`` and every agent reachable through its handoffs, each once."""
    seen: set[int] = set()
    todo: list[SdkAgent[Any]] = [agent]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for handoff in current.handoffs:
            if isinstance(handoff, SdkAgent):
                todo.append(handoff)  # pyright: ignore[reportUnknownArgumentType]


def function_tools(agent: SdkAgent[Any]) -> dict[str, FunctionTool]:
    """The function tools of ``agent`` and of the agents it hands off to, by name.

    Raises:
        ConfigError: a tool charter cannot govern (a hosted tool, an MCP server, a handoff
            built with ``handoff()`` whose agent is unknown until it runs, an agent offered
            as a tool whose own tools would run inside it).
    """
    tools: dict[str, FunctionTool] = {}
    for current in agent_graph(agent):
        if current.mcp_servers:
            raise ConfigError(
                f"agent {current.name!r}: MCP servers' tools are listed only when the agent "
                "runs; govern them with charter's MCP toolsets, or wrap them as function tools"
            )
        for handoff in current.handoffs:
            if isinstance(handoff, Handoff):
                raise ConfigError(
                    f"agent {current.name!r}: handoff {handoff.tool_name!r} is built with "
                    "handoff(); list the agent itself in handoffs= so its tools are governed"
                )
        for tool in current.tools:
            if not isinstance(tool, FunctionTool):
                raise ConfigError(
                    f"agent {current.name!r}: tool {getattr(tool, 'name', tool)!r} "
                    f"({type(tool).__name__}) runs outside the agent's process and cannot be "
                    "governed; offer it as a function tool"
                )
            inner = getattr(tool, "_agent_instance", None)  # an agent offered as a tool
            if isinstance(inner, SdkAgent) and any(
                a.tools or a.mcp_servers
                for a in agent_graph(inner)  # pyright: ignore[reportUnknownArgumentType]
            ):
                raise ConfigError(
                    f"agent {current.name!r}: tool {tool.name!r} runs agent "
                    f"{inner.name!r}, whose own tools would run ungoverned; govern that "
                    "agent and offer it as a function tool, or as a handoff"
                )
            tools.setdefault(tool.name, tool)
    return tools


def answer_models(agent: SdkAgent[Any], charter: Charter) -> bool:
    """Whether ``charter`` governs the final answers of ``agent`` as the model gives them
    (``flows.answer: ask``, ``redact`` or ``deny``), which needs each agent's model as a
    :class:`~agents.models.interface.Model` the governed agent can hold.

    Raises:
        ConfigError: an agent names its model (or leaves it to the run's provider).
    """
    if charter.flows.answer not in ("ask", "redact", "deny"):
        return False
    for current in agent_graph(agent):
        if not isinstance(current.model, Model):
            raise ConfigError(
                f"agent {current.name!r}: the charter governs final answers "
                f"(flows.answer: {charter.flows.answer}), which charter checks as the model "
                f"gives them; give the agent its model as a Model, e.g. "
                f"model=MultiProvider().get_model({current.model!r}), not a name"
            )
    return True


def charter_agent(
    agent: SdkAgent[Any],
    charter: Charter,
    *,
    name: str | None = None,
    compensate: Mapping[str, Callable[..., Any]] | None = None,
) -> Agent:
    """The charter agent whose identity and charter govern ``agent``'s calls: one
    declared tool per function tool the charter's ``contracts:`` names (its schema the
    SDK's, its contract the charter's); the tools it does not name are left out, so
    their calls are denied.

    Args:
        agent: the SDK agent (its handoff agents' tools count too).
        charter: the policy, naming the tools under ``contracts:``.
        name: the agent identity runs are journaled under (kill switch, rate limits);
            default: the SDK agent's name.
        compensate: callables undoing a completed call of a tool, by tool name (called
            with ``result=`` and the call's arguments), for rollback.

    Raises:
        ConfigError: a contract or compensation names a tool the agent does not have, or
            the agent has a tool charter cannot govern.
    """
    offered = function_tools(agent)
    undo = charter.compensation_callables() | dict(compensate or {})
    for tool_name in sorted(set(undo) - set(charter.contracts)):
        raise ConfigError(
            f"compensate: {tool_name!r} is not a tool the charter names under contracts "
            f"(named: {', '.join(sorted(charter.contracts)) or 'none'})"
        )
    declared: list[Tool] = []
    for tool_name in charter.contracts:
        tool = offered.get(tool_name)
        if tool is None:
            raise ConfigError(
                f"{charter.name}: field contracts.{tool_name}: agent {agent.name!r} has no "
                f"function tool {tool_name!r} (its tools: {', '.join(sorted(offered)) or 'none'})"
            )
        declared.append(
            declared_tool(
                tool_name,
                description=tool.description,
                args_schema=tool.params_json_schema,
                compensate=undo.get(tool_name),
            )
        )
    instructions = agent.instructions if isinstance(agent.instructions, str) else ""
    return Agent(
        name=name or agent.name,
        instructions=instructions,
        inventory=Inventory(declared),
        reasoner=ScriptedReasoner([]),  # the SDK's model proposes; charter only governs
        charter=charter,
    )
