"""Line-delimited JSON-RPC on raw pipes: the framing both of charter's stdio transports
(the gateway's server side, and its client side to upstream servers) share.

The SDK's stdio transports read a line on a worker thread, validate it into a Pydantic
message, and hand it through a memory stream to a task per request; their answers go back
the same way. For the few messages a gateway handles on every call (``tools/call``), that
machinery costs more than the call: here a line is parsed once where it arrives (by
pydantic's JSON parser, the one the SDK validates its messages with, several times faster
than :mod:`json`), and the transports answer such messages themselves. Every other message
is handed to the SDK, validated exactly as its own transport would (:func:`to_sdk`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from pydantic_core import from_json, to_json

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
    """One JSON-RPC message as a line (compact, UTF-8)."""
    return to_json(message) + b"\n"


def decode(line: bytes) -> Any:
    """A line's JSON value.

    Raises:
        ValueError: the line is not JSON (or not UTF-8, or holds a lone surrogate, which
            the SDK's parser refuses too).
    """
    return from_json(line)


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


@dataclass(frozen=True, slots=True)
class ToolAnswer:
    """What charter reads of a ``tools/call`` result: its text, its structured content and
    whether the tool failed."""

    text: str
    """The text of its text blocks, one block a line."""
    structured_content: Any
    """Its structured content (None when it gave none)."""
    is_error: bool
    """Whether the tool reported an error."""

    @classmethod
    def of(cls, result: types.CallToolResult) -> ToolAnswer:
        """The answer an SDK result gives."""
        texts = [getattr(block, "text", None) for block in result.content]
        text = "\n".join(t for t in texts if isinstance(t, str))
        return cls(text, result.structured_content, result.is_error)

    @classmethod
    def read(cls, result: Any) -> ToolAnswer:
        """The answer in a ``tools/call`` result as it came off the wire, validated as the
        SDK validates one.

        A result of text blocks only is read directly (validating the SDK's model would
        cost more than the call's own transport); any other is validated by the model.

        Raises:
            pydantic.ValidationError: the result is not a tool call's result.
        """
        plain = _plain_text(result)
        if plain is None:
            return cls.of(types.CallToolResult.model_validate(result, by_name=False))
        body = cast(dict[str, Any], result)
        return cls(plain, body.get("structuredContent"), body.get("isError", False))


def _plain_text(result: Any) -> str | None:
    """The text of ``result`` when it is a result the SDK's model accepts as it is: text
    blocks without annotations, a boolean ``isError``, ``_meta`` an object (None for any
    other shape, left to the model). Keys the model does not know are ignored, as it does."""
    if not isinstance(result, dict):
        return None
    body = cast(dict[str, Any], result)
    content = body.get("content")
    if not isinstance(content, list):
        return None
    texts: list[str] = []
    for block in cast(list[Any], content):
        if not isinstance(block, dict):
            return None
        item = cast(dict[str, Any], block)
        text = item.get("text")
        if item.get("type") != "text" or not isinstance(text, str):
            return None
        if item.get("annotations") is not None or not _meta_ok(item):
            return None
        texts.append(text)
    if not isinstance(body.get("isError", False), bool) or not _meta_ok(body):
        return None
    if not isinstance(body.get("resultType", ""), str):
        return None
    return "\n".join(texts)


def _meta_ok(body: dict[str, Any]) -> bool:
    meta = body.get("_meta")
    return meta is None or isinstance(meta, dict)
