"""The MCP gateway and ``flows.answer: ask``: a gateway session has no final answer (the
client's model answers its user outside charter; each ``tools/call`` is decided on its
own), so a session that read untrusted text carrying an address still ends completed,
with no answer held for approval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_client import cli, gateway, payloads, run_of, session

pytestmark = pytest.mark.usefixtures("charter_env")


def test_a_session_that_read_an_untrusted_address_ends_without_holding_an_answer(
    write_agent: Any, outbox: Path
) -> None:
    charter = {"name": "mail-charter", "flows": {"answer": "ask"}}
    agent_file = write_agent(charter=charter, trust="untrusted")
    locked = cli("mcp", "lock", str(agent_file), "--as", "ops")
    assert locked.returncode == 0, locked.stdout + locked.stderr

    async def client() -> Any:
        async with session(gateway(agent_file, "--as", "alice")) as mcp:
            return await mcp.call_tool("fetch_page", {"url": "https://shop.example/help"})

    fetched = anyio.run(client)
    assert not fetched.is_error
    run_id = run_of(fetched)
    assert payloads("approval.requested", run_id) == []
    (finished,) = payloads("run.finished", run_id)
    assert finished["status"] == "completed"
    assert "evil.example" not in str(finished["answer"])
