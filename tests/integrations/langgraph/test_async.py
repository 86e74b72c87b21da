"""A graph run with ``ainvoke`` over an async tool: governed the same way, the ask
interrupting and the approved call resuming."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import MemorySaver
from tests.integrations.langgraph.graphs import call, graph

from charter import Charter, Journal
from charter.integrations.langgraph import govern, iter_interrupts, resume_command
from charter.runtime._approvals import Approvals

paid: list[int] = []


@tool
async def fetch_order(order_id: int) -> dict[str, Any]:
    """Fetch an order (async only)."""
    await asyncio.sleep(0)
    return {"order_id": order_id}


@tool
async def pay_order(order_id: int) -> str:
    """Pay an order (async only)."""
    await asyncio.sleep(0)
    paid.append(order_id)
    return f"paid {order_id}"


CHARTER = Charter.model_validate(
    {
        "name": "async",
        "contracts": {"fetch_order": {}, "pay_order": {"side_effect": "write"}},
        "rules": [{"id": "pay-asks", "effect": "ask", "tools": ["pay_order"]}],
    }
)
CONFIG: Any = {"configurable": {"thread_id": "a-1"}}


def test_ainvoke_governs_async_tools_and_resumes_an_approved_call(tmp_path: Path) -> None:
    paid.clear()
    journal = Journal(f"sqlite:///{tmp_path / 'charter.db'}")
    tools = [fetch_order, pay_order]
    governor = govern(tools, journal=journal, charter=CHARTER, name="async")
    saver = MemorySaver()
    script = [call("fetch_order", {"order_id": 3}, "c1"), call("pay_order", {"order_id": 3}, "c2")]
    app, _ = graph(governor, script, saver, tools=tools)
    first = asyncio.run(app.ainvoke({"messages": [("user", "pay order 3")]}, CONFIG))
    (payload,) = iter_interrupts(first)
    assert [m.status for m in first["messages"] if isinstance(m, ToolMessage)] == ["success"]
    assert paid == []
    Approvals(journal).approve(payload["request_id"], "alice", "ok")
    again = govern(tools, journal=journal, charter=CHARTER, name="async")
    app, _ = graph(again, [AIMessage(content="paid")], saver, tools=tools)
    done = asyncio.run(app.ainvoke(resume_command(payload["request_id"]), CONFIG))
    assert [m.status for m in done["messages"] if isinstance(m, ToolMessage)][-1] == "success"
    assert paid == [3]
    used = [r for r in journal.records(payload["run_id"]) if r.kind == "approval.used"]
    assert len(used) == 1


def test_an_unnamed_async_tool_is_denied_under_ainvoke(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'charter.db'}")
    only_pay = Charter.model_validate({"name": "x", "contracts": {"pay_order": {}}})
    governor = govern([fetch_order, pay_order], journal=journal, charter=only_pay, name="a")
    app, _ = graph(governor, [call("fetch_order", {"order_id": 1}, "c1"), AIMessage(content="no")])
    result = asyncio.run(app.ainvoke({"messages": [("user", "fetch 1")]}, CONFIG))
    (denied,) = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert denied.status == "error" and "unknown tool 'fetch_order'" in str(denied.content)


def test_ainvoke_takes_the_calls_of_one_message_in_its_order(tmp_path: Path) -> None:
    """The two calls of one message are gathered at once under ``ainvoke``; charter takes
    them in the message's order, so the read before the ask runs once, is answered from
    the journal when the node runs again on resume, and the approved write then runs."""
    journal = Journal(f"sqlite:///{tmp_path / 'charter.db'}")
    tools = [fetch_order, pay_order]
    both = AIMessage(
        content="",
        tool_calls=[
            {"name": "fetch_order", "args": {"order_id": 4}, "id": "c1"},
            {"name": "pay_order", "args": {"order_id": 4}, "id": "c2"},
        ],
    )
    for round_ in range(8):  # the old race showed in about half of the rounds
        paid.clear()
        config: Any = {"configurable": {"thread_id": f"order-{round_}"}}
        saver = MemorySaver()
        governor = govern(tools, journal=journal, charter=CHARTER, name="async")
        app, _ = graph(governor, [both], saver, tools=tools)
        first = asyncio.run(app.ainvoke({"messages": [("user", "pay order 4")]}, config))
        (payload,) = iter_interrupts(first)
        Approvals(journal).approve(payload["request_id"], "alice", "ok")
        again = govern(tools, journal=journal, charter=CHARTER, name="async")
        app, _ = graph(again, [AIMessage(content="paid")], saver, tools=tools)
        done = asyncio.run(app.ainvoke(resume_command(payload["request_id"]), config))
        statuses = [m.status for m in done["messages"] if isinstance(m, ToolMessage)]
        assert statuses == ["success", "success"], (round_, done["messages"])
        assert paid == [4]
        effects = [
            r.payload["tool"] for r in journal.records(payload["run_id"]) if r.kind == "step.effect"
        ]
        assert effects == ["fetch_order", "pay_order"]
