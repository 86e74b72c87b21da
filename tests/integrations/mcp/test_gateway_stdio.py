"""``charter mcp serve`` on stdio, spoken to line by line: what the gateway's own transport
answers (``tools/call``, ``tools/list``) and what it hands the SDK, for well-formed and
hostile input alike. Every request is answered once; nothing malformed runs a tool."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcp_client import payloads

pytestmark = pytest.mark.usefixtures("charter_env")

INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


class Raw:
    """A gateway process and its pipes: lines in, messages out."""

    def __init__(self, agent_file: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "charter", "mcp", "serve", str(agent_file), "--as", "raw"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ),
        )
        self.out: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.out.put(json.loads(line))

    def send(self, message: dict[str, Any] | bytes) -> None:
        assert self.proc.stdin is not None
        data = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def next(self, timeout: float = 60) -> dict[str, Any]:
        return self.out.get(timeout=timeout)

    def request(self, rid: Any, method: str, params: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            body["params"] = params
        self.send(body)

    def initialized(self) -> Raw:
        self.send(INIT)
        answer = self.next()
        assert answer["id"] == 0 and "result" in answer, answer
        self.send(INITIALIZED)
        return self

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def raw(write_agent: Any) -> Iterator[Raw]:
    agent_file = write_agent(pin=False, trust="trusted")
    session = Raw(agent_file)
    yield session
    session.close()


def call(name: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "arguments": args}


def test_calls_and_listing_are_answered_with_their_ids(raw: Raw) -> None:
    raw.initialized()
    raw.request("list-1", "tools/list")
    listed = raw.next()
    assert listed["id"] == "list-1"
    assert {t["name"] for t in listed["result"]["tools"]} >= {"lookup_customer", "send_email"}
    raw.request(7, "tools/call", call("lookup_customer", customer_id=7))
    answer = raw.next()
    assert answer["id"] == 7 and answer["result"]["isError"] is False
    assert answer["result"]["structuredContent"]["name"] == "Ada"
    assert answer["result"]["_meta"]["io.charter/verdict"] == "allow"
    raw.request(8, "ping")
    assert raw.next() == {"jsonrpc": "2.0", "id": 8, "result": {}}


def test_a_line_that_is_not_json_is_a_parse_error_and_the_session_goes_on(raw: Raw) -> None:
    raw.initialized()
    raw.send(b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {\n')
    answer = raw.next()
    assert answer["id"] is None and answer["error"]["code"] == -32700
    raw.request(2, "tools/call", call("lookup_customer", customer_id=1))
    assert raw.next()["id"] == 2


def test_a_line_too_long_is_refused_whole_and_the_session_goes_on(raw: Raw, outbox: Path) -> None:
    raw.initialized()
    huge: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
    huge["params"] = call("send_email", to="ada@example.com", body="x" * (17 * 1024 * 1024))
    raw.send(huge)
    answer = raw.next()
    assert answer["id"] is None and answer["error"]["code"] == -32600
    assert "too large" in answer["error"]["message"]
    raw.request(2, "ping")
    assert raw.next()["id"] == 2
    assert not outbox.exists()  # the call in the dropped line never ran


def test_a_request_whose_id_is_neither_integer_nor_string_is_refused_unrun(
    raw: Raw, outbox: Path
) -> None:
    raw.initialized()
    for bad in (1.5, True, {"n": 1}, [1]):
        raw.request(bad, "tools/call", call("send_email", to="ada@example.com", body="hi"))
        answer = raw.next()
        assert answer["id"] is None and answer["error"]["code"] == -32600, answer
    raw.request(9, "ping")
    assert raw.next()["id"] == 9
    assert not outbox.exists()
    assert payloads("step.decided") == []


def test_a_call_without_id_is_a_notification_never_run_nor_answered(raw: Raw, outbox: Path) -> None:
    raw.initialized()
    raw.send(
        {
            "jsonrpc": "2.0",
            "method": "tools/call",
            "params": call("send_email", to="a@b.c", body="x"),
        }
    )
    raw.request(3, "ping")
    assert raw.next()["id"] == 3  # the first thing back: the notification got no answer
    assert not outbox.exists()


def test_a_call_before_initialize_is_refused_by_the_sdk(raw: Raw, outbox: Path) -> None:
    raw.request(1, "tools/call", call("send_email", to="ada@example.com", body="early"))
    answer = raw.next()
    assert answer["id"] == 1 and answer["error"]["code"] == -32602
    assert not outbox.exists()


def test_malformed_requests_get_the_sdk_errors(raw: Raw) -> None:
    raw.initialized()
    raw.request(1, "no/such/method")
    assert raw.next()["error"]["code"] == -32601
    raw.request(2, "tools/call", {"arguments": {}})  # no tool name
    assert raw.next() == {
        "jsonrpc": "2.0",
        "id": 2,
        "error": {"code": -32602, "message": "Invalid request parameters", "data": ""},
    }
    raw.request(3, "tools/call", {"name": "lookup_customer", "arguments": [1]})
    assert raw.next()["error"]["code"] == -32602
    raw.send(b'[{"jsonrpc": "2.0", "id": 4, "method": "ping"}]\n')
    assert raw.next()["error"]["code"] == -32600  # batches: not in MCP
    raw.request(5, "tools/call", call("no_such_tool"))
    answer = raw.next()  # a tool error, as for any call charter does not run
    assert answer["id"] == 5 and answer["result"]["isError"] is True


def test_a_cancelled_call_is_never_answered(raw: Raw) -> None:
    raw.initialized()
    raw.request(5, "tools/call", call("slow", seconds=1.5))
    raw.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}})
    raw.request(6, "ping")
    assert raw.next()["id"] == 6
    raw.request(7, "tools/call", call("lookup_customer", customer_id=7))
    assert raw.next()["id"] == 7  # after the cancelled call settled; never its answer
    raw.request(8, "ping")
    assert raw.next()["id"] == 8


def test_a_call_cancelled_while_it_runs_still_runs_and_is_recorded(raw: Raw) -> None:
    raw.initialized()
    raw.request(1, "tools/call", call("lookup_customer", customer_id=7))
    assert raw.next()["id"] == 1  # the run and the server's session are open
    raw.request(5, "tools/call", call("slow", seconds=1.0))
    time.sleep(0.4)  # decided and running on the server by now
    raw.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 5}})
    raw.request(6, "tools/call", call("lookup_customer", customer_id=8))
    answer = raw.next()
    assert answer["id"] == 6, answer  # once the cancelled call settled; never its answer
    effects = [(e["tool"], e["status"]) for e in payloads("step.effect")]
    assert ("slow", "ok") in effects, effects  # it ran to its end, journaled as such


def test_a_call_cancelled_before_it_is_decided_never_runs(raw: Raw) -> None:
    raw.initialized()
    raw.request(5, "tools/call", call("slow", seconds=1.0))
    raw.request(6, "tools/call", call("lookup_customer", customer_id=8))  # waits its turn
    raw.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 6}})
    answer = raw.next()
    assert answer["id"] == 5, answer
    raw.request(7, "tools/call", call("lookup_customer", customer_id=9))
    answer = raw.next()
    assert answer["id"] == 7, answer  # 6 is never answered
    proposed = [p["action"] for p in payloads("step.proposed")]
    assert {"tool": "lookup_customer", "args": {"customer_id": 9}} in proposed, proposed
    assert all(a.get("args") != {"customer_id": 8} for a in proposed), proposed


def test_a_pipelined_session_is_answered_in_full(raw: Raw) -> None:
    lines: list[dict[str, Any]] = [
        INIT,
        INITIALIZED,
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    ]
    lines.append({"jsonrpc": "2.0", "id": 2, "method": "tools/call"})
    lines[-1]["params"] = call("lookup_customer", customer_id=3)
    raw.send(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    answers = {raw.next()["id"]: None for _ in range(3)}
    assert set(answers) == {0, 1, 2}


def test_a_session_on_a_regular_file_is_served_by_the_sdk_transport(
    write_agent: Any, tmp_path: Path
) -> None:
    lines = [INIT, INITIALIZED, {"jsonrpc": "2.0", "id": 1, "method": "ping"}]
    requests = tmp_path / "requests.jsonl"
    requests.write_bytes(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    agent_file = write_agent(pin=False)
    with requests.open("rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-m", "charter", "mcp", "serve", str(agent_file), "--as", "raw"],
            stdin=stdin,
            capture_output=True,
            timeout=120,
            check=False,
        )
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 0, done.stderr
    # The file's end closes the session (the stdio transport's shutdown); the SDK's
    # transport then drops a request still in flight, so the ping may go unanswered
    # on a busy machine. What is served is served in order, initialize first.
    assert [a["id"] for a in answers] in ([0], [0, 1]), answers
    assert answers[0]["result"]["serverInfo"]["name"]


def test_a_profile_of_the_session_is_written_when_asked(
    write_agent: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pstats

    profile = tmp_path / "gateway.prof"
    monkeypatch.setenv("CHARTER_MCP_PROFILE", str(profile))
    session = Raw(write_agent(pin=False, trust="trusted")).initialized()
    session.request(1, "tools/call", call("lookup_customer", customer_id=7))
    assert session.next()["id"] == 1
    session.close()
    assert session.proc.returncode == 0
    functions = {name for (_, _, name) in pstats.Stats(str(profile)).stats}  # type: ignore[attr-defined]
    assert "governed" in functions


@pytest.mark.filterwarnings("ignore:ping is removed")  # handshake-era sessions keep it
def test_a_real_sdk_client_pings_calls_cancels_and_gets_errors(
    write_agent: Any, tmp_path: Path
) -> None:
    import anyio
    from mcp.shared.exceptions import MCPError

    from mcp_client import gateway, session

    agent_file = write_agent(pin=False, trust="trusted")

    async def client() -> dict[str, Any]:
        seen: dict[str, Any] = {}
        async with session(gateway(agent_file, "--as", "sdk")) as mcp:
            seen["version"] = mcp.protocol_version
            seen["tools"] = mcp.server_capabilities.tools is not None
            await mcp.send_ping()  # pyright: ignore[reportDeprecated]
            with anyio.move_on_after(0.5) as waited:  # the SDK sends notifications/cancelled
                await mcp.call_tool("slow", {"seconds": 2})
            seen["cancelled"] = waited.cancelled_caught
            found = await mcp.call_tool("lookup_customer", {"customer_id": 7})
            seen["found"] = found.structured_content
            refused = await mcp.call_tool("lookup_customer", {"customer_id": "seven"})
            seen["refused"] = refused.is_error
            try:
                await mcp.list_prompts()  # the gateway serves tools only
            except MCPError as exc:
                seen["prompts"] = exc.error.code
            await mcp.send_ping()  # pyright: ignore[reportDeprecated]
        return seen

    seen = anyio.run(client)
    assert seen["version"] == "2025-11-25" and seen["tools"] and seen["cancelled"]
    assert seen["found"] == {"customer_id": 7, "name": "Ada", "email": "ada@example.com"}
    assert seen["refused"] is True
    assert seen["prompts"] == -32601
