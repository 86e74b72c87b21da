"""Tools a graph's own node calls (``tool.invoke(...)``), governed as the governor's
``ToolNode`` governs a model's calls: the same run of the thread's turn, the same
decision, the same records, an ``ask`` interrupting the graph.

A call in a node has no model-given id; it is named by the node's task (stable when the
node runs again on resume) and its place among the node's governed calls, so a call that
ran before an interrupt returns its recorded answer when the node runs again instead of
running twice. Calls a node makes in parallel threads have no stable place: make them in
order. A graph state without ``messages`` has no user turn to bind a run to: its thread
is one turn (one charter run), so such a graph takes a thread per task.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from langchain_core.messages import ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from pydantic import ConfigDict

from charter.errors import CharterError
from charter.integrations.langgraph._guard import MARK

if TYPE_CHECKING:
    from charter.integrations.langgraph._governor import LangGraphGovernor

_READ = "__pregel_read"
_SCRATCHPAD = "__pregel_scratchpad"


class ToolCallRefused(CharterError):
    """Charter did not run a call a node made through a governed tool (denied, or
    waiting for another call's approval); the message says why."""


class DirectCalls:
    """The place of each governed call among its node's calls (per node execution)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[Any, int]] = {}

    def next_id(self, configurable: dict[str, Any]) -> str:
        """The id of the next governed call of the node task ``configurable`` is of."""
        task = str(configurable.get("checkpoint_ns") or "")
        scratchpad = configurable.get(_SCRATCHPAD)
        with self._lock:
            held, count = self._seen.get(task, (None, 0))
            count = count + 1 if held is scratchpad else 0  # a new execution starts at 0
            self._seen[task] = (scratchpad, count)
            if len(self._seen) > 4096:  # tasks long done: forget the oldest
                for key in list(self._seen)[:2048]:
                    del self._seen[key]
        return f"node:{task}#{count}"


class GovernedTool(BaseTool):
    """A LangChain tool whose every call, made by a graph node, charter governs first."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: BaseTool
    """The tool charter runs once it allows the call."""
    governor: Any
    """The :class:`LangGraphGovernor` that governs it."""

    def _run(self, config: RunnableConfig, **kwargs: Any) -> Any:
        return _call(self.governor, self.inner, kwargs, config, None)

    async def _arun(self, config: RunnableConfig, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await asyncio.to_thread(_call, self.governor, self.inner, kwargs, config, loop)


def governed(governor: LangGraphGovernor, tool: BaseTool) -> GovernedTool:
    """``tool`` wrapped so that calling it in a node of a governed graph is governed."""
    return GovernedTool(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        metadata={**(tool.metadata or {}), MARK: tool.name},
        inner=tool,
        governor=governor,
    )


def _call(
    governor: LangGraphGovernor,
    tool: BaseTool,
    args: dict[str, Any],
    config: RunnableConfig,
    loop: asyncio.AbstractEventLoop | None,
) -> Any:
    configurable: dict[str, Any] = config.get("configurable") or {}
    read = configurable.get(_READ)
    if read is None:
        raise CharterError(
            f"governed tool {tool.name!r} was called outside a graph node: it is governed "
            "as part of a graph thread's turn; call the tool itself outside a graph"
        )
    try:
        messages = cast(Callable[[str], Any], read)("messages")
    except (KeyError, ValueError):  # a graph state without messages: no turn goal
        messages = []
    call: dict[str, Any] = {
        "name": tool.name,
        "args": args,
        "id": governor.direct_calls.next_id(configurable),
    }
    ran: dict[str, Any] = {}

    def execute(allowed: dict[str, Any]) -> ToolMessage:
        try:
            if loop is None:
                output = tool.invoke(allowed["args"], config)
            else:
                output = asyncio.run_coroutine_threadsafe(
                    tool.ainvoke(allowed["args"], config), loop
                ).result()
        except Exception as exc:
            ran["error"] = exc
            raise
        ran["output"] = output
        text = _text(output)
        ran["text"] = text
        return ToolMessage(content=text, name=tool.name, tool_call_id=call["id"])

    answer = governor.govern_call(call, {"messages": messages}, config, execute)
    if "error" in ran:
        raise ran["error"]
    if not isinstance(answer, ToolMessage):  # a Command: the tool itself returned one
        return ran.get("output", answer)
    if answer.status == "error":
        raise ToolCallRefused(_text(answer.content))
    if "output" in ran and answer.content == ran["text"]:
        return ran["output"]
    return _loaded(answer.content)  # recorded before the node ran again, or withheld


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return str(value)


def _loaded(content: Any) -> Any:
    if not isinstance(content, str):
        return content
    try:
        return json.loads(content)
    except ValueError:
        return content
