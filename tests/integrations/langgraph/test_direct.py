"""A graph's own node calling tools itself (``tool.invoke(...)``): through
``governed_tools()`` each call is governed in the turn's run like the tool node's; a tool
the node starts without charter is refused before it runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool, tool
from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from tests.integrations.langgraph.graphs import (
    TOOLS,
    call,
    charter,
    lookup_order,
    refund_order,
    refunds,
)

from charter import Journal
from charter.errors import CharterError
from charter.integrations.langgraph import (
    LangGraphGovernor,
    ToolCallRefused,
    UngovernedToolCall,
    govern,
    iter_interrupts,
    resume_command,
)
from charter.runtime._approvals import Approvals

CONFIG: Any = {"configurable": {"thread_id": "t-1"}}
ASK = {"messages": [("user", "refund order 1042")]}
ASKS = [{"id": "refunds-ask", "effect": "ask", "tools": ["refund_order"]}]
LOOKUPS: list[int] = []


@tool
def counted_lookup(order_id: int) -> dict[str, Any]:
    """Look up an order (counting how often it really ran)."""
    LOOKUPS.append(order_id)
    return {"order_id": order_id, "total": 42.0}


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    LOOKUPS.clear()
    return Journal(f"sqlite:///{tmp_path / 'charter.db'}")


def _governor(journal: Journal, **extra: Any) -> LangGraphGovernor:
    contracts = {
        "counted_lookup": {},
        "lookup_order": {},
        "refund_order": {"side_effect": "write", "targets": ["order_id"]},
    }
    return govern(
        [*TOOLS, counted_lookup],
        journal=journal,
        charter=charter(contracts=contracts, **extra),
        name="refunds",
    )


def _graph(node: Any, saver: Any = None) -> Any:
    builder = StateGraph(MessagesState)
    builder.add_node("work", node)
    builder.add_edge(START, "work")
    builder.add_edge("work", END)
    return builder.compile(checkpointer=saver)


def _tools(governor: LangGraphGovernor) -> dict[str, BaseTool]:
    return {t.name: t for t in governor.governed_tools()}


def _run(journal: Journal) -> list[Any]:
    (started,) = journal.records_of_kind("run.started")
    return list(journal.records(started.run_id))


def test_a_nodes_own_calls_are_governed_and_journaled_in_the_turns_run(journal: Journal) -> None:
    governor = _governor(journal)
    tools = _tools(governor)

    def work(state: MessagesState) -> dict[str, Any]:
        order = tools["counted_lookup"].invoke({"order_id": 1042})
        done = tools["refund_order"].invoke({"order_id": 1042, "amount": order["total"]})
        return {"messages": [AIMessage(content=done)]}

    governor.invoke(_graph(work), ASK, CONFIG)
    assert refunds() == [(1042, 42.0)] and LOOKUPS == [1042]
    records = _run(journal)
    assert records[0].payload["goal"] == "refund order 1042"
    effects = [r.payload["tool"] for r in records if r.kind == "step.effect"]
    assert effects == ["counted_lookup", "refund_order"]
    assert records[-1].kind == "run.finished" and records[-1].payload["status"] == "completed"


def test_a_tool_the_charter_does_not_name_is_refused_in_the_node(journal: Journal) -> None:
    governor = _governor(journal)
    (wire,) = governor.governed_tools([t for t in TOOLS if t.name == "wire_money"])
    refusals: list[str] = []

    def work(state: MessagesState) -> dict[str, Any]:
        try:
            wire.invoke({"to": "attacker"})
        except ToolCallRefused as exc:
            refusals.append(str(exc))
        return {"messages": [AIMessage(content="gave up")]}

    governor.invoke(_graph(work), ASK, CONFIG)
    assert len(refusals) == 1 and "unknown tool 'wire_money'" in refusals[0]
    kinds = [r.kind for r in _run(journal)]
    assert "step.effect" not in kinds and kinds[-1] == "run.finished"


def test_a_denied_call_does_not_run_and_the_node_sees_why(journal: Journal) -> None:
    deny = [{"id": "no-refunds", "effect": "deny", "tools": ["refund_order"]}]
    governor = _governor(journal, rules=deny)
    tools = _tools(governor)

    def work(state: MessagesState) -> dict[str, Any]:
        tools["refund_order"].invoke({"order_id": 1042, "amount": 42.0})
        return {"messages": []}

    with pytest.raises(ToolCallRefused, match="no-refunds"):
        governor.invoke(_graph(work), ASK, CONFIG)
    assert refunds() == []


def test_an_unwrapped_tool_a_node_calls_is_stopped_before_it_runs(journal: Journal) -> None:
    governor = _governor(journal)

    def work(state: MessagesState) -> dict[str, Any]:
        refund_order.invoke({"order_id": 1042, "amount": 42.0})
        return {"messages": []}

    with pytest.raises(UngovernedToolCall, match="refund_order"):
        governor.invoke(_graph(work), ASK, CONFIG)
    assert refunds() == []
    assert journal.records_of_kind("step.effect") == []


def test_a_plain_tool_node_in_a_governed_graph_is_stopped_too(journal: Journal) -> None:
    governor = _governor(journal)
    builder = StateGraph(MessagesState)
    script = call("refund_order", {"order_id": 1042, "amount": 42.0}, "c1")
    builder.add_node("model", lambda state: {"messages": [script]})
    builder.add_node("tools", ToolNode(TOOLS))
    builder.add_edge(START, "model")
    builder.add_edge("model", "tools")
    builder.add_edge("tools", END)
    with pytest.raises(UngovernedToolCall):
        governor.invoke(builder.compile(), ASK, CONFIG)
    assert refunds() == []


def test_the_guard_follows_a_config_the_caller_drives_the_graph_with(journal: Journal) -> None:
    governor = _governor(journal)

    def work(state: MessagesState) -> dict[str, Any]:
        lookup_order.invoke({"order_id": 7})
        return {"messages": []}

    app = _graph(work)
    with pytest.raises(UngovernedToolCall):
        app.invoke(ASK, governor.guarded({**CONFIG, "callbacks": []}))
    with pytest.raises(UngovernedToolCall):
        asyncio.run(app.ainvoke(ASK, governor.guarded(CONFIG)))


def test_an_ask_interrupts_and_the_resumed_node_does_not_rerun_earlier_calls(
    journal: Journal,
) -> None:
    governor = _governor(journal, rules=ASKS)
    tools = _tools(governor)

    def work(state: MessagesState) -> dict[str, Any]:
        first = tools["counted_lookup"].invoke({"order_id": 1042})
        second = tools["counted_lookup"].invoke({"order_id": 1042})  # same call, made twice
        done = tools["refund_order"].invoke({"order_id": 1042, "amount": first["total"]})
        return {"messages": [AIMessage(content=f"{done} ({second['total']})")]}

    app = _graph(work, MemorySaver())
    (payload,) = iter_interrupts(governor.invoke(app, ASK, CONFIG))
    assert payload["tool"] == "refund_order" and refunds() == []
    assert LOOKUPS == [1042, 1042]
    Approvals(journal).approve(payload["request_id"], "alice", "ok")
    result = governor.invoke(app, resume_command(payload["request_id"]), CONFIG)
    assert result["messages"][-1].content == "refunded 42.00 on order 1042 (42.0)"
    assert LOOKUPS == [1042, 1042] and refunds() == [(1042, 42.0)]
    records = _run(journal)
    effects = [r.payload["tool"] for r in records if r.kind == "step.effect"]
    assert effects == ["counted_lookup", "counted_lookup", "refund_order"]
    assert [r.kind for r in records].count("approval.used") == 1


def test_async_nodes_call_governed_tools_with_ainvoke(journal: Journal) -> None:
    governor = _governor(journal)
    tools = _tools(governor)

    async def work(state: MessagesState) -> dict[str, Any]:
        order = await tools["counted_lookup"].ainvoke({"order_id": 9})
        return {"messages": [AIMessage(content=str(order["total"]))]}

    app = _graph(work, MemorySaver())
    result = asyncio.run(app.ainvoke(ASK, governor.guarded(CONFIG)))
    governor.finish(app, CONFIG)
    assert result["messages"][-1].content == "42.0" and LOOKUPS == [9]
    records = _run(journal)
    assert records[-1].kind == "run.finished"
    assert [r.payload["tool"] for r in records if r.kind == "step.effect"] == ["counted_lookup"]


def test_a_governed_tool_outside_a_graph_is_refused(journal: Journal) -> None:
    (lookup,) = _governor(journal).governed_tools([counted_lookup])
    with pytest.raises(CharterError, match="outside a graph node"):
        lookup.invoke({"order_id": 1})
    assert LOOKUPS == []


def test_the_tool_node_path_still_runs_under_the_guard(journal: Journal) -> None:
    governor = _governor(journal)
    builder = StateGraph(MessagesState)
    script = call("lookup_order", {"order_id": 3}, "c1")
    builder.add_node("model", lambda state: {"messages": [script]})
    builder.add_node("tools", governor.tool_node)
    builder.add_edge(START, "model")
    builder.add_edge("model", "tools")
    builder.add_edge("tools", END)
    result = governor.invoke(builder.compile(), ASK, CONFIG)
    answers = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert [m.status for m in answers] == ["success"]


def test_a_graph_without_messages_is_one_turn_per_thread(journal: Journal) -> None:
    from typing import TypedDict

    from charter.integrations.langgraph import GovernedRunStopped

    class Order(TypedDict):
        order_id: int
        found: Any

    governor = _governor(journal)
    tools = _tools(governor)

    def work(state: Order) -> dict[str, Any]:
        return {"found": tools["counted_lookup"].invoke({"order_id": state["order_id"]})}

    builder = StateGraph(Order)
    builder.add_node("work", work)
    builder.add_edge(START, "work")
    builder.add_edge("work", END)
    app = builder.compile()
    result = governor.invoke(app, {"order_id": 5}, {"configurable": {"thread_id": "o-1"}})
    assert result["found"] == {"order_id": 5, "total": 42.0}
    (started,) = journal.records_of_kind("run.started")
    assert started.payload["goal"] == "(no goal)"
    with pytest.raises(GovernedRunStopped, match="start a new turn"):
        governor.invoke(app, {"order_id": 6}, {"configurable": {"thread_id": "o-1"}})
    governor.invoke(app, {"order_id": 7}, {"configurable": {"thread_id": "o-2"}})
    assert LOOKUPS == [5, 7]
