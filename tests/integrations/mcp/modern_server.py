"""An MCP server that speaks only the 2026-07-28 protocol era, written with the SDK: its
low-level ``Server``, served on stdio by the SDK's per-request path
(:func:`mcp.server.runner.modern_on_request`), with the ``initialize`` handshake refused as
a 2026-era connection refuses it. One tool, ``echo``, answers its arguments back. Every
request received is appended to ``$MODERN_LOG`` as a JSON line (method and params).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.runner import modern_on_request
from mcp.server.stdio import stdio_server
from mcp.shared.dispatcher import DispatchContext
from mcp.shared.exceptions import MCPError
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp.shared.transport_context import TransportContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

UNSUPPORTED_PROTOCOL_VERSION = -32022
LOG = os.environ.get("MODERN_LOG", "")
TOOL = types.Tool(name="echo", description="Echo.", input_schema={"type": "object"})


async def list_tools(
    ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    return types.ListToolsResult(tools=[TOOL])


async def call_tool(
    ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
) -> types.CallToolResult:
    args = dict(params.arguments or {})
    return types.CallToolResult(
        content=[types.TextContent(text=json.dumps(args))], structured_content=args
    )


server: Server[Any] = Server("modern-only", on_list_tools=list_tools, on_call_tool=call_tool)


async def main() -> None:
    async with server.lifespan(server) as state, stdio_server() as (read, write):
        handle = modern_on_request(server, state)

        async def on_request(
            dctx: DispatchContext[TransportContext], method: str, params: Mapping[str, Any] | None
        ) -> dict[str, Any]:
            if LOG:
                with open(LOG, "a", encoding="utf-8") as file:
                    file.write(json.dumps({"method": method, "params": params}) + "\n")
            if method == "initialize":
                raise MCPError(
                    code=UNSUPPORTED_PROTOCOL_VERSION,
                    message="this server speaks the 2026-07-28 protocol only",
                    data={"supported": list(MODERN_PROTOCOL_VERSIONS), "requested": "?"},
                )
            return await handle(dctx, method, params)

        async def on_notify(
            dctx: DispatchContext[TransportContext], method: str, params: Mapping[str, Any] | None
        ) -> None:
            return None

        await JSONRPCDispatcher(read, write).run(on_request, on_notify)


if __name__ == "__main__":
    anyio.run(main)
