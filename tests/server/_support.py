"""What the service tests share: the refund agent, its tools, and the test client bundle."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi.testclient import TestClient
from starlette.types import ASGIApp

from charter.journal import Journal

TOOLS_MODULE = '''
from charter import tool

@tool(side_effect="write", targets=("order_id",))
def refund_order(order_id: int, amount_cents: int) -> dict:
    """Refund an order."""
    return {"refund_id": order_id * 10, "order_id": order_id}


@tool
def lookup_order(order_id: int) -> dict:
    """Look an order up."""
    return {"order_id": order_id, "status": "delivered"}
'''

AGENT = """
name: refunder
reasoner:
  kind: rules
  match: 'refund (?P<order_id>\\d+) for (?P<cents>\\d+)'
  steps:
    - id: order
      call: lookup_order
      args: {order_id: "{goal.order_id}"}
    - id: refund
      call: refund_order
      args: {order_id: "{goal.order_id}", amount_cents: "{goal.cents}"}
    - when: "{steps.refund.result.refund_id}"
      respond: "Refunded order {goal.order_id}."
    - respond: "Not refunded: {steps.refund.error}"
toolsets:
  - ref: server_test_tools:toolset
charter:
  name: refunds
  rules:
    - id: big-refunds
      effect: ask
      tools: [refund_order]
      when: context.args.amount_cents > 5000
      reason: refunds over $50 need a manager
"""


@dataclass
class Service:
    """The app, a client, the journal and a token per role (plus ``sam``, an operator
    who starts runs)."""

    client: TestClient
    journal: Journal
    tokens: dict[str, str]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@contextmanager
def live_server(app: ASGIApp) -> Generator[str]:
    """uvicorn serving ``app`` on a free local port, for what the test client cannot do
    (it holds a whole response before returning: no endless stream, no disconnect)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


CHUNK = 64 * 1024


@dataclass
class SentBody:
    """A request body handed to the app chunk by chunk, only when it asks for one: what
    the app read is counted, not guessed from time or memory."""

    size: int
    chunk: int = CHUNK
    read: int = 0

    async def receive(self) -> dict[str, Any]:
        if self.read >= self.size:
            await asyncio.sleep(3600)  # a client with nothing more to send
        part = min(self.chunk, self.size - self.read)
        self.read += part
        return {"type": "http.request", "body": b"x" * part, "more_body": self.read < self.size}


def call_asgi(
    app: ASGIApp,
    path: str,
    body: SentBody,
    headers: dict[str, str],
    *,
    length: bool,
    method: str = "POST",
    query: str = "",
) -> tuple[int, dict[str, Any]]:
    """One request straight into ``app``; its status and JSON answer (``{}`` if none).
    Without ``length`` the body is sent chunked, no Content-Length."""
    raw = [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-type", b"application/json"))
    if length:
        raw.append((b"content-length", str(body.size).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": raw,
        "client": ("10.0.0.9", 4000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, body.receive, send))  # type: ignore[arg-type]
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(payload) if payload.startswith(b"{") else {}
