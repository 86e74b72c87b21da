"""Real MCP client sessions with ``charter mcp serve`` (a subprocess), for the gateway tests
and the client script they kill mid-call."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.session import ElicitationFnT
from mcp.client.streamable_http import streamable_http_client

from charter import settings
from charter.journal import Journal

Elicit = ElicitationFnT


def gateway(agent_file: Path, *extra: str) -> StdioServerParameters:
    """``charter mcp serve AGENT_FILE`` over stdio, with this process's environment (so
    CHARTER_HOME and this checkout's sources)."""
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "charter", "mcp", "serve", str(agent_file), *extra],
        env=dict(os.environ),
    )


@asynccontextmanager
async def session(
    params: StdioServerParameters, *, elicit: Elicit | None = None
) -> AsyncGenerator[Client]:
    """An initialized client session with the gateway."""
    async with Client(params, elicitation_callback=elicit, cache=None) as client:
        yield client


@asynccontextmanager
async def http_session(
    url: str, token: str, *, elicit: Elicit | None = None
) -> AsyncGenerator[Client]:
    """A client session over streamable HTTP sending ``Authorization: Bearer <token>``."""
    import httpx2

    @asynccontextmanager
    async def transport() -> AsyncGenerator[Any]:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http,
            streamable_http_client(url, http_client=http) as streams,
        ):
            yield streams

    async with Client(transport(), elicitation_callback=elicit, cache=None) as client:
        yield client


def names(listed: types.ListToolsResult) -> set[str]:
    return {t.name for t in listed.tools}


def text(result: types.CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def journal() -> Journal:
    return Journal(settings.database_url())


def payloads(kind: str, run_id: str | None = None) -> list[dict[str, Any]]:
    """Payloads of every ``kind`` record (of run ``run_id``), oldest first."""
    found = sorted(journal().records_of_kind(kind), key=lambda r: r.seq)
    return [r.payload for r in found if run_id is None or r.run_id == run_id]


def run_of(result: types.CallToolResult) -> str:
    meta = result.meta or {}
    return str(meta["io.charter/run_id"])


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``charter ARGS`` in a subprocess (with this checkout's sources)."""
    return subprocess.run(
        [sys.executable, "-m", "charter", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
