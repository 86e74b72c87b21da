"""Client sessions with MCP servers, shared by every run of a process.

Charter's runner calls tools synchronously from its threads; the SDK is async. Each
process has one event loop on a daemon thread, and one client session per server (per
distinct agent-file entry), opened on first use and kept open for the process: a run, a
resumed or recovered run in another process, and a worker each open their own. A session
whose server died is dropped and the next call opens a new one, which lists the tools
again (so a server that changed meanwhile is caught, see :mod:`._toolset`).
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import os
import sys
import threading
from collections.abc import AsyncGenerator, Coroutine
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from charter.errors import ConfigError
from charter.integrations.mcp._lockfile import definition_hash
from charter.integrations.mcp._spec import McpServerSpec
from charter.journal import canonical_json

T = TypeVar("T")


class McpConnectError(ConfigError):
    """A server could not be started, reached, or listed."""


class McpDefinitionChanged(RuntimeError):
    """The session lists a tool otherwise than when it was loaded and pinned."""


class McpCallBroken(Exception):
    """The session broke during a call: the server may or may not have acted."""


class _Loop:
    """One asyncio loop on a daemon thread for the whole process."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self.loop.run_forever, name="charter-mcp", daemon=True)
        thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)


_loop_lock = threading.Lock()
_loop: _Loop | None = None
_connections: dict[str, McpConnection] = {}


def _the_loop() -> _Loop:
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = _Loop()
        return _loop


def connection_for(spec: McpServerSpec) -> McpConnection:
    """The process's connection to the server ``spec`` describes (not yet opened)."""
    # Keyed on the entry and the values it resolves to, hashed so no secret is kept as a key.
    material = canonical_json(spec.model_dump(mode="json")) + canonical_json(_secrets(spec))
    key = hashlib.sha256(material.encode()).hexdigest()
    with _loop_lock:
        found = _connections.get(key)
        if found is None:
            found = _connections[key] = McpConnection(spec)
        return found


def _secrets(spec: McpServerSpec) -> dict[str, str]:
    try:
        return spec.resolved_env() | spec.resolved_headers()
    except ConfigError:
        return {}


@atexit.register
def close_all() -> None:
    """Close every session of this process (stdio servers are stopped)."""
    with _loop_lock:
        connections = list(_connections.values())
        _connections.clear()
    for connection in connections:
        connection.close()


class McpConnection:
    """A lazily opened, self-healing client session with one server."""

    def __init__(self, spec: McpServerSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()
        self._client: Client | None = None
        self._stop: asyncio.Event | None = None
        self._keeper: Future[None] | None = None
        self._hashes: dict[str, str] = {}

    def list_tools(self) -> list[dict[str, Any]]:
        """Every tool's wire definition, as the server sends it now (all pages)."""
        client, fresh = self._open()
        return fresh if fresh is not None else self._list(client)

    def listed_hash(self, tool: str) -> str | None:
        """The SHA-256 of ``tool``'s definition as this session last listed it."""
        return self._hashes.get(tool)

    def _list(self, client: Client) -> list[dict[str, Any]]:
        try:
            listed = self._wait(_list(client), self.spec.connect_timeout_s)
        except Exception as exc:
            self._drop()
            raise McpConnectError(self._failure("cannot list tools", exc)) from exc
        self._hashes = {str(d.get("name")): definition_hash(d) for d in listed}
        return listed

    def call(
        self, tool: str, args: dict[str, Any], timeout_s: float, expected_hash: str
    ) -> CallToolResult:
        """Call ``tool``; raise McpCallBroken when the session broke mid-call.

        Args:
            tool: the tool's name.
            args: its arguments, already checked against its input schema.
            timeout_s: bounds the wait for the server's answer; the runner gives up
                sooner (at the contract's timeout) and journals the late answer.
            expected_hash: the definition the tool was loaded (and pinned) with: a
                session that lists another is not sent the call (McpDefinitionChanged).
        """
        client, _ = self._open()
        if self._hashes.get(tool) != expected_hash:
            raise McpDefinitionChanged(
                f"mcp server {self.spec.server!r} changed tool {tool!r} since it was "
                "loaded (mcp.changed); not called: reload the agent after review"
            )
        try:
            return self._wait(client.call_tool(tool, args), timeout_s)
        except FutureTimeout:
            raise
        except Exception as exc:
            self._drop()
            raise McpCallBroken(self._failure(f"call of {tool!r} broke", exc)) from exc

    def close(self) -> None:
        """Close the session (a stdio server process is stopped)."""
        self._drop()

    def _wait(self, coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
        future = _the_loop().submit(coro)
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            future.cancel()
            raise

    def _open(self) -> tuple[Client, list[dict[str, Any]] | None]:
        """The open session, and the listing a newly opened one made (None if reused)."""
        with self._lock:
            if self._client is not None and self._keeper is not None and not self._keeper.done():
                return self._client, None
            self._client = None
            opened: Future[Client] = Future()
            self._keeper = _the_loop().submit(self._keep(opened))
            try:
                self._client = opened.result(timeout=self.spec.connect_timeout_s)
            except Exception as exc:
                self._keeper.cancel()
                raise McpConnectError(self._failure("cannot connect", exc)) from exc
            client = self._client
        # A new session lists the tools again: a server that changed is seen at once.
        return client, self._list(client)

    async def _keep(self, opened: Future[Client]) -> None:
        # The session is entered and left in this one task, as anyio's scopes require.
        self._stop = stop = asyncio.Event()
        try:
            async with Client(_transport(self.spec), cache=None) as client:
                opened.set_result(client)
                await stop.wait()
        except BaseException as exc:
            if not opened.done():
                opened.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
            if not isinstance(exc, Exception):
                raise

    def _drop(self) -> None:
        with self._lock:
            stop, keeper = self._stop, self._keeper
            self._client = self._stop = self._keeper = None
        if stop is not None and keeper is not None and not keeper.done():
            _the_loop().loop.call_soon_threadsafe(stop.set)
            try:
                keeper.result(timeout=5)
            except Exception:  # a session that cannot close cleanly is abandoned
                keeper.cancel()

    def _failure(self, what: str, exc: BaseException) -> str:
        where = self.spec.command if self.spec.command else self.spec.url or ""
        text = f"mcp server {self.spec.server!r} ({where}): {what}: {_reason(exc)}"
        return redact(text, self.spec)


def redact(text: str, spec: McpServerSpec) -> str:
    """``text`` without the secrets ``spec`` resolves to (header and env values, and a
    password in its URL), whatever echoed them (an HTTP library, a server's message)."""
    secrets = set(_secrets(spec).values())
    if spec.url:
        parts = urlsplit(spec.url)
        secrets |= {p for p in (parts.password, parts.username) if p}
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:  # shorter values would redact ordinary words
            text = text.replace(secret, "***")
    return text


def _reason(exc: BaseException) -> str:
    leaf: BaseException = exc
    inner: Any = getattr(leaf, "exceptions", None)  # an exception group: its first cause
    while isinstance(inner, tuple) and inner:
        leaf = cast(BaseException, inner[0])
        inner = getattr(leaf, "exceptions", None)
    text = " ".join(str(leaf).split())[:200] or "no detail"
    return f"{type(leaf).__name__}: {text}"


async def _list(client: Client) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):  # a server paging forever is cut off
        page = await client.list_tools(cursor=cursor)
        tools += [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in page.tools]
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def _transport(spec: McpServerSpec) -> Any:
    if spec.command is not None:
        params = StdioServerParameters(
            command=spec.command,
            args=list(spec.args),
            env=spec.resolved_env() or None,
            cwd=spec.cwd,
        )
        # The server's own logging would interleave with charter's output: discard it.
        return stdio_client(params, errlog=_devnull())
    return _http(spec.url or "", spec.resolved_headers())


@asynccontextmanager
async def _http(url: str, headers: dict[str, str]) -> AsyncGenerator[Any]:
    import httpx2

    timeout = httpx2.Timeout(30.0, read=300.0)
    async with (
        httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
        streamable_http_client(url, http_client=http) as streams,
    ):
        yield streams


_null: Any = None


def _devnull() -> Any:
    global _null
    if _null is None:
        _null = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 (kept for the process)
    return _null if "CHARTER_MCP_SERVER_STDERR" not in os.environ else sys.stderr
