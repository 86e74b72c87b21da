"""charter's stdio client transport: the SDK's session speaks with the server, calls go
around it, and whatever the server does (asks, announces, errs, exits, floods, or goes
silent), a call ends with an answer or an error, never a hang."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from charter.integrations.mcp._stdio_client import ServerGone, StdioServer

RAW = Path(__file__).with_name("raw_server.py")


def server(tmp_path: Path, mode: str = "", limit: int = 1 << 20) -> StdioServer:
    env = {"RAW_MODE": mode, "RAW_LOG": str(tmp_path / "received.jsonl")}
    params = StdioServerParameters(command=sys.executable, args=[str(RAW)], env=env)
    return StdioServer(params, sys.stderr, limit=limit)


def received(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "received.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


async def call(stdio: StdioServer, timeout: float = 30) -> Any:
    """The call's result, or the exception it raised (returned, out of the session's
    task group)."""
    outcome: Any = None
    try:
        async with Client(stdio.streams(), cache=None, mode="legacy") as client:
            stdio.protocol_version = client.protocol_version
            assert stdio.fast
            assert [t.name for t in (await client.list_tools()).tools] == ["echo"]
            try:
                with anyio.fail_after(timeout):
                    outcome = await stdio.call_tool("echo", {"n": 1})
            except Exception as exc:
                outcome = exc
    except Exception:  # the SDK's session, closing on a server that exited
        if outcome is None:
            raise
    return outcome


def test_a_call_is_answered_around_the_session_which_answers_the_servers_ping(
    tmp_path: Path,
) -> None:
    result = anyio.run(call, server(tmp_path))
    assert result.structured_content == {"n": 1} and not result.is_error
    sent = received(tmp_path)
    (made,) = [m for m in sent if m.get("method") == "tools/call"]
    assert isinstance(made["id"], str) and made["id"].startswith("charter-")
    assert {"jsonrpc": "2.0", "id": "srv-1", "result": {}} in sent  # the SDK's pong


def test_an_answer_written_just_before_the_server_exits_is_read(tmp_path: Path) -> None:
    for _ in range(3):
        result = anyio.run(call, server(tmp_path, "last"))
        assert not isinstance(result, Exception), result
        assert result.structured_content == {"n": 1}


def test_a_server_error_answer_raises_it(tmp_path: Path) -> None:
    failed = anyio.run(call, server(tmp_path, "error"))
    assert isinstance(failed, MCPError) and "no such tool" in str(failed)


def test_a_server_that_exits_mid_call_fails_the_call_at_once(tmp_path: Path) -> None:
    assert isinstance(anyio.run(call, server(tmp_path, "exit")), ServerGone)


def test_an_answer_over_the_limit_fails_the_call_at_once(tmp_path: Path) -> None:
    failed = anyio.run(call, server(tmp_path, "huge", limit=1024))
    assert isinstance(failed, ServerGone) and "over 1024 bytes" in str(failed)


def test_a_call_given_up_is_cancelled_on_the_server(tmp_path: Path) -> None:
    assert isinstance(anyio.run(call, server(tmp_path, "silent"), 0.5), TimeoutError)
    sent = received(tmp_path)
    (made,) = [m for m in sent if m.get("method") == "tools/call"]
    cancels = [m for m in sent if m.get("method") == "notifications/cancelled"]
    assert [c["params"]["requestId"] for c in cancels] == [made["id"]]


def test_the_server_is_stopped_with_the_session(tmp_path: Path) -> None:
    stdio = server(tmp_path)
    anyio.run(call, stdio)
    transport = stdio._transport  # pyright: ignore[reportPrivateUsage]
    assert transport is not None and transport.get_returncode() is not None
    with pytest.raises(OSError):
        os.kill(transport.get_pid(), 0)
