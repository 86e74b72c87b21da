"""Real MCP servers (written with the SDK, in ``mcp_server.py``) and agent files naming them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

SERVER = Path(__file__).with_name("mcp_server.py")
CLI = [sys.executable, "-m", "charter"]

AgentWriter = Callable[..., Path]


@pytest.fixture(autouse=True)
def _closed_sessions() -> Iterator[None]:
    """Each test starts its servers afresh (sessions are otherwise kept per process)."""
    from charter.integrations.mcp import close_all

    yield
    close_all()


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    """Where the test server appends each email it sends."""
    return tmp_path / "outbox.txt"


@pytest.fixture
def charter_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """CHARTER_HOME in the tmp dir, for this process and the CLI's."""
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    return dict(os.environ)


@pytest.fixture
def write_agent(tmp_path: Path, outbox: Path) -> AgentWriter:
    """Write ``mail.agent.yaml`` naming the stdio test server; keyword arguments set the
    server's env switches (``rugpull=True``), its entry's fields, and the charter."""

    def write(
        *,
        env: dict[str, str] | None = None,
        charter: dict[str, Any] | None = None,
        reasoner: dict[str, Any] | None = None,
        name: str = "mail.agent.yaml",
        **entry: Any,
    ) -> Path:
        server: dict[str, Any] = {
            "server": "mail",
            "command": sys.executable,
            "args": [str(SERVER)],
            "env": {"MCP_TEST_OUTBOX": str(outbox), **(env or {})},
            "defaults": {"side_effect": "read"},
            "tools": {
                "send_email": {"side_effect": "write", "targets": ["to"]},
                "crash": {"side_effect": "write"},
            },
        } | entry
        path = tmp_path / name
        body = {
            "name": "mail-agent",
            "toolsets": [{"mcp": server}],
            "reasoner": reasoner or {"kind": "rules", "steps": [{"respond": "done"}]},
            "charter": charter or {"name": "mail-charter"},
        }
        path.write_text(yaml.safe_dump(body), encoding="utf-8")
        return path

    return write


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``charter ARGS`` in a subprocess (with this checkout's sources)."""
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    """The test server over streamable HTTP on 127.0.0.1: ``(url, token)``; requests
    without ``Authorization: Bearer <token>`` get 401."""
    token = "tok-" + os.urandom(12).hex()
    port = free_port()
    env = dict(os.environ, MCP_TEST_TOKEN=token)
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "http", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the HTTP MCP server did not start")
    try:
        yield f"http://127.0.0.1:{port}/mcp", token
    finally:
        proc.terminate()
        proc.wait(timeout=10)
