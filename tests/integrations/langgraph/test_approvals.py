"""An ``ask`` interrupts the graph; the approval, given through charter's CLI in another
process, resumes the thread in a third process (SqliteSaver + the same journal) and the
call runs on its signed receipt only; a wrong, undecided or stale answer does not run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langgraph.checkpoint.memory import MemorySaver

# langgraph.graph ships no py.typed marker (langgraph, langgraph.prebuilt and the rest do).
from langgraph.graph import (  # pyright: ignore[reportMissingTypeStubs]
    END,
    START,
    MessagesState,
    StateGraph,
)
from langgraph.prebuilt import tools_condition
from langgraph.types import Command
from tests.integrations.langgraph.graphs import (
    TOOLS,
    ScriptedChatModel,
    call,
    charter,
    graph,
    refunds,
)

from charter import Journal
from charter.errors import RunStateError
from charter.integrations.langgraph import govern, iter_interrupts, resume_command
from charter.runtime._approvals import Approvals

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).with_name("thread_process.py")
CONFIG: Any = {"configurable": {"thread_id": "t-1"}}
ASKS = [{"id": "refunds-ask", "effect": "ask", "tools": ["refund_order"]}]
ASK = {"messages": [("user", "refund order 1042")]}


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'charter.db'}")


def _asked(journal: Journal, **extra: Any) -> tuple[Any, Any, dict[str, Any]]:
    """A thread interrupted on the refund; returns (governor, saver, payload)."""
    governor = govern(TOOLS, journal=journal, charter=charter(rules=ASKS, **extra), name="refunds")
    saver = MemorySaver()
    script = [call("refund_order", {"order_id": 1042, "amount": 42.0}, "c1")]
    app, _ = graph(governor, script, saver)
    result = governor.invoke(app, ASK, CONFIG)
    (payload,) = iter_interrupts(result)
    assert payload["tool"] == "refund_order" and payload["rules"] == ["refunds-ask"]
    return governor, saver, payload


def _resumed(journal: Journal, saver: Any, answer: Any, **extra: Any) -> dict[str, Any]:
    """The thread taken up by a new governor and graph (a new process's state)."""
    governor = govern(TOOLS, journal=journal, charter=charter(rules=ASKS, **extra), name="refunds")
    app, _ = graph(governor, [AIMessage(content="done")], saver)
    return app.invoke(answer, CONFIG)


def test_an_approval_from_the_cli_resumes_the_thread_in_a_third_process(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'charter.db'}"
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT), *sys.path]),
        "CHARTER_DATABASE_URL": url,
        "CHARTER_HOME": str(tmp_path / "home"),
    }
    where = [url, str(tmp_path / "checkpoints.db"), str(tmp_path / "orders.db")]

    def run(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, str(HERE), *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    opened = run("open", *where)
    (payload,) = opened["interrupts"]
    request = payload["request_id"]
    assert opened["tools"] == [["lookup_order", "success", opened["tools"][0][2]]]
    approve = subprocess.run(
        [sys.executable, "-m", "charter", "approvals", "approve", request, "--as", "alice"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert approve.returncode == 0, approve.stdout + approve.stderr
    resumed = run("resume", *where, request)
    assert resumed["interrupts"] == []
    assert resumed["tools"][-1][:2] == ["refund_order", "success"]
    journal = Journal(url)
    records = list(journal.records(payload["run_id"]))
    kinds = [r.kind for r in records]
    assert kinds.count("approval.used") == 1 and kinds.count("step.effect") == 2
    assert records[-1].kind == "run.finished" and records[-1].payload["status"] == "completed"
    used = next(r.payload for r in records if r.kind == "approval.used")
    assert used["approver"] == "alice"
    assert sum(r.payload["tokens"]["prompt"] for r in records if r.kind == "step.proposed") == 200
    audit = subprocess.run(
        [sys.executable, "-m", "charter", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr


def test_resuming_with_another_approval_keeps_the_graph_interrupted(journal: Journal) -> None:
    _, saver, payload = _asked(journal)
    Approvals(journal).approve(payload["request_id"], "alice", "ok")
    result = _resumed(journal, saver, resume_command("apr-000000000000"))
    (again,) = iter_interrupts(result)
    assert "apr-000000000000" in again["error"] and again["request_id"] == payload["request_id"]
    hostile = _resumed(journal, saver, Command(resume={"approval": 5, "receipt": "forged"}))
    (still,) = iter_interrupts(hostile)
    assert "5" in still["error"]
    assert refunds() == []
    result = _resumed(journal, saver, resume_command(payload["request_id"]))
    assert list(iter_interrupts(result)) == [] and refunds() == [(1042, 42.0)]


def test_an_undecided_approval_is_refused_before_the_graph_or_asked_again(
    journal: Journal,
) -> None:
    governor, saver, payload = _asked(journal)
    app, _ = graph(governor, [AIMessage(content="done")], saver)
    with pytest.raises(RunStateError, match="still undecided"):
        governor.invoke(app, resume_command(payload["request_id"]), CONFIG)
    result = _resumed(journal, saver, resume_command(payload["request_id"]))
    (again,) = iter_interrupts(result)
    assert "still undecided" in again["error"]
    assert refunds() == []


def test_a_receipt_for_another_policy_version_does_not_run_the_call(journal: Journal) -> None:
    _, saver, payload = _asked(journal)
    Approvals(journal).approve(payload["request_id"], "alice", "ok")
    result = _resumed(
        journal, saver, resume_command(payload["request_id"]), budgets={"max_steps": 40}
    )
    refused = [m for m in result["messages"] if isinstance(m, ToolMessage)][-1]
    assert refused.status == "error" and "approval.invalid" in str(refused.content)
    assert refunds() == []
    kinds = [r.kind for r in journal.records(payload["run_id"])]
    assert "approval.rejected" in kinds and "approval.used" not in kinds


def test_a_denied_approval_reaches_the_model_as_an_error(journal: Journal) -> None:
    _, saver, payload = _asked(journal)
    Approvals(journal).deny(payload["request_id"], "bob", "not this one")
    result = _resumed(journal, saver, resume_command(payload["request_id"]))
    refused = [m for m in result["messages"] if isinstance(m, ToolMessage)][-1]
    assert refused.status == "error" and refunds() == []


def test_a_call_that_ran_before_the_interrupt_is_not_run_again_on_resume(
    journal: Journal,
) -> None:
    """A custom graph whose ToolNode runs both calls of one message in one task: LangGraph
    re-executes the node on resume, charter answers the finished call from the journal."""
    governor = govern(TOOLS, journal=journal, charter=charter(rules=ASKS), name="refunds")
    both = AIMessage(
        content="",
        tool_calls=[
            {"name": "lookup_order", "args": {"order_id": 5}, "id": "c1"},
            {"name": "refund_order", "args": {"order_id": 5, "amount": 2.0}, "id": "c2"},
        ],
    )

    def build(responses: list[BaseMessage]) -> Any:
        model = ScriptedChatModel(responses=responses)
        builder: Any = StateGraph(MessagesState)  # its node and compile signatures hold Unknowns

        def answer(state: MessagesState) -> dict[str, list[BaseMessage]]:
            return {"messages": [model.invoke(state["messages"])]}

        builder.add_node("model", answer)
        builder.add_node("tools", governor.tool_node)
        builder.add_edge(START, "model")
        builder.add_conditional_edges("model", tools_condition, {"tools": "tools", END: END})
        builder.add_edge("tools", "model")
        return builder.compile(checkpointer=saver)

    saver = MemorySaver()
    (payload,) = iter_interrupts(governor.invoke(build([both]), ASK, CONFIG))
    Approvals(journal).approve(payload["request_id"], "alice", "ok")
    result = governor.invoke(
        build([AIMessage(content="done")]), resume_command(payload["request_id"]), CONFIG
    )
    assert [m.status for m in result["messages"] if isinstance(m, ToolMessage)] == [
        "success",
        "success",
    ]
    effects = [
        r.payload["tool"] for r in journal.records(payload["run_id"]) if r.kind == "step.effect"
    ]
    assert effects == ["lookup_order", "refund_order"]


def test_two_asked_calls_in_one_message_each_run_at_most_once_on_their_own_approval(
    journal: Journal,
) -> None:
    """Both refunds of one model message run in one ToolNode task, in parallel threads:
    each waits for its own approval, none is run twice, no approval serves another call."""
    governor = govern(TOOLS, journal=journal, charter=charter(rules=ASKS), name="refunds")
    both = AIMessage(
        content="",
        tool_calls=[
            {"name": "refund_order", "args": {"order_id": 1, "amount": 1.0}, "id": "c1"},
            {"name": "refund_order", "args": {"order_id": 2, "amount": 2.0}, "id": "c2"},
        ],
    )
    saver = MemorySaver()
    result = governor.invoke(_custom(governor, saver, [both]), ASK, CONFIG)
    approved: list[str] = []
    for _ in range(4):
        payloads = list(iter_interrupts(result))
        if not payloads:
            break
        request = payloads[0]["request_id"]
        if request not in approved:
            Approvals(journal).approve(request, "alice", "ok")
            approved.append(request)
        app = _custom(governor, saver, [AIMessage(content="done")])
        result = governor.invoke(app, resume_command(request), CONFIG)
    assert list(iter_interrupts(result)) == []
    done = refunds()
    assert len(done) == len(set(done)) and done
    for message in [m for m in result["messages"] if isinstance(m, ToolMessage)]:
        assert message.status == "success" or "another call" in str(message.content)
    records = list(journal.records(_only_run(journal)))
    used = [r.payload["request_id"] for r in records if r.kind == "approval.used"]
    assert len(used) == len(set(used)) == len(done)
    assert journal.verify().ok


def _only_run(journal: Journal) -> str:
    (started,) = journal.records_of_kind("run.started")
    return started.run_id


def _custom(governor: Any, saver: Any, responses: list[BaseMessage]) -> Any:
    model = ScriptedChatModel(responses=responses)
    builder: Any = StateGraph(MessagesState)  # its node and compile signatures hold Unknowns

    def answer(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [model.invoke(state["messages"])]}

    builder.add_node("model", answer)
    builder.add_node("tools", governor.tool_node)
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", tools_condition, {"tools": "tools", END: END})
    builder.add_edge("tools", "model")
    return builder.compile(checkpointer=saver)


def test_a_graph_state_edited_after_the_ask_cannot_use_the_approval(journal: Journal) -> None:
    """The thread's state is rewritten to propose another refund under the same message
    id: the approved call's receipt is not used for it."""
    governor = govern(TOOLS, journal=journal, charter=charter(rules=ASKS), name="refunds")
    asked = AIMessage(
        content="",
        id="m-1",
        tool_calls=[{"name": "refund_order", "args": {"order_id": 1, "amount": 1.0}, "id": "c1"}],
    )
    saver = MemorySaver()
    app = _custom(governor, saver, [asked, AIMessage(content="done")])
    (payload,) = iter_interrupts(governor.invoke(app, ASK, CONFIG))
    Approvals(journal).approve(payload["request_id"], "alice", "ok")
    edited = AIMessage(
        content="",
        id="m-1",
        tool_calls=[
            {"name": "refund_order", "args": {"order_id": 666, "amount": 900.0}, "id": "c1"}
        ],
    )
    app.update_state(CONFIG, {"messages": [edited]}, as_node="model")
    result = app.invoke(None, CONFIG)
    refused = [m for m in result["messages"] if isinstance(m, ToolMessage)][-1]
    assert refused.status == "error" and "another call" in str(refused.content)
    assert refunds() == []
    kinds = [r.kind for r in journal.records(payload["run_id"])]
    assert "approval.used" not in kinds
