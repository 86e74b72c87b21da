"""The governed tool node runs a message's calls one after another, in its order, in the
node's own thread, and gives each tool what LangGraph's ``ToolNode`` gives it."""

from __future__ import annotations

import contextvars
import threading
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool, tool
from langgraph.checkpoint.memory import MemorySaver

# langgraph.graph ships no py.typed marker (langgraph, langgraph.prebuilt and the rest do).
from langgraph.graph import (  # pyright: ignore[reportMissingTypeStubs]
    END,
    START,
    MessagesState,
    StateGraph,
)
from langgraph.prebuilt import ToolNode, ToolRuntime

from charter import Charter, Journal
from charter.integrations.langgraph import govern
from charter.integrations.langgraph._node import FOLLOWED, INLINE, follows, source_digest

CONFIG: Any = {"configurable": {"thread_id": "t-1"}}
ASK = {"messages": [("user", "look up three orders")]}

_SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="")
ran: list[dict[str, Any]] = []


@tool
def note_order(order_id: int, runtime: ToolRuntime[Any, Any]) -> str:
    """Look up an order, noting where and with what it ran."""
    ran.append(
        {
            "order_id": order_id,
            "thread": threading.get_ident(),
            "seen": _SEEN.get(),
            "call_id": runtime.tool_call_id,
            "graph_thread": runtime.config.get("configurable", {}).get("thread_id"),
            "last_message": runtime.state["messages"][-1],
            "tools": [t.name for t in runtime.tools],
        }
    )
    _SEEN.set(f"set by order {order_id}")
    return f"order {order_id}"


TOOLS: list[BaseTool] = [note_order]


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    ran.clear()
    return Journal(f"sqlite:///{tmp_path / 'charter.db'}")


def _three_calls() -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[
            {"name": "note_order", "args": {"order_id": n}, "id": f"c{n}"} for n in (3, 1, 2)
        ],
    )


def _governed(journal: Journal) -> tuple[Any, Any]:
    """A graph handing the model's whole message to the tool node (``create_react_agent``
    sends it each call as a task of its own instead)."""
    charter = Charter.model_validate({"name": "notes", "contracts": {"note_order": {}}})
    governor = govern(TOOLS, journal=journal, charter=charter, name="notes")
    builder: Any = StateGraph(MessagesState)  # its node and compile signatures hold Unknowns
    builder.add_node("model", lambda state: {"messages": [_three_calls()]})  # pyright: ignore[reportUnknownLambdaType]
    builder.add_node("tools", governor.tool_node)
    builder.add_edge(START, "model")
    builder.add_edge("model", "tools")
    builder.add_edge("tools", END)
    return governor, builder.compile(checkpointer=MemorySaver())


def test_this_langgraphs_tool_node_is_the_one_the_inline_loop_follows() -> None:
    # Else the node falls back on ToolNode's pool: still correct, no longer cheap.
    assert source_digest(ToolNode) == FOLLOWED, (
        "LangGraph's ToolNode._func changed: review InOrderToolNode._func against it, then "
        "pin the new source's digest in FOLLOWED"
    )
    assert INLINE, "LangGraph's ToolRuntime or ToolNode changed: review InOrderToolNode._func"


def test_a_tool_node_whose_func_changed_is_not_followed() -> None:
    class Changed(ToolNode):
        def _func(self, input: Any, config: Any, runtime: Any) -> Any:
            return super()._func(input, config, runtime)

    assert follows(ToolNode) and not follows(Changed)


def test_a_messages_calls_run_in_its_order_in_the_nodes_own_thread(journal: Journal) -> None:
    governor, app = _governed(journal)
    result = governor.invoke(app, ASK, CONFIG)
    assert [r["order_id"] for r in ran] == [3, 1, 2]
    assert {r["thread"] for r in ran} == {threading.get_ident()}  # no pool thread started
    answers = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert [(m.tool_call_id, m.content) for m in answers] == [
        ("c3", "order 3"),
        ("c1", "order 1"),
        ("c2", "order 2"),
    ]
    proposed = sorted(journal.records_of_kind("step.proposed"), key=lambda r: r.seq)
    actions = [r.payload["action"] for r in proposed]
    assert [a["args"]["order_id"] for a in actions if "args" in a] == [3, 1, 2]


def test_each_tool_gets_its_own_runtime_as_the_tool_node_gives_it(journal: Journal) -> None:
    governor, app = _governed(journal)
    governor.invoke(app, ASK, CONFIG)
    assert [r["call_id"] for r in ran] == ["c3", "c1", "c2"]
    assert {r["graph_thread"] for r in ran} == {"t-1"}
    assert all(r["last_message"].tool_calls == _three_calls().tool_calls for r in ran)
    assert all(r["tools"] == ["note_order"] for r in ran)


def test_a_context_variable_one_call_sets_does_not_reach_the_next(journal: Journal) -> None:
    governor, app = _governed(journal)
    governor.invoke(app, ASK, CONFIG)
    assert [r["seen"] for r in ran] == ["", "", ""]
    assert _SEEN.get() == ""


def test_a_langgraph_the_loop_does_not_follow_runs_the_calls_in_order_in_its_pool(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("charter.integrations.langgraph._node.INLINE", False)
    governor, app = _governed(journal)
    result = governor.invoke(app, ASK, CONFIG)
    assert [r["order_id"] for r in ran] == [3, 1, 2]
    assert threading.get_ident() not in {r["thread"] for r in ran}  # ToolNode's own pool
    answers = [m.content for m in result["messages"] if isinstance(m, ToolMessage)]
    assert answers == ["order 3", "order 1", "order 2"]
    assert len(journal.records_of_kind("step.effect")) == 3
