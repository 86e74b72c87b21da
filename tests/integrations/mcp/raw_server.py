"""A hand-written stdio MCP server for the client-transport tests: it answers the
handshake and listing, and on ``tools/call`` first asks the client a ``ping`` and sends a
log notification, then answers. ``RAW_MODE`` changes the answer: ``exit`` (the process
exits mid-call), ``error`` (a JSON-RPC error), ``huge`` (a 4 KiB answer), ``silent``
(never answers), ``last`` (the process exits right after answering). Every line
received is appended to ``$RAW_LOG``."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from typing import Any

MODE = os.environ.get("RAW_MODE", "")
LOG = os.environ.get("RAW_LOG", "")


def send(body: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(body) + "\n")
    sys.stdout.flush()


def lines() -> Iterator[dict[str, Any]]:
    for line in sys.stdin:
        if LOG:
            with open(LOG, "a", encoding="utf-8") as file:
                file.write(line)
        yield json.loads(line)


TOOL = {"name": "echo", "description": "Echo.", "inputSchema": {"type": "object"}}
incoming = lines()
for message in incoming:
    method, rid = message.get("method"), message.get("id")
    if method == "initialize":
        result = {
            "protocolVersion": message["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "raw", "version": "1"},
        }
        send({"jsonrpc": "2.0", "id": rid, "result": result})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": rid, "result": {"tools": [TOOL]}})
    elif method == "tools/call":
        if MODE == "exit":
            os._exit(3)
        if MODE == "silent":
            continue
        send({"jsonrpc": "2.0", "id": "srv-1", "method": "ping"})
        pong = next(incoming)
        assert pong == {"jsonrpc": "2.0", "id": "srv-1", "result": {}}, pong
        send(
            {
                "jsonrpc": "2.0",
                "method": "notifications/message",
                "params": {"level": "info", "data": "hi"},
            }
        )
        if MODE == "error":
            send(
                {"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": "no such tool"}}
            )
            continue
        args: dict[str, Any] = message["params"]["arguments"]
        text = "x" * 4096 if MODE == "huge" else json.dumps(args)
        result: dict[str, Any] = {
            "content": [{"type": "text", "text": text}],
            "structuredContent": args,
        }
        send({"jsonrpc": "2.0", "id": rid, "result": result})
        if MODE == "last":
            os._exit(0)
