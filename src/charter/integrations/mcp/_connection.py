"""Client sessions with MCP servers, shared by every run of a process.

Charter's runner calls tools synchronously from its threads; the SDK is async. Each
process has one event loop on a daemon thread, and one client session per server (per
distinct agent-file entry), opened on first use and kept open for the process: a run, a
resumed or recovered run in another process, and a worker each open their own. A session
whose server died is dropped and the next call opens a new one, which lists the tools
again (so a server that changed meanwhile is caught, see :mod:`._toolset`).

An async server of its own (the gateway) takes the sessions onto its loop instead
(:func:`sessions_on_this_loop`) and awaits each call there: handing a call to another
thread and back costs more than the call itself.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import os
import sys
import threading
from collections.abc import AsyncGenerator, Coroutine
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

try:
    import anyio
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.exceptions import MCPError
except ImportError as exc:  # the package's __init__ says so first; this is for direct imports
    raise ImportError("MCP toolsets need the mcp extra: pip install 'charter[mcp]'") from exc

from charter.errors import ConfigError
from charter.integrations.mcp._lockfile import definition_hash
from charter.integrations.mcp._spec import McpServerSpec
from charter.integrations.mcp._stdio_client import StdioServer
from charter.integrations.mcp._wire import ToolAnswer
from charter.journal import canonical_json

T = TypeVar("T")
UNSUPPORTED_PROTOCOL_VERSION = -32022
"""The error a 2026-07-28 server answers the initialize handshake with."""


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
    """A lazily opened, self-healing client session with one server.

    The session lives on one event loop, its *home*: the process's own loop by default,
    or the loop of an async caller that took the sessions in (:func:`sessions_on_this_loop`),
    which then awaits calls without a thread hop. Its state is only touched on that loop;
    the synchronous methods hand their work to it from any other thread.
    """

    def __init__(self, spec: McpServerSpec) -> None:
        self.spec = spec
        self._home: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None
        self._client: Client | None = None
        self._stop: asyncio.Event | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._server: StdioServer | None = None
        self._hashes: dict[str, str] = {}

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the session lives on."""
        return self._home or _the_loop().loop

    def list_tools(self) -> list[dict[str, Any]]:
        """Every tool's wire definition, as the server sends it now (all pages)."""
        # Opening and listing bound their own waits; this one only guards a stopped loop.
        return self._wait(self.alist_tools(), 2 * self.spec.connect_timeout_s + 10)

    async def alist_tools(self) -> list[dict[str, Any]]:
        """:meth:`list_tools`, awaited (on the session's loop, or handed to it)."""
        if not self._at_home():
            return await self._hand_over(self.alist_tools())
        client, fresh = await self._aopen()
        return fresh if fresh is not None else await self._alist(client)

    def listed_hash(self, tool: str) -> str | None:
        """The SHA-256 of ``tool``'s definition as this session last listed it."""
        return self._hashes.get(tool)

    def call(
        self, tool: str, args: dict[str, Any], timeout_s: float, expected_hash: str
    ) -> ToolAnswer:
        """Call ``tool``, and read its answer; raise McpCallBroken when the session broke
        mid-call.

        Args:
            tool: the tool's name.
            args: its arguments, already checked against its input schema.
            timeout_s: bounds the wait for the server's answer; the runner gives up
                sooner (at the contract's timeout) and journals the late answer.
            expected_hash: the definition the tool was loaded (and pinned) with: a
                session that lists another is not sent the call (McpDefinitionChanged).
        """
        # The answer's wait is bounded inside; this one only guards a stopped loop.
        bound = timeout_s + 2 * self.spec.connect_timeout_s + 10
        return self._wait(self._call(tool, args, expected_hash, timeout_s), bound)

    async def acall(
        self, tool: str, args: dict[str, Any], timeout_s: float, expected_hash: str
    ) -> ToolAnswer:
        """:meth:`call`, awaited: on the session's own loop the call is made right there.

        Raises:
            TimeoutError: no answer within ``timeout_s`` (the request is cancelled).
        """
        if not self._at_home():
            return await self._hand_over(self.acall(tool, args, timeout_s, expected_hash))
        return await self._call(tool, args, expected_hash, timeout_s)

    async def _call(
        self, tool: str, args: dict[str, Any], expected_hash: str, timeout_s: float
    ) -> ToolAnswer:
        client, _ = await self._aopen()
        if self._hashes.get(tool) != expected_hash:
            raise McpDefinitionChanged(
                f"mcp server {self.spec.server!r} changed tool {tool!r} since it was "
                "loaded (mcp.changed); not called: reload the agent after review"
            )
        server = self._server
        try:
            if server is not None and server.fast:
                return await server.call_tool(tool, args, timeout_s)
            async with asyncio.timeout(timeout_s):
                return ToolAnswer.of(await client.call_tool(tool, args))
        except TimeoutError:
            raise
        except Exception as exc:
            await self._adrop()
            raise McpCallBroken(self._failure(f"call of {tool!r} broke", exc)) from exc

    def close(self) -> None:
        """Close the session (a stdio server process is stopped)."""
        loop = self.loop
        if loop.is_closed() or not loop.is_running():
            self._forget()  # its loop is gone: so is the session with it
            return
        with contextlib.suppress(Exception):
            self._wait(self._adrop(), 10)

    async def move_to(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Close the session and make ``loop`` its home (None: the process's own loop);
        the next call opens a new session there, which lists the tools again."""
        try:
            if self._at_home():
                await self._adrop()
            else:
                await self._hand_over(self._adrop())
        finally:  # a session that could not close is abandoned, never called again
            self._forget()
            self._home, self._opening = loop, None

    def _at_home(self) -> bool:
        return _running_loop() is self.loop

    async def _hand_over(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the session's loop from another loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def _wait(self, coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
        if self._at_home():
            coro.close()
            raise RuntimeError(
                f"mcp server {self.spec.server!r}: a synchronous call from the event loop "
                "its session lives on would never return; await the async form instead"
            )
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            future.cancel()
            raise

    async def _aopen(self) -> tuple[Client, list[dict[str, Any]] | None]:
        """The open session, and the listing a newly opened one made (None if reused)."""
        client, keeper = self._client, self._keeper
        if client is not None and keeper is not None and not keeper.done():
            return client, None  # open: no need to queue behind an opening
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._client is not None and self._keeper is not None and not self._keeper.done():
                return self._client, None
            self._client = None
            opened: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
            self._keeper = keeper = asyncio.create_task(self._keep(opened))
            try:
                async with asyncio.timeout(self.spec.connect_timeout_s):
                    self._client = client = await asyncio.shield(opened)
            except Exception as exc:
                keeper.cancel()
                opened.cancel()
                raise McpConnectError(self._failure("cannot connect", exc)) from exc
            # A new session lists the tools again: a server that changed is seen at once.
            return client, await self._alist(client)

    async def _alist(self, client: Client) -> list[dict[str, Any]]:
        try:
            async with asyncio.timeout(self.spec.connect_timeout_s):
                listed = await _list(client)
        except Exception as exc:
            await self._adrop()
            raise McpConnectError(self._failure("cannot list tools", exc)) from exc
        self._hashes = {str(d.get("name")): definition_hash(d) for d in listed}
        return listed

    async def _keep(self, opened: asyncio.Future[Client]) -> None:
        # The session is entered and left in this one task, as anyio's scopes require.
        self._stop = stop = asyncio.Event()
        try:
            transport, server = _transport(self.spec)
            if server is None:  # over HTTP: negotiated as the SDK's client does
                await self._serve(Client(transport, cache=None, mode="auto"), None, opened, stop)
                return
            # A stdio server is asked for the handshake era first, whose tools/call
            # charter makes around the SDK's session (see StdioServer). One that speaks
            # only the 2026-07-28 era refuses the handshake: it is started again and
            # spoken to as the SDK's client negotiates (server/discover), through the
            # SDK's session.
            legacy = Client(transport, cache=None, mode="legacy")
            try:
                await self._serve(legacy, server, opened, stop)
                return
            except Exception as exc:
                if opened.done() or not _refused_handshake(exc):
                    raise
            transport, _ = _transport(self.spec)
            await self._serve(Client(transport, cache=None, mode="auto"), None, opened, stop)
        except BaseException as exc:
            if not opened.done():
                opened.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
            if not isinstance(exc, Exception):
                raise

    async def _serve(
        self,
        connecting: Client,
        server: StdioServer | None,
        opened: asyncio.Future[Client],
        stop: asyncio.Event,
    ) -> None:
        async with connecting as client:
            if server is not None:
                server.protocol_version = client.protocol_version
            self._server = server
            opened.set_result(client)
            await stop.wait()

    async def _adrop(self) -> None:
        stop, keeper = self._stop, self._keeper
        self._forget()
        if stop is not None and keeper is not None and not keeper.done():
            stop.set()
            await asyncio.wait([keeper], timeout=5)
            if not keeper.done():  # a session that cannot close cleanly is abandoned
                keeper.cancel()

    def _forget(self) -> None:
        self._client = self._stop = self._keeper = self._server = None

    def _failure(self, what: str, exc: BaseException) -> str:
        where = self.spec.command if self.spec.command else self.spec.url or ""
        text = f"mcp server {self.spec.server!r} ({where}): {what}: {_reason(exc)}"
        return redact(text, self.spec)


@asynccontextmanager
async def sessions_on_this_loop() -> AsyncGenerator[None]:
    """Make the running loop the home of every session of this process for the block: an
    async caller on it (the gateway) then awaits its calls with no thread in between.
    Each session is reopened there on first use, and closed when the block ends."""
    loop = asyncio.get_running_loop()
    with _loop_lock:
        connections = list(_connections.values())
    for connection in connections:
        await connection.move_to(loop)
    try:
        yield
    finally:
        # Even when serving is cancelled (each close is bounded): a session left on a
        # loop that ends would never answer again.
        with anyio.CancelScope(shield=True):
            for connection in connections:
                await connection.move_to(None)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


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


def _refused_handshake(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it groups) is a server's refusal of the
    initialize handshake as a 2026-07-28 server refuses it (unsupported version)."""
    if isinstance(exc, MCPError):
        return exc.error.code == UNSUPPORTED_PROTOCOL_VERSION
    inner: Any = getattr(exc, "exceptions", None)
    return isinstance(inner, tuple) and any(
        _refused_handshake(e) for e in cast(tuple[BaseException, ...], inner)
    )


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


def _transport(spec: McpServerSpec) -> tuple[Any, StdioServer | None]:
    """The session's transport, and charter's stdio server process if it is one."""
    if spec.command is None:
        return _http(spec.url or "", spec.resolved_headers()), None
    params = StdioServerParameters(
        command=spec.command,
        args=list(spec.args),
        env=spec.resolved_env() or None,
        cwd=spec.cwd,
    )
    # The server's own logging would interleave with charter's output: discard it.
    if sys.platform == "win32":  # charter's stdio transport is POSIX-only: the SDK's
        return stdio_client(params, errlog=_devnull()), None
    server = StdioServer(params, _devnull())
    return server.streams(), server


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
