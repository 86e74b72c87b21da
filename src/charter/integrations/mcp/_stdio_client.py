"""A stdio MCP server process with ``tools/call`` read straight off its pipe.

The SDK's client session opens and speaks with the server (the handshake, listing,
pings, anything the server asks or announces), over this transport instead of the SDK's
own stdio one. A ``tools/call`` charter makes goes around the SDK's session: written as
one line with an id of its own (a string the session never mints), its answer picked out
of the server's output where it arrives, its result read once (:class:`~._wire.ToolAnswer`).
A server that refuses the handshake, speaking only the 2026-07-28 era, is served through
the SDK's own session instead (see :mod:`._connection`). A server's process is started and
stopped as the SDK does it (its own process group, a safe environment; stdin closed, then
terminated, then killed, each step bounded).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
from collections import deque
from collections.abc import AsyncGenerator
from typing import Any, TextIO

import anyio
import anyio.lowlevel

try:
    import mcp_types as types
    from mcp import StdioServerParameters
    from mcp.client.stdio import get_default_environment
    from mcp.shared.exceptions import MCPError
    from mcp.shared.message import SessionMessage
    from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
except ImportError as exc:  # the package's __init__ says so first; this is for direct imports
    raise ImportError("MCP toolsets need the mcp extra: pip install 'charter[mcp]'") from exc

from charter.integrations.mcp._wire import (
    LineReader,
    LineWriter,
    ToolAnswer,
    decode,
    encode,
    sdk_line,
    to_sdk,
)

MAX_ANSWER = 256 * 1024 * 1024
"""The longest message read from a server (bytes)."""
STOP_GRACE_S = 2.0
"""How long a server gets to exit once its stdin is closed, then once terminated."""
BACKLOG = 256


class ServerGone(ConnectionError):
    """The server's output ended (it exited or closed stdout) before it answered."""


class _Process(asyncio.SubprocessProtocol):
    """The process and its stdin. Its stdout is a pipe of charter's own, read by the
    server's :class:`~._wire.LineReader` as data arrives: through the subprocess transport,
    each chunk would wait one more turn of the event loop."""

    def __init__(self, owner: StdioServer) -> None:
        self.owner = owner

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 0:
            self.owner.writer.connection_lost(exc)

    def pause_writing(self) -> None:
        self.owner.writer.pause_writing()

    def resume_writing(self) -> None:
        self.owner.writer.resume_writing()


class StdioServer:
    """One server process: :meth:`streams` is the SDK session's transport, and
    :meth:`call_tool` calls a tool around it once that session is initialized."""

    def __init__(
        self, params: StdioServerParameters, errlog: TextIO, *, limit: int = MAX_ANSWER
    ) -> None:
        self.params = params
        self.errlog = errlog
        self.reader = LineReader(self._line, self._oversized, self.ended, limit)
        self.writer = LineWriter()
        self.protocol_version: str | None = None
        """The version the SDK's session negotiated (set by the connection once open):
        calls go around the session only on a handshake-era version."""
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = 0
        self._backlog: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._ended = asyncio.Event()
        self._transport: asyncio.SubprocessTransport | None = None

    @property
    def fast(self) -> bool:
        """Whether calls go around the SDK's session."""
        return self.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS and not self._ended.is_set()

    @contextlib.asynccontextmanager
    async def streams(self) -> AsyncGenerator[Any]:
        """Start the server; yield the SDK session's read and write streams; stop it."""
        loop = asyncio.get_running_loop()
        env = get_default_environment() | (self.params.env or {})
        output, its_output = os.pipe()
        try:
            transport, _ = await loop.subprocess_exec(
                lambda: _Process(self),
                self.params.command,
                *self.params.args,
                stdin=asyncio.subprocess.PIPE,
                stdout=its_output,
                stderr=self.errlog,
                env=env,
                cwd=self.params.cwd,
                start_new_session=True,
            )
        except BaseException:
            os.close(output)
            raise
        finally:
            os.close(its_output)  # the server's now: its end closes the pipe
        self._transport = transport
        self.writer.transport = transport.get_pipe_transport(0)  # type: ignore[assignment]
        pipe = os.fdopen(output, "rb", buffering=0)
        stdout: asyncio.ReadTransport | None = None
        sdk_in_send, sdk_in = anyio.create_memory_object_stream[SessionMessage | Exception](
            math.inf
        )
        sdk_out, sdk_out_receive = anyio.create_memory_object_stream[SessionMessage](0)

        async def forward() -> None:
            async with sdk_in_send:
                while True:
                    while self._backlog:
                        try:
                            sdk_in_send.send_nowait(to_sdk(self._backlog.popleft()))
                        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                            return  # the session is gone
                        await anyio.lowlevel.checkpoint()
                    if stdout is not None:
                        with contextlib.suppress(RuntimeError):
                            stdout.resume_reading()
                    if self._ended.is_set():
                        return
                    self._wake.clear()
                    await self._wake.wait()

        async def write() -> None:
            async with sdk_out_receive:
                async for message in sdk_out_receive:
                    await self.writer.send(sdk_line(message))

        try:
            # The end of its output, not the process's exit, ends the session: an answer
            # written just before exiting may still be in the pipe when the exit is seen.
            stdout, _ = await loop.connect_read_pipe(lambda: self.reader, pipe)
            async with anyio.create_task_group() as tg:
                tg.start_soon(forward)
                tg.start_soon(write)
                try:
                    yield sdk_in, sdk_out
                finally:
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self._stop()
            if stdout is not None:
                stdout.close()
            else:
                pipe.close()
            self.ended()

    async def call_tool(
        self, name: str, args: dict[str, Any], timeout: float | None = None
    ) -> ToolAnswer:
        """Call ``name`` on the server; a call given up (cancelled, or unanswered within
        ``timeout`` seconds) is cancelled on the server too.

        Raises:
            MCPError: the server answered with a JSON-RPC error.
            ServerGone: the server's output ended before it answered.
            TimeoutError: no answer within ``timeout``.
            pydantic.ValidationError: the answer is no tool call's result.
        """
        if self._ended.is_set():
            raise ServerGone("the server's output ended")
        self._ids += 1
        rid = f"charter-{self._ids}"
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending[rid] = answer
        # A timer on the answer rather than a timeout scope round the task: the same
        # bound, for a fraction of the event-loop work.
        expiry = None if timeout is None else loop.call_later(timeout, _expire, answer)
        params = {"name": name, "arguments": args}
        try:
            # Written at once, not waiting on a server that does not read: the timer
            # bounds the call either way.
            self.writer.write(
                encode({"jsonrpc": "2.0", "id": rid, "method": "tools/call", "params": params})
            )
            body = await answer
        except BaseException as exc:
            # Given up (awaiting it cancelled the future too): the server may stop.
            if not answer.done() or answer.cancelled() or isinstance(exc, TimeoutError):
                self.writer.write(
                    encode(
                        {
                            "jsonrpc": "2.0",
                            "method": "notifications/cancelled",
                            "params": {"requestId": rid, "reason": "caller cancelled"},
                        }
                    )
                )
            raise
        finally:
            self._pending.pop(rid, None)
            if expiry is not None:
                expiry.cancel()
        error = body.get("error")
        if error is not None:
            data = types.ErrorData.model_validate(error)
            raise MCPError(code=data.code, message=data.message, data=data.data)
        return ToolAnswer.read(body.get("result"))

    def ended(self) -> None:
        """The server's output ended: calls waiting fail, the SDK's session sees EOF."""
        if self._ended.is_set():
            return
        self._ended.set()
        self._wake.set()
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(ServerGone("the server's output ended before it answered"))

    # --- the server's lines, as they arrive ---

    def _line(self, line: bytes) -> None:
        if self._pending and b'"charter-' in line:
            try:
                body = decode(line)
            except ValueError:
                body = None
            if isinstance(body, dict) and "method" not in body:
                answer = self._pending.get(str(body.get("id")))  # type: ignore[union-attr]
                if answer is not None and not answer.done():
                    answer.set_result(body)  # type: ignore[arg-type]
                    return
        self._backlog.append(line)
        self._wake.set()
        if len(self._backlog) > BACKLOG and self.reader.transport is not None:
            self.reader.transport.pause_reading()

    def _oversized(self) -> None:
        # Whose answer it was is unknown: every call waiting fails (the session is then
        # dropped by its caller) rather than waiting for an answer that was thrown away.
        for answer in self._pending.values():
            if not answer.done():
                answer.set_exception(
                    ServerGone(f"the server sent a message over {self.reader.limit} bytes")
                )

    async def _stop(self) -> None:
        transport = self._transport
        if transport is None:
            return
        stdin = transport.get_pipe_transport(0)
        if stdin is not None:
            stdin.close()
        if not await self._exited(transport, STOP_GRACE_S):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(OSError):
                    os.killpg(transport.get_pid(), sig)
                if await self._exited(transport, STOP_GRACE_S):
                    break
        transport.close()

    @staticmethod
    async def _exited(transport: asyncio.SubprocessTransport, within: float) -> bool:
        deadline = anyio.current_time() + within
        while transport.get_returncode() is None:
            if anyio.current_time() >= deadline:
                return False
            await anyio.sleep(0.01)
        return True


def _expire(answer: asyncio.Future[Any]) -> None:
    if not answer.done():
        answer.set_exception(TimeoutError("no answer in time"))
