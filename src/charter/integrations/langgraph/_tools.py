"""LangChain tools as the charter agent that governs them: each tool the charter's
``contracts:`` names becomes a declared tool (its name, its argument schema, that
contract); a tool the charter does not name is left out, so every call of it is denied."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, cast

from langchain_core.tools import BaseTool

from charter.agent import Agent
from charter.errors import ConfigError, ReasonerUnavailableError
from charter.policy import Charter, load_charter
from charter.reasoners._base import RunContext
from charter.tools import Inventory, Tool, declared_tool

LANGGRAPH_VERSION = importlib.metadata.version("langgraph")


class LangGraphReasoner:
    """Stands for the LangGraph graph that proposes the calls (charter never asks it)."""

    kind = "langgraph"

    def propose(self, context: RunContext) -> NoReturn:
        """Refuse: the graph's model decides, charter only governs its tool calls."""
        raise ReasonerUnavailableError(
            f"run {context.run_id} is driven by a LangGraph graph; resume it through the graph"
        )

    def describe(self) -> dict[str, Any]:
        """The framework and the version the calls came from."""
        return {"kind": self.kind, "langgraph": LANGGRAPH_VERSION}


def args_schema(tool: BaseTool) -> dict[str, Any]:
    """The JSON schema of the arguments the model gives ``tool`` (injected ones left out)."""
    schema: Any = tool.tool_call_schema
    if isinstance(schema, dict):
        return dict(cast(dict[str, Any], schema))
    return cast(dict[str, Any], schema.model_json_schema())


def declared(tool: BaseTool, compensate: Callable[..., Any] | None) -> Tool:
    """``tool`` as a charter tool charter governs but does not run (default contract:
    the charter's ``contracts:`` entry replaces it)."""
    return declared_tool(
        tool.name,
        description=tool.description[:500],
        args_schema=args_schema(tool),
        compensate=compensate,
    )


def build_agent(
    tools: Sequence[BaseTool],
    charter: Charter | str | Path,
    *,
    name: str,
    instructions: str = "",
    compensate: Mapping[str, Callable[..., Any]] | None = None,
) -> Agent:
    """The charter agent governing ``tools``: only the tools the charter's ``contracts:``
    names are known to it.

    Raises:
        ConfigError: the charter names a tool not given, or a compensation for a tool it
            does not name.
    """
    built = charter if isinstance(charter, Charter) else load_charter(charter)
    given = {t.name: t for t in tools}
    compensate = built.compensation_callables() | dict(compensate or {})
    undone = sorted(set(compensate or {}) - set(built.contracts))
    if undone:
        raise ConfigError(
            f"charter {built.name!r}: compensation given for {', '.join(undone)}, "
            "which its contracts: do not name"
        )
    missing = sorted(set(built.contracts) - set(given))
    if missing:
        raise ConfigError(
            f"charter {built.name!r}: field contracts names {', '.join(missing)}, not among "
            f"the graph's tools ({', '.join(sorted(given)) or 'none'})"
        )
    named = [declared(given[n], (compensate or {}).get(n)) for n in built.contracts]
    inventory = Inventory(named)
    built.check_tools(inventory.names(), f"charter {built.name!r}")
    built.check_against(inventory, f"charter {built.name!r}")
    return Agent(
        name=name,
        instructions=instructions,
        inventory=inventory,
        reasoner=LangGraphReasoner(),
        charter=built,
    )
