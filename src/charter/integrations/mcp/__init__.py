"""MCP servers as governed toolsets (``pip install 'charter[mcp]'``).

An agent file names a server under ``toolsets: - mcp: {...}`` (see :mod:`._spec`); its
tools become charter tools whose contracts the agent file sets, whose arguments are
checked against the server's input schema, and whose definitions must match the
lockfile beside the agent file (``charter mcp lock``, ``diff``, ``approve``). Tools that do
not are refused: never offered, every call denied (``mcp.unpinned``, ``mcp.changed``).

``charter mcp serve`` is the other direction: it serves an agent's governed tools to MCP
clients (see :mod:`._gateway`, and :mod:`._gateway_http` for the HTTP transport).

The pieces stand alone for other callers: :class:`Lockfile` and :func:`definition_hash`
(what was approved),
:func:`effective_contract` (the fail-closed contract of a server's tool),
:func:`mcp_tool` (a listed tool as a charter tool, with its refusal if any) and
:func:`poison_flags` (descriptions that read as orders to a model).
"""

from __future__ import annotations

import importlib

try:
    importlib.import_module("mcp")
except ImportError as exc:
    raise ImportError("MCP toolsets need the mcp extra: pip install 'charter[mcp]'") from exc

from charter.integrations.mcp._connection import (
    McpCallBroken,
    McpConnectError,
    McpConnection,
    McpDefinitionChanged,
    close_all,
    connection_for,
)
from charter.integrations.mcp._lockfile import (
    CHANGED_RULE,
    UNPINNED_RULE,
    Lockfile,
    PinCheck,
    definition_hash,
    lock_path,
)
from charter.integrations.mcp._poison import poison_flags
from charter.integrations.mcp._spec import McpServerSpec, effective_contract, load_server
from charter.integrations.mcp._toolset import McpToolError, check_names, mcp_tool, mcp_toolset

__all__ = [
    "CHANGED_RULE",
    "UNPINNED_RULE",
    "Lockfile",
    "McpCallBroken",
    "McpConnectError",
    "McpConnection",
    "McpDefinitionChanged",
    "McpServerSpec",
    "McpToolError",
    "PinCheck",
    "check_names",
    "close_all",
    "connection_for",
    "definition_hash",
    "effective_contract",
    "load_server",
    "lock_path",
    "mcp_tool",
    "mcp_toolset",
    "poison_flags",
]
