"""A LangGraph agent whose charter agent delegates: its model's call of the delegate tool
starts the sub-agent's run through charter, and the graph gets the child's answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import MemorySaver
from tests.integrations.langgraph.graphs import call, graph
from tests.runtime._delegation_agents import billing, child_of, lookup_order, refunds

from charter import Journal
from charter.agent import Agent
from charter.integrations.langgraph import govern
from charter.testing import ScriptedReasoner, make_agent, respond
from charter.testing import call as charter_call


@pytest.fixture(autouse=True)
def _reset() -> None:
    refunds.clear()


@tool("ask_billing")
def ask_billing_stub(task: str) -> str:
    """Hand a task to the billing agent."""
    raise AssertionError("charter runs the sub-agent; the graph never runs this")


@tool("lookup_order")
def lookup_order_stub(order_id: int) -> dict[str, Any]:
    """Look up an order."""
    return {"order_id": order_id}


def test_a_graphs_call_of_a_delegate_tool_runs_the_child_and_returns_its_answer(
    tmp_path: Path,
) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'charter.db'}")
    child = cast(
        Agent, billing([charter_call("refund_order", order_id=1042), respond("refunded 1042")])
    )
    agent = make_agent(
        [lookup_order], ScriptedReasoner([]), name="front-desk", delegates={"ask_billing": child}
    )
    governor = govern([lookup_order_stub, ask_billing_stub], journal=journal, agent=agent)
    script = [
        call("ask_billing", {"task": "refund order 1042"}, "c1"),
        AIMessage(content="Billing refunded it."),
    ]
    app, _ = graph(governor, script, MemorySaver())

    result = governor.invoke(
        app, {"messages": [("user", "refund order 1042")]}, {"configurable": {"thread_id": "t"}}
    )

    (message,) = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert message.status == "success" and "refunded 1042" in str(message.content)
    assert refunds == [1042]
    started = journal.records_of_kind("run.started")
    (run_id,) = [r.run_id for r in started if "delegated_by" not in r.payload]
    child_id = child_of(journal, run_id)
    origin = next(iter(journal.records(child_id))).payload["delegated_by"]
    assert origin["run"] == run_id and origin["step"] == 1
    assert [r.payload["status"] for r in journal.records(run_id) if r.kind == "run.finished"] == [
        "completed"
    ]
