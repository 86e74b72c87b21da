"""Line-delimited JSON-RPC on raw pipes: the framing both of charter's stdio transports
(the gateway's server side, and its client side to upstream servers) share.

The SDK's stdio transports read a line on a worker thread, validate it into a Pydantic
message, and hand it through a memory stream to a task per request; their answers go back
the same way. For the few messages a gateway handles on every call (``tools/call``), that
machinery costs more than the call: here a line is parsed once with :func:`json.loads`
where it arrives, and the transports answer such messages themselves. Every other message
is handed to the SDK, validated exactly as its own transport would (:func:`to_sdk`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

try:
    import mcp_types as types
    from mcp.shared.message import SessionMessage
except ImportError as exc:  # the package's __init__ says so first; this is for direct imports
    raise ImportError("MCP needs the mcp extra: pip install 'charter[mcp]'") from exc

MAX_LINE = 16 * 1024 * 1024
"""The longest message accepted (bytes); a longer line is discarded whole."""
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603


class LineReader(asyncio.Protocol):
    """A read pipe cut into lines, each handed to ``on_line`` as it completes (in the
    event loop's callback, no task in between); a line over ``limit`` bytes is dropped
    whole and reported once to ``on_oversized``."""

    def __init__(
        self,
        on_line: Callable[[bytes], None],
        on_oversized: Callable[[], None],
        on_eof: Callable[[], None],
        limit: int = MAX_LINE,
    ) -> None:
        self.on_line = on_line
        self.on_oversized = on_oversized
        self.on_eof = on_eof
        self.limit = limit
        self.transport: asyncio.ReadTransport | None = None
        self._partial = bytearray()
        self._skipping = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport (for pausing reads)."""
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        """Cut ``data`` into lines."""
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            if self._skipping:
                self._skipping = False
                self.on_oversized()
            elif self._partial:
                self._partial += data[start:end]
                line = bytes(self._partial)
                self._partial.clear()
                self._deliver(line)
            else:
                self._deliver(data[start:end])
            start = end + 1
        rest = data[start:]
        if self._skipping or not rest:
            return
        self._partial += rest
        if len(self._partial) > self.limit:
            self._partial.clear()
            self._skipping = True

    def _deliver(self, line: bytes) -> None:
        if len(line) > self.limit:
            self.on_oversized()
        elif line.strip():
            self.on_line(line)

    def eof_received(self) -> bool | None:
        """The peer closed the pipe."""
        self.on_eof()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """The pipe is gone (an error, or closed after EOF)."""
        self.on_eof()


class LineWriter(asyncio.Protocol):
    """The write side of a pipe: :meth:`send` writes at once and waits only while the
    peer is not reading (the pipe's buffer is full)."""

    def __init__(self) -> None:
        self.transport: asyncio.WriteTransport | None = None
        self._resumed: asyncio.Event | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self.transport = transport  # type: ignore[assignment]

    def pause_writing(self) -> None:
        """The pipe's buffer is full: senders wait."""
        self._resumed = asyncio.Event()

    def resume_writing(self) -> None:
        """The pipe drained."""
        if self._resumed is not None:
            self._resumed.set()
            self._resumed = None

    def connection_lost(self, exc: Exception | None) -> None:
        """The peer closed its end: every later write is dropped."""
        self.closed = True
        self.resume_writing()

    def write(self, data: bytes) -> None:
        """Write ``data`` now (buffered by the transport if the pipe is full)."""
        if self.transport is not None and not self.closed and not self.transport.is_closing():
            self.transport.write(data)

    async def send(self, data: bytes) -> None:
        """Write ``data``, then wait while the peer is not reading."""
        self.write(data)
        resumed = self._resumed
        if resumed is not None:
            await resumed.wait()


def encode(message: dict[str, Any]) -> bytes:
    """One JSON-RPC message as a line."""
    return (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def error_line(request_id: Any, code: int, message: str) -> bytes:
    """A JSON-RPC error answer as a line (``request_id`` None when it is unknown)."""
    return encode({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}})


def to_sdk(line: bytes) -> SessionMessage | Exception:
    """A line as the SDK's own stdio transports make it: validated into a message, or the
    validation error as a value."""
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except Exception as exc:
        return exc


def request_id(value: Any) -> int | str | None:
    """A JSON-RPC id as MCP allows it (an integer or a string), else None."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return None


def sdk_line(message: SessionMessage) -> bytes:
    """An SDK message as a line, as the SDK's stdio transports write it."""
    return (message.message.model_dump_json(by_alias=True, exclude_unset=True) + "\n").encode()
