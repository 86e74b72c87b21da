"""A LangGraph ReAct agent's tool calls, governed: allowed, denied, failed, budgeted,
stopped, held by a flow rule, rolled back, and journaled as a native run's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langgraph.checkpoint.memory import MemorySaver
from tests.integrations.langgraph.graphs import TOOLS, call, charter, graph, refunds, undo_refund

from charter import Journal
from charter.errors import ConfigError
from charter.integrations.langgraph import GovernedRunStopped, govern
from charter.runtime import Controls
from charter.runtime._replay import replay
from charter.runtime._rollback import rollback

CONFIG: Any = {"configurable": {"thread_id": "t-1"}}
ASK = {"messages": [("user", "refund order 1042")]}


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'charter.db'}")


def _tool_messages(result: dict[str, Any]) -> list[ToolMessage]:
    return [m for m in result["messages"] if isinstance(m, ToolMessage)]


def _kinds(journal: Journal, run_id: str) -> list[str]:
    return [r.kind for r in journal.records(run_id)]


def _run_id(journal: Journal) -> str:
    started = journal.records_of_kind("run.started")
    assert len(started) == 1
    return started[0].run_id


def test_allowed_calls_run_and_are_journaled_with_the_turn_as_goal(journal: Journal) -> None:
    governor = govern(TOOLS, journal=journal, charter=charter(), name="refunds")
    script = [
        call("lookup_order", {"order_id": 1042}, "c1"),
        call("refund_order", {"order_id": 1042, "amount": 42.0}, "c2"),
        AIMessage(content="Refunded order 1042."),
    ]
    app, _ = graph(governor, script, MemorySaver())
    result = governor.invoke(app, ASK, CONFIG)
    assert [m.status for m in _tool_messages(result)] == ["success", "success"]
    assert refunds() == [(1042, 42.0)]
    run_id = _run_id(journal)
    records = list(journal.records(run_id))
    assert records[0].payload["goal"] == "refund order 1042"
    assert records[0].payload["reasoner"]["kind"] == "langgraph"
    effects = [r.payload for r in records if r.kind == "step.effect"]
    assert [e["status"] for e in effects] == ["ok", "ok"]
    assert effects[1]["idempotency_key"] == f"{run_id}:2:1"
    assert records[-1].kind == "run.finished" and records[-1].payload["status"] == "completed"
    assert journal.verify().ok


def test_a_denial_and_an_unnamed_tool_reach_the_model_as_error_tool_messages(
    journal: Journal,
) -> None:
    rules = [{"id": "no-refunds", "effect": "deny", "tools": ["refund_order"], "reason": "frozen"}]
    governor = govern(TOOLS, journal=journal, charter=charter(rules=rules), name="refunds")
    script = [
        call("refund_order", {"order_id": 1042, "amount": 42.0}, "c1"),
        call("wire_money", {"to": "x"}, "c2"),
        AIMessage(content="Could not refund."),
    ]
    app, model = graph(governor, script, MemorySaver())
    result = governor.invoke(app, ASK, CONFIG)
    denied, unnamed = _tool_messages(result)
    assert denied.status == "error" and "no-refunds" in str(denied.content)
    assert unnamed.status == "error" and "unknown tool 'wire_money'" in str(unnamed.content)
    assert refunds() == []
    seen = [m for m in model.seen[1] if isinstance(m, ToolMessage)]
    assert seen and "no-refunds" in str(seen[0].content)  # the model was told
    kinds = _kinds(journal, _run_id(journal))
    assert "step.effect" not in kinds and kinds[-1] == "run.finished"


def test_a_tool_that_raises_is_journaled_and_the_model_sees_the_error(journal: Journal) -> None:
    governor = govern(TOOLS, journal=journal, charter=charter(), name="refunds")
    script = [call("crash_order", {"order_id": 7}, "c1"), AIMessage(content="It failed.")]
    app, model = graph(governor, script, MemorySaver())
    (failed,) = _tool_messages(governor.invoke(app, ASK, CONFIG))
    assert failed.status == "error" and "order 7 is locked" in str(failed.content)
    assert any("order 7 is locked" in str(m.content) for m in model.seen[1])
    effect = next(r.payload for r in journal.records(_run_id(journal)) if r.kind == "step.effect")
    assert effect["status"] == "error" and "order 7 is locked" in effect["error"]


def test_model_usage_counts_against_the_token_budget(journal: Journal) -> None:
    budgeted = charter(budgets={"max_tokens": 500})
    governor = govern(TOOLS, journal=journal, charter=budgeted, name="refunds")
    script = [
        call("lookup_order", {"order_id": 1}, "c1", tokens=700),
        call("refund_order", {"order_id": 1, "amount": 1.0}, "c2", tokens=700),
        AIMessage(content="never"),
    ]
    app, _ = graph(governor, script, MemorySaver())
    with pytest.raises(GovernedRunStopped, match="budget"):
        governor.invoke(app, ASK, CONFIG)
    assert refunds() == []
    records = list(journal.records(_run_id(journal)))
    proposed = next(r.payload for r in records if r.kind == "step.proposed")
    assert proposed["tokens"] == {"prompt": 700, "completion": 70}
    assert any(r.kind == "budget.exceeded" for r in records)
    assert records[-1].payload["status"] == "stopped"


@pytest.mark.parametrize("where", ["api", "cli"])
def test_the_kill_switch_stops_the_running_agent_at_its_next_call(
    journal: Journal, where: str, tmp_path: Path
) -> None:
    governor = govern(TOOLS, journal=journal, charter=charter(), name="refunds")

    def pause_then_look(order_id: int) -> Any:
        if where == "api":
            Controls(journal).pause("refunds", actor="ops", reason="incident 12")
        else:  # an operator, in another process
            url = journal.engine.url.render_as_string(hide_password=False)
            command = ["agents", "pause", "refunds", "--reason", "incident 12"]
            done = subprocess.run(
                [sys.executable, "-m", "charter", *command],
                env=os.environ | {"CHARTER_DATABASE_URL": url, "CHARTER_HOME": str(tmp_path)},
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, done.stdout + done.stderr
        return {"order_id": order_id}

    script = [
        call("lookup_order", {"order_id": 1}, "c1"),
        call("refund_order", {"order_id": 1, "amount": 1.0}, "c2"),
        AIMessage(content="never"),
    ]
    app, _ = graph(governor, script, MemorySaver())
    original = TOOLS[0].func  # type: ignore[attr-defined]
    TOOLS[0].func = pause_then_look  # type: ignore[attr-defined]
    try:
        with pytest.raises(GovernedRunStopped, match="incident 12"):
            governor.invoke(app, ASK, CONFIG)
    finally:
        TOOLS[0].func = original  # type: ignore[attr-defined]
    assert refunds() == []
    records = list(journal.records(_run_id(journal)))
    assert records[-1].kind == "run.finished" and records[-1].payload["status"] == "stopped"


def test_an_injected_target_is_held_by_the_untrusted_target_flow(journal: Journal) -> None:
    flows = charter(flows={"untrusted_target": "deny"})
    governor = govern(TOOLS, journal=journal, charter=flows, name="refunds")
    script = [
        call("read_ticket", {"ticket_id": 88}, "c1"),
        call("refund_order", {"order_id": 6666, "amount": 500.0}, "c2"),
        AIMessage(content="done"),
    ]
    app, _ = graph(governor, script, MemorySaver())
    ticket, refund = _tool_messages(governor.invoke(app, ASK, CONFIG))
    assert ticket.status == "success" and "6666" in str(ticket.content)
    assert refund.status == "error" and "flow.untrusted-target" in str(refund.content)
    assert refunds() == []
    decided = [r.payload for r in journal.records(_run_id(journal)) if r.kind == "step.decided"]
    assert decided[-1]["verdict"] == "deny"


def test_rollback_compensates_a_framework_runs_write(journal: Journal) -> None:
    governor = govern(
        TOOLS,
        journal=journal,
        charter=charter(),
        name="refunds",
        compensate={"refund_order": undo_refund},
    )
    script = [call("refund_order", {"order_id": 9, "amount": 3.0}, "c1"), AIMessage(content="ok")]
    app, _ = graph(governor, script, MemorySaver())
    governor.invoke(app, ASK, CONFIG)
    assert refunds() == [(9, 3.0)]
    report = rollback(journal, governor.agent, _run_id(journal), actor="ops")
    assert [(i.tool, i.outcome) for i in report.items] == [("refund_order", "compensated")]
    assert refunds() == []
    assert journal.verify().ok


def test_each_user_turn_of_a_thread_is_its_own_run(journal: Journal) -> None:
    governor = govern(TOOLS, journal=journal, charter=charter(), name="refunds")
    script = [
        call("lookup_order", {"order_id": 1}, "c1"),
        AIMessage(content="first"),
        call("lookup_order", {"order_id": 2}, "c2"),
        AIMessage(content="second"),
    ]
    app, _ = graph(governor, script, MemorySaver())
    governor.invoke(app, ASK, CONFIG)
    governor.invoke(app, {"messages": [("user", "and order 2?")]}, CONFIG)
    started = journal.records_of_kind("run.started")
    assert sorted(r.payload["goal"] for r in started) == ["and order 2?", "refund order 1042"]
    finished = journal.records_of_kind("run.finished")
    assert {r.payload["status"] for r in finished} == {"completed"}


def test_a_turn_is_charged_only_the_model_usage_of_its_own_messages(journal: Journal) -> None:
    governor = govern(TOOLS, journal=journal, charter=charter(), name="refunds")
    script = [
        call("lookup_order", {"order_id": 1}, "c1", tokens=300),
        AIMessage(content="first"),
        call("lookup_order", {"order_id": 2}, "c2", tokens=100),
        AIMessage(content="second"),
    ]
    app, _ = graph(governor, script, MemorySaver())
    governor.invoke(app, ASK, CONFIG)
    governor.invoke(app, {"messages": [("user", "and order 2?")]}, CONFIG)
    charged = {
        r.run_id: r.payload["tokens"]["prompt"] for r in journal.records_of_kind("step.proposed")
    }
    goals = {r.run_id: r.payload["goal"] for r in journal.records_of_kind("run.started")}
    # The second turn's state still holds the first turn's messages: not charged again.
    assert {goals[run]: tokens for run, tokens in charged.items()} == {
        "refund order 1042": 300,
        "and order 2?": 100,
    }


def test_a_charter_naming_a_tool_the_graph_lacks_is_refused(journal: Journal) -> None:
    with pytest.raises(ConfigError, match="ghost"):
        govern(TOOLS, journal=journal, charter=charter(contracts={"ghost": {}}), name="x")
    with pytest.raises(ConfigError, match="exactly one"):
        govern(TOOLS, journal=journal, name="x")


def test_replay_and_policy_explain_work_on_a_langgraph_run(journal: Journal) -> None:
    import io

    from rich.console import Console

    from charter.cli._policy import explain

    rules = [{"id": "no-refunds", "effect": "deny", "tools": ["refund_order"]}]
    governor = govern(TOOLS, journal=journal, charter=charter(rules=rules), name="refunds")
    script = [
        call("lookup_order", {"order_id": 3}, "c1"),
        call("refund_order", {"order_id": 3, "amount": 1.0}, "c2"),
        AIMessage(content="no"),
    ]
    app, _ = graph(governor, script, MemorySaver())
    governor.invoke(app, ASK, CONFIG)
    run_id = _run_id(journal)
    steps = replay(journal, governor.agent, run_id)
    assert [s.now.rules for s in steps if s.now][:2] == [("tools.allow",), ("no-refunds",)]
    assert not any(s.changed for s in steps)
    out = io.StringIO()
    explain(Console(file=out, width=200), journal, run_id, 2)
    assert "no-refunds" in out.getvalue()


def test_a_secret_output_is_withheld_from_the_model_and_the_graph_state(
    journal: Journal,
) -> None:
    secret = charter(contracts={"lookup_order": {"confidentiality": "secret"}})
    governor = govern(TOOLS, journal=journal, charter=secret, name="refunds")
    script = [call("lookup_order", {"order_id": 4}, "c1"), AIMessage(content="ok")]
    app, model = graph(governor, script, MemorySaver())
    (shown,) = _tool_messages(governor.invoke(app, ASK, CONFIG))
    assert shown.status == "success" and "withheld" in str(shown.content)
    assert "delivered" not in str(shown.content)
    assert not any("delivered" in str(m.content) for m in model.seen[1])


def test_a_write_cut_off_mid_call_is_in_doubt_when_the_thread_is_taken_up_again(
    journal: Journal,
) -> None:
    """The process is interrupted inside the refund (Ctrl-C): its outcome is unknown. The
    thread, retried by a new governor, does not refund blindly: the write is in doubt and
    its target blocked until an operator resolves it."""
    first = govern(TOOLS, journal=journal, charter=charter(), name="refunds")
    saver = MemorySaver()
    app, _ = graph(first, [call("refund_order", {"order_id": 8, "amount": 5.0}, "c1")], saver)

    def cut_off(order_id: int, amount: float) -> str:
        raise KeyboardInterrupt

    original = TOOLS[2].func  # type: ignore[attr-defined]
    TOOLS[2].func = cut_off  # type: ignore[attr-defined]
    try:
        with pytest.raises(KeyboardInterrupt):
            first.invoke(app, ASK, CONFIG)
    finally:
        TOOLS[2].func = original  # type: ignore[attr-defined]
    second = govern(TOOLS, journal=journal, charter=charter(), name="refunds")
    app, _ = graph(second, [AIMessage(content="I will ask an operator.")], saver)
    result = second.invoke(app, None, CONFIG)
    (held,) = _tool_messages(result)
    assert held.status == "error" and "effect.in_doubt" in str(held.content)
    assert refunds() == []
    effects = [r.payload for r in journal.records(_run_id(journal)) if r.kind == "step.effect"]
    assert [e["status"] for e in effects] == ["in_doubt"]


def test_a_streamed_turn_is_finished_by_another_governor_after_this_one_closes(
    journal: Journal,
) -> None:
    governor = govern(TOOLS, journal=journal, charter=charter(), name="refunds")
    saver = MemorySaver()
    script = [call("lookup_order", {"order_id": 5}, "c1"), AIMessage(content="Order 5 is fine.")]
    app, _ = graph(governor, script, saver)
    chunks = list(app.stream(ASK, CONFIG))
    assert chunks
    governor.close()  # the run stays open, its lease released
    later = govern(TOOLS, journal=journal, charter=charter(), name="refunds")
    later_app, _ = graph(later, [], saver)
    later.finish(later_app, CONFIG)
    records = list(journal.records(_run_id(journal)))
    assert records[-1].kind == "run.finished" and records[-1].payload["status"] == "completed"
    assert later.finish(later_app, CONFIG) is None  # already finished: nothing to do
    assert journal.verify().ok


def test_a_model_reusing_a_call_id_gets_each_call_governed_and_run(journal: Journal) -> None:
    governor = govern(TOOLS, journal=journal, charter=charter(), name="refunds")
    script = [
        call("refund_order", {"order_id": 1, "amount": 1.0}, "call_0"),
        call("refund_order", {"order_id": 2, "amount": 2.0}, "call_0"),
        AIMessage(content="both"),
    ]
    app, _ = graph(governor, script, MemorySaver())
    first, second = _tool_messages(governor.invoke(app, ASK, CONFIG))
    assert "order 1" in str(first.content) and "order 2" in str(second.content)
    assert refunds() == [(1, 1.0), (2, 2.0)]
