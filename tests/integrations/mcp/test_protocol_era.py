"""The protocol era a stdio server is spoken to in: the handshake era where the server
offers it (calls then go around the SDK's session), and the 2026-07-28 era, negotiated as
the SDK's client negotiates it, with a server that refuses the handshake."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mcp.shared.exceptions import MCPError

from charter.integrations.mcp import McpConnection, McpServerSpec
from charter.integrations.mcp._connection import _refused_handshake  # pyright: ignore[reportPrivateUsage]

HERE = Path(__file__).parent


def spec(script: str, **env: str) -> McpServerSpec:
    return McpServerSpec.model_validate(
        {
            "server": "s",
            "command": sys.executable,
            "args": [str(HERE / script)],
            "env": env,
            "connect_timeout_s": 60,
        }
    )


def logged(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_server_of_the_2026_era_only_is_negotiated_with_as_the_sdk_does(tmp_path: Path) -> None:
    log = tmp_path / "modern.jsonl"
    connection = McpConnection(spec("modern_server.py", MODERN_LOG=str(log)))
    try:
        assert [d["name"] for d in connection.list_tools()] == ["echo"]
        pinned = connection.listed_hash("echo")
        assert pinned is not None
        answer = connection.call("echo", {"n": 1}, 30, pinned)
    finally:
        connection.close()
    assert answer.structured_content == {"n": 1} and not answer.is_error
    methods = [m["method"] for m in logged(log)]
    # The handshake is refused; a second process is asked server/discover, then served.
    assert methods == ["initialize", "server/discover", "tools/list", "tools/call"]
    (call,) = [m for m in logged(log) if m["method"] == "tools/call"]
    assert call["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] == "2026-07-28"


def test_a_server_offering_the_handshake_is_called_around_the_sdks_session(
    tmp_path: Path,
) -> None:
    log = tmp_path / "raw.jsonl"
    connection = McpConnection(spec("raw_server.py", RAW_LOG=str(log)))
    try:
        connection.list_tools()
        pinned = connection.listed_hash("echo") or ""
        answer = connection.call("echo", {"n": 2}, 30, pinned)
    finally:
        connection.close()
    assert answer.structured_content == {"n": 2}
    calls = [m for m in logged(log) if m.get("method") == "tools/call"]
    assert [str(c["id"]).startswith("charter-") for c in calls] == [True]
    assert logged(log)[0]["method"] == "initialize"  # no server/discover: the handshake


def test_only_a_refused_handshake_starts_the_server_again() -> None:
    refused = MCPError(code=-32022, message="2026-07-28 only")
    assert _refused_handshake(refused)
    assert _refused_handshake(ExceptionGroup("tg", [ValueError("x"), refused]))
    assert not _refused_handshake(MCPError(code=-32601, message="no such method"))
    assert not _refused_handshake(ConnectionError("gone"))
