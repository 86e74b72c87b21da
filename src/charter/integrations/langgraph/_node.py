"""The governed graph's ``ToolNode``: the calls of one model message run one after
another, in the message's order, in the node's own thread.

Charter governs a turn's calls one at a time anyway (the turn's run is held for each), and
an ``ask`` among them then always falls at the same place: a call before it ran, and is
answered from the journal when the node runs again on resume; a call after it waits for
the resume. LangGraph's ``ToolNode`` starts a thread pool on every run of the node, even
for one call; a node whose calls run in order has no use for it, and starting the pool's
thread cost more CPU than the governance of the call it ran.

LangGraph offers no public way to run a node's calls without its pool (its executor comes
from the config, and ``max_concurrency=1`` still starts a thread), so the loop follows
``ToolNode._func`` step by step. Which ``_func`` it follows is pinned by the digest of its
source: on any other (a LangGraph release that changed it), the node runs its calls
through ``ToolNode``'s own pool, one worker, and the test of the pin fails until the loop
has been reviewed against the new one.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import inspect
from typing import Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import get_config_list
from langgraph.prebuilt import ToolNode, ToolRuntime

_RUNTIME_FIELDS = frozenset(
    {
        "state",
        "context",
        "config",
        "stream_writer",
        "tool_call_id",
        "store",
        "tools",
        "execution_info",
        "server_info",
    }
)
"""The fields of ``ToolRuntime`` that :meth:`InOrderToolNode._func` fills, as
``ToolNode._func`` does."""

FOLLOWED = "da0073353f9152e1"
"""SHA-256 (first 16 hex digits) of the source of the ``ToolNode._func`` the inline loop
follows (langgraph-prebuilt 1.1.3, with langgraph 1.2.24)."""


def source_digest(node: type[Any]) -> str | None:
    """The digest of ``node._func``'s source (None when its source cannot be read)."""
    try:
        source = inspect.getsource(node._func)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def follows(node: type[Any]) -> bool:
    """Whether ``node`` (``ToolNode``) is the one the inline loop was written after: its
    ``_func`` the one pinned, its ``ToolRuntime`` fields and private steps as it used them."""
    return (
        source_digest(node) == FOLLOWED
        and frozenset(f.name for f in dataclasses.fields(ToolRuntime)) == _RUNTIME_FIELDS
        and all(
            callable(getattr(node, name, None))
            for name in ("_parse_input", "_extract_state", "_run_one", "_combine_tool_outputs")
        )
    )


INLINE = follows(ToolNode)
"""Whether this LangGraph's ``ToolNode`` is the one the inline loop was written after
(else the node runs its calls through ``ToolNode``'s own pool, one worker)."""


class InOrderToolNode(ToolNode):
    """A ``ToolNode`` running the calls of one model message one after another, in the
    message's order, without a thread pool (see the module's docstring)."""

    def _func(self, input: Any, config: RunnableConfig, runtime: Any) -> Any:
        if not INLINE:
            return super()._func(input, {**config, "max_concurrency": 1}, runtime)
        node: Any = self  # ToolNode's private steps, as its own ``_func`` takes them
        tool_calls, input_type = node._parse_input(input)
        outputs: list[Any] = []
        for call, call_config in zip(
            tool_calls, get_config_list(config, len(tool_calls)), strict=True
        ):
            tool_runtime = ToolRuntime(
                state=node._extract_state(input, call_config),
                tool_call_id=call["id"],
                config=call_config,
                context=runtime.context,
                store=runtime.store,
                stream_writer=runtime.stream_writer,
                tools=list(self.tools_by_name.values()),
                execution_info=runtime.execution_info,
                server_info=runtime.server_info,
            )
            # Each call in a copy of the node's context, as the pool ran it: a context
            # variable a tool sets does not leak into the next call.
            outputs.append(
                contextvars.copy_context().run(node._run_one, call, input_type, tool_runtime)
            )
        return node._combine_tool_outputs(outputs, input_type)
