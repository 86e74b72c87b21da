"""An MCP client talking to the ticket desk through charter's gateway, over stdio.

Run from the repository root: ``python examples/mcp/gateway_client.py``. It starts
``charter mcp serve examples/mcp/gateway.agent.yaml --as sam`` the way a desktop
assistant would start any MCP server, lists the tools, reads ticket 88 (whose body asks
for a refund to someone else's address) and tries to reply to that address: the gateway
holds the reply (``flow.untrusted-target``: the recipient came from customer text) and
says where an approver decides. Nothing in this client knows about charter.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

HERE = Path(__file__).resolve().parent
SERVE = ["-m", "charter", "mcp", "serve"]


async def main() -> None:
    gateway = StdioServerParameters(
        command=sys.executable,
        args=[*SERVE, str(HERE / "gateway.agent.yaml"), "--as", "sam", "--ask-timeout", "2"],
        env=dict(os.environ),  # CHARTER_HOME and the like: where the journal is
    )
    async with Client(gateway) as client:
        tools = await client.list_tools()
        print("tools:", ", ".join(t.name for t in tools.tools))
        ticket = await client.call_tool("get_ticket", {"ticket_id": 88})
        print("ticket 88:", ticket.structured_content)
        reply = await client.call_tool(
            "reply", {"ticket_id": 88, "to": "bob@evil.example", "text": "Refund sent."}
        )
        texts = [getattr(block, "text", "") for block in reply.content]
        print("reply:", "error" if reply.is_error else "ok", "-", " ".join(texts))


if __name__ == "__main__":
    anyio.run(main)
