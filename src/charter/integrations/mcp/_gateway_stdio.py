"""The gateway on stdio: the SDK's server session, with ``tools/call`` and ``tools/list``
answered straight off the pipe.

Each line from the client is parsed once where it arrives. A ``tools/call`` or
``tools/list`` request of an initialized session, well formed, is governed and answered
here, in a task of its own, its answer written to the pipe at once. Every other message
(``initialize``, ``ping``, notifications, the client's answers to elicitation, anything
malformed or of another protocol era) goes to the SDK's own server session, validated
as its stdio transport would, and the SDK's messages are written to the same pipe. A
request answered here is cancelled by ``notifications/cancelled`` as the SDK cancels its
own (never answered afterwards), and can elicit through the SDK's session.

Beyond the SDK: a line that is not JSON is answered ``-32700`` (parse error), a request
the SDK cannot read (an id that is not an integer or a string, say) ``-32600``, and a
line over :data:`~._wire.MAX_LINE` bytes is discarded whole and answered ``-32600``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import stat
import sys
from collections import deque
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import anyio
import anyio.lowlevel

try:
    import mcp_types as types
    from mcp.server.connection import Connection
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server
    from mcp.server.runner import serve_connection
    from mcp.server.session import ServerSession
    from mcp.shared.dispatcher import CallOptions
    from mcp.shared.exceptions import MCPError, NoBackChannelError
    from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
    from mcp.shared.message import SessionMessage
    from mcp.shared.transport_context import TransportContext
    from mcp_types import methods
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS
except ImportError as exc:  # the package's __init__ says so first; this is for direct imports
    raise ImportError("The MCP gateway needs the mcp extra: pip install 'charter[mcp]'") from exc

from charter.integrations.mcp._gateway import Gateway, GatewaySession
from charter.integrations.mcp._wire import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PARSE_ERROR,
    LineReader,
    LineWriter,
    decode,
    encode,
    error_line,
    request_id,
    sdk_line,
    to_sdk,
)

ANSWERED_HERE = frozenset({"tools/call", "tools/list"})
ENVELOPE = frozenset({"jsonrpc", "id", "method", "params"})
MODERN_KEY = types.PROTOCOL_VERSION_META_KEY
STDIO = TransportContext(kind="jsonrpc", can_send_request=True)
BACKLOG = 256
"""Messages queued for the SDK past which the pipe is not read until it catches up."""


def on_pipes() -> bool:
    """Whether stdin and stdout are pipes, sockets or terminals (what the event loop can
    watch; a regular file is served by the SDK's transport)."""
    if sys.platform == "win32":
        return False
    try:
        modes = [os.fstat(fd).st_mode for fd in (0, 1)]
    except OSError:
        return False
    return all(stat.S_ISFIFO(m) or stat.S_ISSOCK(m) or stat.S_ISCHR(m) for m in modes)


async def serve_stdio(gateway: Gateway) -> None:
    """Serve one client session on this process's stdin and stdout: on pipes (how clients
    start a server) as the module says, otherwise (a regular file) with the SDK's own
    transport. ``CHARTER_MCP_PROFILE=FILE`` writes a cProfile of the session to FILE as it
    ends."""
    server = gateway.server()
    with _profiled(os.environ.get("CHARTER_MCP_PROFILE")):
        async with server.lifespan(server) as state:
            # What is loaded by now (modules, the agent, the SDK) lives as long as the
            # process: the collector need not walk it again at each full collection,
            # which a long session's growing run triggers now and then.
            gc.freeze()
            if not on_pipes():
                await _serve_sdk_stdio(server, state)
                return
            with _claimed_stdio() as (wire_in, wire_out):
                await StdioSession(gateway, server, state).serve(wire_in, wire_out)


async def _serve_sdk_stdio(server: Server[Any], state: Any) -> None:
    from mcp.server.runner import serve_loop
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await serve_loop(
            server,
            read,
            write,
            lifespan_state=state,
            init_options=server.create_initialization_options(),
        )


@contextlib.contextmanager
def _profiled(path: str | None) -> Generator[None]:
    if not path:
        yield
        return
    import cProfile

    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(path)


@contextlib.contextmanager
def _claimed_stdio() -> Generator[tuple[int, int]]:
    """The wire's descriptors, private; meanwhile fd 0 reads the null device and fd 1
    writes to stderr, so nothing else in the process (a stray print, a child) can read
    the client's messages or corrupt the answers. Both are restored on exit."""
    import fcntl  # POSIX only, as this transport is (see on_pipes)

    with contextlib.suppress(Exception):
        sys.stdout.flush()
    wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
        os.dup2(2, 1)
        yield wire_in, wire_out
    finally:
        os.close(null)
        os.dup2(wire_in, 0)
        os.dup2(wire_out, 1)
        os.close(wire_in)
        os.close(wire_out)


@dataclass(slots=True)
class _InFlight:
    scope: anyio.CancelScope
    outbound: _Outbound
    acting: bool = False
    """The call was decided and runs: it is no longer cancelled, only left unanswered."""

    def act(self) -> None:
        """The call starts to act (see :meth:`Gateway.governed`)."""
        self.acting = True

    def cancel(self) -> None:
        """Stop the request: cancelled while it is being decided, unanswered once it acts."""
        if not self.acting:
            self.scope.cancel()


class _Outbound:
    """The back-channel of a request answered here (the SDK's ``DispatchContext``):
    server-to-client requests (elicitation) go through the SDK's dispatcher."""

    __slots__ = (
        "_cancel_requested",
        "_request_id",
        "cancelled",
        "closed",
        "dispatcher",
        "progress_token",
    )
    transport: TransportContext = STDIO

    def __init__(
        self,
        dispatcher: JSONRPCDispatcher[TransportContext],
        request_id: int | str,
        progress_token: int | str | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self._request_id = request_id
        self.progress_token = progress_token
        self.closed = False
        self.cancelled = False
        """Whether the client cancelled the request (it is then never answered)."""
        self._cancel_requested: anyio.Event | None = None

    @property
    def cancel_requested(self) -> anyio.Event:
        """Set when the client cancels the request (made on first use: most never are)."""
        if self._cancel_requested is None:
            self._cancel_requested = anyio.Event()
            if self.cancelled:
                self._cancel_requested.set()
        return self._cancel_requested

    def cancel(self) -> None:
        """The client cancelled the request."""
        self.cancelled = True
        if self._cancel_requested is not None:
            self._cancel_requested.set()

    @property
    def request_id(self) -> int | str:
        """The request's JSON-RPC id."""
        return self._request_id

    @property
    def can_send_request(self) -> bool:
        """Whether the request is still being handled."""
        return not self.closed

    @property
    def message_metadata(self) -> None:
        """stdio attaches none."""
        return None

    async def send_raw_request(
        self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None
    ) -> dict[str, Any]:
        """Send a request to the client and await its answer."""
        if self.closed:
            raise NoBackChannelError(method)
        return await self.dispatcher.send_raw_request(method, params, opts)

    async def notify(
        self, method: str, params: Mapping[str, Any] | None, opts: CallOptions | None = None
    ) -> None:
        """Send a notification to the client."""
        if not self.closed:
            await self.dispatcher.notify(method, params, opts)

    async def progress(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Report progress, when the client asked for it."""
        if self.progress_token is None:
            return
        params: dict[str, Any] = {"progressToken": self.progress_token, "progress": progress}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        await self.notify("notifications/progress", params)


class StdioSession:
    """One client session on a pair of pipes (see the module)."""

    def __init__(self, gateway: Gateway, server: Server[Any], lifespan_state: Any) -> None:
        self.gateway = gateway
        self.server = server
        self.lifespan_state = lifespan_state
        self.to_sdk, self._sdk_in = anyio.create_memory_object_stream[SessionMessage | Exception](
            math.inf
        )
        self._sdk_out, self.from_sdk = anyio.create_memory_object_stream[SessionMessage](0)
        self.dispatcher: JSONRPCDispatcher[TransportContext] = JSONRPCDispatcher(
            self._sdk_in, self._sdk_out, inline_methods=frozenset({"initialize"})
        )
        self.connection = Connection.for_loop(self.dispatcher)
        self.in_flight: dict[int | str, _InFlight] = {}
        self.session: GatewaySession | None = None
        """The gateway's session of this connection, once its first call made it."""
        self.writer = LineWriter()
        self.reader: LineReader | None = None
        self._backlog: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._eof = asyncio.Event()
        self._answering: set[asyncio.Task[None]] = set()

    async def serve(self, wire_in: int, wire_out: int) -> None:
        """Serve until the client closes its end of the pipe."""
        loop = asyncio.get_running_loop()
        reader = LineReader(self._line, self._oversized, self._eof.set)
        self.reader = reader
        with (
            os.fdopen(wire_in, "rb", buffering=0, closefd=False) as pipe_in,
            os.fdopen(wire_out, "wb", buffering=0, closefd=False) as pipe_out,
        ):
            read_transport, _ = await loop.connect_read_pipe(lambda: reader, pipe_in)
            write_transport, _ = await loop.connect_write_pipe(lambda: self.writer, pipe_out)
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._serve_sdk)
                    tg.start_soon(self._write_sdk)
                    tg.start_soon(self._forward)
                    await self._eof.wait()
                    # As the SDK does at the end of a session: requests still in hand are
                    # cancelled (a call already decided still runs and is recorded).
                    for entry in list(self.in_flight.values()):
                        entry.cancel()
                    self._wake.set()
                    if self._answering:
                        await asyncio.gather(*self._answering, return_exceptions=True)
            finally:
                read_transport.close()
                write_transport.close()

    async def _serve_sdk(self) -> None:
        await serve_connection(
            self.server,
            self.dispatcher,
            connection=self.connection,
            lifespan_state=self.lifespan_state,
            init_options=self.server.create_initialization_options(),
        )

    async def _write_sdk(self) -> None:
        async with self.from_sdk:
            async for message in self.from_sdk:
                await self.writer.send(sdk_line(message))

    async def _forward(self) -> None:
        """Hand the SDK its messages, in the order they came; at EOF, close its input."""
        async with self.to_sdk:
            while True:
                while self._backlog:
                    self.to_sdk.send_nowait(to_sdk(self._backlog.popleft()))
                    await anyio.lowlevel.checkpoint()
                if self.reader is not None and self.reader.transport is not None:
                    with contextlib.suppress(RuntimeError):
                        self.reader.transport.resume_reading()
                if self._eof.is_set():
                    return
                self._wake.clear()
                await self._wake.wait()

    # --- lines, as they arrive (event-loop callbacks: no awaiting here) ---

    def _line(self, line: bytes) -> None:
        try:
            message = decode(line)
        except ValueError:
            self.writer.write(error_line(None, PARSE_ERROR, "Parse error"))
            return
        if isinstance(message, dict):
            body: dict[str, Any] = message  # type: ignore[assignment]
            if self._answer_here(body):
                return
            if body.get("method") == "notifications/cancelled":
                self._cancel(body.get("params"))
            elif "method" in body and "id" in body and request_id(body["id"]) is None:
                # The SDK drops what it cannot read; a request is owed an answer.
                self.writer.write(error_line(None, INVALID_REQUEST, "Invalid Request"))
                return
        elif isinstance(message, list):
            self.writer.write(error_line(None, INVALID_REQUEST, "batches are not supported"))
            return
        self._backlog.append(line)
        self._wake.set()
        if len(self._backlog) > BACKLOG and self.reader and self.reader.transport:
            self.reader.transport.pause_reading()

    def _oversized(self) -> None:
        self.writer.write(error_line(None, INVALID_REQUEST, "message too large"))

    def _answer_here(self, body: dict[str, Any]) -> bool:
        """Start answering ``body`` here if it is a request this transport answers."""
        method = body.get("method")
        if (
            method not in ANSWERED_HERE
            or body.get("jsonrpc") != "2.0"
            or not body.keys() <= ENVELOPE
        ):
            return False
        rid = request_id(body.get("id"))
        params = body.get("params")
        if rid is None or rid in self.in_flight or not self.connection.initialize_accepted:
            return False
        if self.connection.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return False
        if params is not None and not isinstance(params, dict):
            return False
        raw: dict[str, Any] = params or {}  # type: ignore[assignment]
        meta = raw.get("_meta")
        if meta is not None and (not isinstance(meta, dict) or MODERN_KEY in meta):
            return False
        request: _ToolCall | types.PaginatedRequestParams | None
        if method == "tools/call":
            request = _tool_call(raw)
            token = request.progress_token if request is not None else None
        else:
            request = _listing(raw)
            token = None
        if request is None:
            return False  # the SDK answers with its own error, or refuses
        outbound = _Outbound(self.dispatcher, rid, token)
        entry = self.in_flight[rid] = _InFlight(anyio.CancelScope(), outbound)
        # A plain task (an anyio task group's bookkeeping costs more than the rest of
        # this): cancelled through its scope, awaited when the session ends.
        task = asyncio.get_running_loop().create_task(self._answer(rid, request, raw, entry))
        self._answering.add(task)
        return True

    def _cancel(self, params: Any) -> None:
        if not isinstance(params, dict):
            return
        rid = request_id(params.get("requestId"))  # type: ignore[union-attr]
        entry = self.in_flight.get(rid) if rid is not None else None
        if entry is None and isinstance(rid, str) and rid.lstrip("-").isdigit():
            entry = self.in_flight.get(int(rid))
        if entry is not None:
            entry.outbound.cancel()
            entry.cancel()

    # --- requests answered here ---

    async def _answer(
        self,
        rid: int | str,
        request: _ToolCall | types.PaginatedRequestParams,
        params: dict[str, Any],
        entry: _InFlight,
    ) -> None:
        answer: bytes | None = None
        outbound = entry.outbound
        try:
            with entry.scope:
                try:
                    result = await self._handle(rid, request, params, entry)
                    answer = encode({"jsonrpc": "2.0", "id": rid, "result": result})
                except MCPError as exc:
                    answer = error_line(rid, exc.error.code, exc.error.message)
                except Exception as exc:
                    answer = error_line(rid, INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"[:500])
        finally:
            outbound.closed = True
            self.in_flight.pop(rid, None)
            task = asyncio.current_task()
            if task is not None:
                self._answering.discard(task)
        # A request the client cancelled is never answered (as the SDK does).
        if answer is not None and not outbound.cancelled:
            await self.writer.send(answer)

    async def _handle(
        self,
        rid: int | str,
        request: _ToolCall | types.PaginatedRequestParams,
        params: dict[str, Any],
        entry: _InFlight,
    ) -> dict[str, Any]:
        version = self.connection.protocol_version
        outbound = entry.outbound
        if not isinstance(request, _ToolCall):
            listed = await self.gateway.blocking(self.gateway.listing)
            dumped = listed.model_dump(by_alias=True, mode="json", exclude_none=True)
            return methods.serialize_server_result("tools/list", version, dumped)

        def context() -> ServerRequestContext[Any, Any]:
            return ServerRequestContext(
                session=ServerSession(outbound, self.connection),
                lifespan_context=self.lifespan_state,
                protocol_version=version,
                method="tools/call",
                params=params,
                request_id=rid,
            )

        session = self.session
        if session is None:  # the first call: the session is made, its end arranged
            session = self.session = self.gateway.session(context())
        # The result is built as it goes on the wire, in the shape (text content, an
        # object's structured content, isError, _meta) every handshake version shares,
        # so the SDK's model and per-version sieve would only validate it again.
        return await self.gateway.answer(
            session, request.name, request.arguments, context, entry.act
        )


@dataclass(frozen=True, slots=True)
class _ToolCall:
    """A ``tools/call`` request's parameters."""

    name: str
    arguments: dict[str, Any]
    progress_token: int | str | None


CALL_KEYS = frozenset({"name", "arguments", "_meta"})


def _tool_call(params: dict[str, Any]) -> _ToolCall | None:
    """The call ``params`` ask for as the SDK's model reads them, or None where the SDK is
    to answer (parameters it refuses, or task-augmented execution).

    The usual shape (a name, an object of arguments, a ``_meta`` with at most a progress
    token) is read directly, being what the model accepts unchanged; any other goes
    through the model."""
    name = params.get("name")
    arguments = params.get("arguments")
    meta: dict[str, Any] = params.get("_meta") or {}
    token = meta.get("progressToken")
    if (
        params.keys() <= CALL_KEYS
        and isinstance(name, str)
        and (arguments is None or isinstance(arguments, dict))
        and (token is None or request_id(token) is not None)
    ):
        return _ToolCall(name, dict(cast(dict[str, Any], arguments or {})), token)
    try:
        parsed = types.CallToolRequestParams.model_validate(params, by_name=False)
    except ValueError:
        return None
    if parsed.task is not None:  # task-augmented execution: the SDK's to refuse
        return None
    token = parsed.meta.get("progress_token") if parsed.meta is not None else None
    return _ToolCall(parsed.name, dict(parsed.arguments or {}), request_id(token))


def _listing(params: dict[str, Any]) -> types.PaginatedRequestParams | None:
    try:
        return types.PaginatedRequestParams.model_validate(params, by_name=False)
    except ValueError:
        return None
