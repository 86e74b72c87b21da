"""Delegation under operators: controls cascade down the chain, a child's approval names
the chain and resumes through its root, rollback undoes children, traces join."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter import Charter, Journal, Runner, tool
from charter.testing import ScriptedReasoner, call, make_agent, respond
from databases import fresh_url
from runtime._delegation_agents import (
    asking_charter,
    billing,
    child_of,
    front_desk,
    lookup_order,
    refund_order,
    refunds,
)


@pytest.fixture(autouse=True)
def _reset() -> None:
    refunds.clear()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_url(str(request.param), tmp_path)


@pytest.fixture
def journal(url: str) -> Journal:
    return Journal(url)


def test_pausing_the_parents_agent_stops_the_child_at_its_next_step(
    journal: Journal, url: str
) -> None:
    from charter.reasoners import RunContext, ToolCall
    from charter.runtime import Controls

    def pause_then_refund(context: RunContext) -> ToolCall:
        Controls(Journal(url)).pause("front-desk", actor="oncall", reason="incident 7")
        return call("refund_order", order_id=1042)

    child = billing([call("lookup_order", order_id=1042), pause_then_refund, respond("x")])
    parent = front_desk(
        [call("ask_billing", task="refund 1042"), call("lookup_order", order_id=1), respond("x")],
        child,
    )
    run = Runner(journal).run(parent, "refund order 1042")  # type: ignore[arg-type]
    assert refunds == []
    child_records = list(journal.records(child_of(journal, run.run_id)))
    paused = next(r for r in child_records if r.kind == "run.paused")
    assert paused.payload["agent"] == "front-desk"
    assert child_records[-1].payload["status"] == "stopped"
    assert run.status == "stopped"


def test_cancelling_the_parent_run_stops_the_child_at_its_next_step(
    journal: Journal, url: str
) -> None:
    from charter.reasoners import RunContext, ToolCall

    def cancel_then_refund(context: RunContext) -> ToolCall:
        parent_run = journal.records_of_kind("delegate.started")[0].run_id  # type: ignore[index]
        other = Runner(Journal(url), owner="operator")
        other.cancel(parent_run, actor="oncall", reason="wrong customer")
        return call("refund_order", order_id=1042)

    child = billing([call("lookup_order", order_id=1042), cancel_then_refund, respond("x")])
    parent = front_desk(
        [call("ask_billing", task="refund 1042"), call("lookup_order", order_id=1), respond("x")],
        child,
    )
    run = Runner(journal).run(parent, "refund order 1042")  # type: ignore[arg-type]
    assert refunds == []
    child_records = list(journal.records(child_of(journal, run.run_id)))
    cancelled = next(r for r in child_records if r.kind == "run.cancelled")
    assert run.run_id in cancelled.payload["reason"]
    assert run.status == "stopped"


def test_a_childs_approval_shows_the_chain_and_the_strictest_charters_approvers(
    journal: Journal,
) -> None:
    child = billing(
        [call("refund_order", order_id=1042), respond("refunded 1042")],
        charter=asking_charter("billing"),  # anyone may approve, by its own charter
    )
    parent = front_desk(
        [call("ask_billing", task="refund order 1042"), respond("done")],
        child,
        charter=Charter.model_validate(
            {"name": "front-desk", "approvals": {"escalation": [{"approvers": ["dana"]}]}}
        ),
    )
    runner = Runner(journal)
    run = runner.run(parent, "refund order 1042", actor="sam")  # type: ignore[arg-type]
    assert run.status == "waiting"
    child_id = child_of(journal, run.run_id)
    state = runner.approvals.get(str(run.waiting_for))
    assert state.request.run_id == child_id
    requested = next(r for r in journal.records(child_id) if r.kind == "approval.requested")
    assert [link["agent"] for link in requested.payload["chain"]] == ["front-desk", "billing"]
    assert state.request.approvers_at(0) == ["dana"]
    assert state.request.chain == ("front-desk", "billing")
    from charter.views._approvals import approval_card

    card = approval_card(state, now=runner.approvals.clock(), viewer="lee")
    assert card.chain == ["front-desk", "billing"] and not card.may_decide
    with pytest.raises(Exception, match="dana"):
        runner.approvals.approve(str(run.waiting_for), "lee", "looks fine")
    runner.approvals.approve(str(run.waiting_for), "dana", "looks fine")
    resumed = runner.resume(parent, run.run_id, actor="dana")  # type: ignore[arg-type]
    assert resumed.status == "completed", resumed.error
    assert refunds == [1042]
    assert list(journal.records(child_id))[-1].payload["status"] == "completed"
    effect = next(r for r in journal.records(run.run_id) if r.kind == "step.effect")
    assert effect.payload["child_run"] == child_id and "recovered" not in effect.payload


def test_resuming_a_child_alone_names_the_run_that_continues_it(journal: Journal) -> None:
    from charter.errors import RunStateError

    child = billing(
        [call("refund_order", order_id=1042), respond("ok")], charter=asking_charter("billing")
    )
    parent = front_desk([call("ask_billing", task="refund 1042"), respond("ok")], child)
    runner = Runner(journal)
    run = runner.run(parent, "refund order 1042", actor="sam")  # type: ignore[arg-type]
    runner.approvals.approve(str(run.waiting_for), "dana", "ok")
    child_id = child_of(journal, run.run_id)
    with pytest.raises(RunStateError, match=f"delegated by run {run.run_id}"):
        runner.resume(child, child_id, actor="dana")  # type: ignore[arg-type]
    with pytest.raises(RunStateError, match=f"fork run {run.run_id}"):
        runner.fork(child, child_id, 1)  # type: ignore[arg-type]


def test_cancelling_a_parent_that_waits_with_its_child_ends_both(journal: Journal) -> None:
    child = billing(
        [call("refund_order", order_id=1042), respond("ok")], charter=asking_charter("billing")
    )
    parent = front_desk([call("ask_billing", task="refund 1042"), respond("ok")], child)
    runner = Runner(journal)
    run = runner.run(parent, "refund order 1042", actor="sam")  # type: ignore[arg-type]
    runner.cancel(run.run_id, actor="oncall", reason="duplicate")
    child_records = list(journal.records(child_of(journal, run.run_id)))
    assert child_records[-1].kind in ("run.finished", "approval.closed")
    assert any(r.kind == "run.finished" for r in child_records)
    assert runner.approvals.get(str(run.waiting_for)).status == "closed"


def test_rolling_back_a_parent_undoes_its_childrens_writes_newest_first(
    journal: Journal,
) -> None:
    from charter.runtime._rollback import rollback

    undone: list[int] = []

    def untag(result: object, order_id: int) -> None:
        undone.append(order_id)

    @tool(side_effect="write", compensate=untag)
    def tag_order(order_id: int) -> str:
        """Tag an order."""
        return f"tagged {order_id}"

    child = make_agent(
        [tag_order],
        ScriptedReasoner(
            [call("tag_order", order_id=1), call("tag_order", order_id=2), respond("tagged")]
        ),
        name="tagger",
    )
    parent = make_agent(
        [tag_order],
        ScriptedReasoner(
            [call("tag_order", order_id=0), call("ask_tagger", task="tag 1 and 2"), respond("ok")]
        ),
        name="front-desk",
        delegates={"ask_tagger": child},
    )
    run = Runner(journal).run(parent, "tag orders")
    report = rollback(journal, parent, run.run_id, actor="oncall")
    assert undone == [2, 1, 0]
    assert report.complete
    child_id = child_of(journal, run.run_id)
    assert any(r.kind == "rollback.finished" for r in journal.records(child_id))
    assert "sub-agent run" in report.items[0].detail


def test_a_childs_spans_are_in_its_parents_trace_under_its_root_span(
    journal: Journal,
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from charter.observe import JournalTracer, run_trace_id
    from charter.observe._tracing import run_root_span_id

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    child = billing([call("lookup_order", order_id=1), respond("ok")])
    parent = front_desk([call("ask_billing", task="look up 1"), respond("ok")], child)
    run = Runner(journal, on_record=JournalTracer(provider)).run(parent, "x")  # type: ignore[arg-type]
    child_id = child_of(journal, run.run_id)
    spans = exporter.get_finished_spans()
    trace_ids = {f"{s.context.trace_id:032x}" for s in spans}  # type: ignore[union-attr]
    assert trace_ids == {run_trace_id(run.run_id)}
    child_root = next(
        s
        for s in spans
        if f"{s.context.span_id:016x}" == run_root_span_id(child_id)  # type: ignore[union-attr]
    )
    assert child_root.parent is not None
    assert f"{child_root.parent.span_id:016x}" == run_root_span_id(run.run_id)


def test_a_denied_request_reaches_the_parent_through_its_child(journal: Journal) -> None:
    child = billing(
        [call("refund_order", order_id=1042), respond("the refund was refused")],
        charter=asking_charter("billing"),
    )
    parent = front_desk([call("ask_billing", task="refund 1042"), respond("told")], child)
    runner = Runner(journal)
    run = runner.run(parent, "refund order 1042", actor="sam")  # type: ignore[arg-type]
    runner.approvals.deny(str(run.waiting_for), "dana", "no receipt")
    resumed = runner.resume(parent, run.run_id, actor="dana")  # type: ignore[arg-type]
    assert resumed.status == "completed" and refunds == []
    observed = [r for r in journal.records(run.run_id) if r.kind == "step.observed"]
    assert "the refund was refused" in str(observed[0].payload["text"])


def test_a_parent_paused_while_it_waits_with_its_child_ends_the_child_on_resume(
    journal: Journal, url: str
) -> None:
    from charter.runtime import Controls

    child = billing(
        [call("refund_order", order_id=1042), respond("ok")], charter=asking_charter("billing")
    )
    parent = front_desk([call("ask_billing", task="refund 1042"), respond("ok")], child)
    runner = Runner(journal)
    run = runner.run(parent, "refund order 1042", actor="sam")  # type: ignore[arg-type]
    runner.approvals.approve(str(run.waiting_for), "dana", "ok")
    Controls(Journal(url)).pause("front-desk", actor="oncall", reason="incident 9")
    stopped = runner.resume(parent, run.run_id, actor="dana")  # type: ignore[arg-type]
    assert stopped.status == "stopped" and refunds == []
    child_records = list(journal.records(child_of(journal, run.run_id)))
    assert child_records[-1].kind == "run.finished" or any(
        r.kind == "run.finished" for r in child_records
    )
    assert "incident 9" in str(next(r for r in child_records if r.kind == "run.cancelled").payload)


def test_rolling_back_a_parent_that_waits_with_its_child_undoes_and_ends_both(
    journal: Journal,
) -> None:
    from charter.runtime._rollback import rollback

    undone: list[int] = []

    def untag(result: object, order_id: int) -> None:
        undone.append(order_id)

    @tool(side_effect="write", compensate=untag)
    def tag_order(order_id: int) -> str:
        """Tag an order."""
        return f"tagged {order_id}"

    child = make_agent(
        [tag_order, refund_order],
        ScriptedReasoner([call("tag_order", order_id=5), call("refund_order", order_id=5)]),
        name="billing",
        charter=asking_charter("billing"),
    )
    parent = make_agent(
        [tag_order],
        ScriptedReasoner([call("tag_order", order_id=4), call("ask_billing", task="refund 5")]),
        name="front-desk",
        delegates={"ask_billing": child},
    )
    runner = Runner(journal)
    run = runner.run(parent, "refund 5", actor="sam")
    assert run.status == "waiting"
    report = rollback(journal, parent, run.run_id, actor="oncall")
    assert undone == [5, 4] and report.complete
    child_id = child_of(journal, run.run_id)
    assert any(r.kind == "run.finished" for r in journal.records(child_id))
    assert runner.approvals.get(str(run.waiting_for)).status == "closed"


def test_a_grandchilds_approval_resumes_down_the_whole_chain(journal: Journal) -> None:
    grandchild = billing(
        [call("refund_order", order_id=1042), respond("refunded 1042")],
        charter=asking_charter("billing"),
    )
    middle = make_agent(
        [lookup_order],
        ScriptedReasoner([call("ask_billing", task="refund order 1042"), respond("billing done")]),
        name="supervisor",
        charter=asking_charter("supervisor", approvers=["lee"]),
        delegates={"ask_billing": grandchild},  # type: ignore[dict-item]
    )
    top = make_agent(
        [lookup_order],
        ScriptedReasoner([call("ask_supervisor", task="refund order 1042"), respond("all done")]),
        name="front-desk",
        delegates={"ask_supervisor": middle},
    )
    runner = Runner(journal)
    run = runner.run(top, "refund order 1042", actor="sam")
    assert run.status == "waiting"
    state = runner.approvals.get(str(run.waiting_for))
    assert state.request.chain == ("front-desk", "supervisor", "billing")
    assert state.request.approvers_at(0) == ["lee"]  # the strictest charter on the chain
    middle_id = child_of(journal, run.run_id)
    bottom_id = child_of(journal, middle_id)
    assert state.request.run_id == bottom_id
    origin = next(iter(journal.records(bottom_id))).payload["delegated_by"]
    assert (origin["run"], origin["root"], origin["depth"]) == (middle_id, run.run_id, 2)
    runner.approvals.approve(state.request.request_id, "lee", "ok")
    done = runner.resume(top, run.run_id, actor="lee")
    assert done.status == "completed" and done.answer == "all done"
    assert refunds == [1042]
    for run_id in (middle_id, bottom_id):
        assert list(journal.records(run_id))[-1].payload["status"] == "completed"


def test_a_childs_segment_resumed_in_another_process_stays_in_the_root_trace(
    journal: Journal,
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from charter.observe import JournalTracer, run_trace_id

    child = billing(
        [call("refund_order", order_id=1042), respond("ok")], charter=asking_charter("billing")
    )
    parent = front_desk([call("ask_billing", task="refund 1042"), respond("ok")], child)
    run = Runner(journal).run(parent, "refund order 1042", actor="sam")  # type: ignore[arg-type]
    exporter = InMemorySpanExporter()  # a second process's tracer: it never saw the starts
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    later = Runner(journal, on_record=JournalTracer(provider))
    later.approvals.approve(str(run.waiting_for), "dana", "ok")
    later.resume(parent, run.run_id, actor="dana")  # type: ignore[arg-type]
    trace_ids = {f"{s.context.trace_id:032x}" for s in exporter.get_finished_spans()}  # type: ignore[union-attr]
    assert trace_ids == {run_trace_id(run.run_id)}
