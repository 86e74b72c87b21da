"""The gateway's calls on its own event loop: the upstream MCP sessions move onto the
serving loop for as long as it serves, and with a journal in memory charter's work on a
call runs there too (the gateway served in process, over the SDK's in-memory transport,
in front of the real stdio test server)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from charter.agent import Agent, load_agent
from charter.integrations.mcp._connection import McpConnection, sessions_on_this_loop
from charter.integrations.mcp._gateway import Caller, Gateway
from charter.integrations.mcp._toolset import McpToolCall
from charter.journal import Journal
from charter.tools import ToolOutcomeUnknownError
from mcp_client import cli, text

pytestmark = pytest.mark.usefixtures("charter_env")


def loaded(write_agent: Any, **entry: Any) -> Agent:
    agent_file = write_agent(**entry)
    done = cli("mcp", "lock", str(agent_file), "--as", "ops")
    assert done.returncode == 0, done.stdout + done.stderr
    return load_agent(agent_file)


def mcp_call(agent: Agent, tool: str) -> McpToolCall:
    fn = agent.inventory.get(tool).fn
    assert isinstance(fn, McpToolCall)
    return fn


def test_a_gateway_with_its_journal_in_memory_calls_upstream_from_its_own_loop(
    write_agent: Any, outbox: Path
) -> None:
    agent = loaded(write_agent, trust="trusted")
    connection = mcp_call(agent, "send_email").connection
    journal = Journal("sqlite://")
    served = Gateway(journal, agent, caller=Caller("alice"))
    assert served.inline
    seen: dict[str, Any] = {}

    async def client() -> Any:
        async with Client(served.server(), mode="legacy", cache=None) as mcp:
            sent = await mcp.call_tool("send_email", {"to": "ada@example.com", "body": "Hi."})
            seen["home"] = connection.loop is asyncio.get_running_loop()
            return sent

    sent = anyio.run(client)
    assert not sent.is_error, text(sent)
    assert seen["home"]  # the session lived on the serving loop while it served
    assert outbox.read_text() == "ada@example.com\tHi.\n"
    assert sent.meta is not None, "the gateway names the run in the result's _meta"
    run_id = str(sent.meta["io.charter/run_id"])
    kinds = [r.kind for r in journal.records(run_id)]
    assert kinds.count("step.decided") == 1 and kinds.count("step.effect") == 1
    assert kinds[-1] == "run.finished" and journal.verify().ok
    # Serving ended: the session went back to the process's loop, and the runner's
    # synchronous path (from this thread) opens it again there.
    assert not connection.loop.is_closed()
    assert "send_email" in {str(d["name"]) for d in connection.list_tools()}


def test_a_synchronous_call_from_the_sessions_own_loop_is_refused_not_hung(
    write_agent: Any,
) -> None:
    connection: McpConnection = mcp_call(loaded(write_agent), "lookup_customer").connection

    async def on_the_loop() -> None:
        async with sessions_on_this_loop():
            assert connection.loop is asyncio.get_running_loop()
            with pytest.raises(RuntimeError, match="await the async form"):
                connection.list_tools()
            listed = await connection.alist_tools()  # the async form works there
            assert "lookup_customer" in {str(d["name"]) for d in listed}

    anyio.run(on_the_loop)


def test_a_late_answer_on_the_loop_leaves_a_write_in_doubt_and_fails_a_read(
    write_agent: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = loaded(write_agent, tools={"slow": {"side_effect": "write"}})
    write = mcp_call(agent, "slow")
    read = mcp_call(loaded(write_agent, name="read.agent.yaml"), "slow")
    monkeypatch.setattr(McpToolCall, "wait_s", 0.5)

    async def on_the_loop() -> None:
        async with sessions_on_this_loop():
            with pytest.raises(ToolOutcomeUnknownError):
                await write.acall({"seconds": 5})
            with pytest.raises(TimeoutError):
                await read.acall({"seconds": 5})
            monkeypatch.undo()
            assert await read.acall({"seconds": 0}) is not None  # the session goes on

    anyio.run(on_the_loop)


def test_serving_cancelled_mid_session_gives_the_sessions_back(write_agent: Any) -> None:
    connection = mcp_call(loaded(write_agent), "lookup_customer").connection

    async def serve_then_cancel() -> asyncio.AbstractEventLoop:
        with anyio.CancelScope() as scope:
            async with sessions_on_this_loop():
                await connection.alist_tools()  # a session opened on this loop
                scope.cancel()
                await anyio.sleep(30)
        return asyncio.get_running_loop()

    serving = anyio.run(serve_then_cancel)
    assert connection.loop is not serving and serving.is_closed()
    assert "lookup_customer" in {str(d["name"]) for d in connection.list_tools()}
