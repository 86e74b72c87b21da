"""The example billing service (examples/openapi) served on 127.0.0.1 by a real uvicorn
server in a thread, for the tests of OpenAPI tools."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "openapi"
SPEC = EXAMPLE / "billing.yaml"

_spec = importlib.util.spec_from_file_location("billing_server", EXAMPLE / "billing_server.py")
assert _spec is not None and _spec.loader is not None
billing_server: Any = importlib.util.module_from_spec(_spec)
sys.modules["billing_server"] = billing_server  # dataclasses look their module up
_spec.loader.exec_module(billing_server)
Billing: Any = billing_server.Billing


@dataclass
class Service:
    """A running service: its port, and the state the current test sees and steers."""

    port: int
    billing: Any
    _apps: dict[str, Any]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        """A fresh service state (data, counters, misbehaviour) for the next test."""
        self.billing = Billing()
        self._apps["app"] = billing_server.create_app(self.billing)


@contextmanager
def serve() -> Generator[Service]:
    """Serve the billing app until the block ends."""
    apps: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await apps["app"](scope, receive, send)

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    service = Service(0, None, apps)
    service.reset()
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the billing service did not start"
        time.sleep(0.01)
    service.port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield service
    finally:
        server.should_exit = True
        thread.join(5)
