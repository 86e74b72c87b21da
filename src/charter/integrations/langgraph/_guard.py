"""A LangChain callback that refuses, before it runs, any tool a governed graph starts
without charter having allowed it (a node calling an unwrapped tool, a ``ToolNode`` of
its own without charter's hook).

LangChain starts every tool run through its callbacks (``on_tool_start``, before the
tool's code), and a graph hands its config's callbacks down to whatever a node invokes;
a handler with ``raise_error`` set stops the tool there. What it cannot see: a tool's
function called as plain Python (``my_tool.func(...)``), or a graph driven without the
guard in its config.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Generator, Mapping
from typing import Any, cast
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler, BaseCallbackManager

from charter.errors import CharterError

MARK = "charter_governed"
"""The metadata key a governed tool wrapper carries (its tool's name)."""

_PERMIT: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "charter_langgraph_permit", default=None
)


class UngovernedToolCall(CharterError):
    """A tool started inside a governed graph without going through charter."""


@contextlib.contextmanager
def permitted(name: str) -> Generator[None]:
    """Let the tool ``name`` start in this context: charter allowed this call of it."""
    token = _PERMIT.set(name)
    try:
        yield
    finally:
        _PERMIT.reset(token)


class ToolGuard(BaseCallbackHandler):
    """Refuses a tool run charter did not allow (see the module's docstring)."""

    raise_error = True
    run_inline = True

    # Only a tool's start matters (LangChain sends it under ``ignore_agent``): every other
    # event skips this handler instead of calling a method that does nothing. Plain class
    # attributes, not properties: LangChain reads one for every event of every runnable.
    ignore_llm = True  # pyright: ignore[reportAssignmentType, reportIncompatibleMethodOverride]
    """Model events are not this handler's."""
    ignore_chain = True  # pyright: ignore[reportAssignmentType, reportIncompatibleMethodOverride]
    """Chain events (every node and runnable of the graph) are not this handler's."""
    ignore_retriever = True  # pyright: ignore[reportAssignmentType, reportIncompatibleMethodOverride]
    """Retriever events are not this handler's."""
    ignore_chat_model = True  # pyright: ignore[reportAssignmentType, reportIncompatibleMethodOverride]
    """Chat model events are not this handler's."""
    ignore_retry = True  # pyright: ignore[reportAssignmentType, reportIncompatibleMethodOverride]
    """Retry events are not this handler's."""
    ignore_custom_event = True  # pyright: ignore[reportAssignmentType, reportIncompatibleMethodOverride]
    """Custom events are not this handler's."""

    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Raise :class:`UngovernedToolCall` unless charter allowed this tool's run."""
        name = str((serialized or {}).get("name") or kwargs.get("name") or "")
        if _PERMIT.get() == name or (metadata or {}).get(MARK) == name:
            return None
        thread = (metadata or {}).get("thread_id", "")
        raise UngovernedToolCall(
            f"tool {name!r} started in governed graph thread {thread!r} without charter: "
            "give the node governor.governed_tools() (or the governor's tool_node) instead "
            "of the tool itself"
        )


def with_guard(config: Mapping[str, Any], guard: ToolGuard) -> dict[str, Any]:
    """``config`` with ``guard`` among its callbacks (once)."""
    found: Any = config.get("callbacks")
    if isinstance(found, BaseCallbackManager):
        manager = found.copy()
        if guard not in manager.handlers:
            manager.add_handler(guard, inherit=True)
        return {**config, "callbacks": manager}
    handlers = list(cast(list[Any], found or []))
    if guard not in handlers:
        handlers.append(guard)
    return {**config, "callbacks": handlers}
