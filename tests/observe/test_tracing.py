"""Traces of runs: spans built from journal records, live and replayed from the journal."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, SpanKind, StatusCode
from sqlalchemy import text

from charter import Charter, Journal, Runner
from charter.agent import Agent
from charter.errors import RunNotFoundError
from charter.journal import canonical_json
from charter.observe import JournalTracer, export_run, run_trace_id
from charter.observe._tracing import run_root_span_id
from charter.policy import ToolRules
from charter.testing import ScriptedReasoner, ScriptExhaustedError, call, make_agent, respond
from observe._support import TOOLS


class Traced:
    """A runner whose records feed a tracer that keeps its spans in memory."""

    def __init__(self, journal: Journal) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.provider = provider
        self.runner = Runner(journal, on_record=JournalTracer(provider))

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())


@pytest.fixture
def journal() -> Journal:
    return Journal("sqlite://")


@pytest.fixture
def traced(journal: Journal) -> Iterator[Traced]:
    t = Traced(journal)
    yield t
    t.runner.close()


def mixed_agent() -> Agent:
    """Reads, writes, is denied a call, meets a tool error, answers."""
    charter = Charter.model_validate(
        {
            "name": "shop",
            "tools": {"allow": ["*"], "deny": ["cancel_order"]},
            "prices": {"scripted": {"prompt_per_million": 0, "completion_per_million": 1000}},
        }
    )
    reasoner = ScriptedReasoner(
        [
            call("lookup_order", order_id=7),
            call("refund_order", order_id=7, amount_cents=100),
            call("cancel_order", order_id=7),
            call("refund_order", order_id=8, amount_cents=9000),
            respond("refunded 7; 8 is too large"),
        ],
        tokens_per_step=5,
    )
    return make_agent(TOOLS, reasoner, charter=charter, name="shop-agent")


def by_name(spans: list[ReadableSpan]) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        found.setdefault(span.name, []).append(span)
    return found


def context_of(span: ReadableSpan) -> SpanContext:
    """A finished span's own context (the SDK's ``context`` property is untyped)."""
    assert span.context is not None, span.name
    return span.context


def started(span: ReadableSpan) -> int:
    """When a finished span started (the SDK types it optional, for an unstarted span)."""
    assert span.start_time is not None, span.name
    return span.start_time


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, tuple | list) else v for k, v in span.attributes.items()}  # type: ignore[union-attr]


def step_of(span: ReadableSpan) -> int:
    return int(attrs(span)["charter.step"])


def test_a_run_is_one_agent_span_over_its_chats_and_tool_calls(traced: Traced) -> None:
    run = traced.runner.run(mixed_agent(), "refund order 7")

    spans = traced.spans()
    names = by_name(spans)
    assert run.status == "completed"
    assert sorted(names) == [
        "chat scripted",
        "execute_tool cancel_order",
        "execute_tool lookup_order",
        "execute_tool refund_order",
        "invoke_agent shop-agent",
        "run shop-agent",
    ]
    (agent,) = names["invoke_agent shop-agent"]
    (root,) = names["run shop-agent"]
    assert (len(names["chat scripted"]), len(names["execute_tool refund_order"])) == (5, 2)
    assert {context_of(span).trace_id for span in spans} == {int(run_trace_id(run.run_id), 16)}
    assert agent.kind == SpanKind.INTERNAL
    assert agent.parent is not None and agent.parent.is_remote
    assert root.parent is None and agent.parent.span_id == context_of(root).span_id
    children = [span for span in spans if span not in (agent, root)]
    assert all(
        span.parent and span.parent.span_id == context_of(agent).span_id for span in children
    )
    a = attrs(agent)
    assert a["gen_ai.operation.name"] == "invoke_agent"
    assert (a["gen_ai.agent.name"], a["gen_ai.agent.version"]) == ("shop-agent", "1")
    assert a["gen_ai.conversation.id"] == a["charter.run.id"] == run.run_id
    assert a["gen_ai.provider.name"] == "charter.scripted"
    assert a["charter.policy"] == mixed_agent().charter.policy_hash
    assert (a["charter.run.status"], a["charter.run.steps"], a["charter.run.tokens"]) == (
        "completed",
        5,
        25,
    )
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (0, 25)
    assert a["charter.run.cost_usd"] == pytest.approx(2 * 0.25 + 5 * 0.005)  # both refunds ran
    # It completed, but a tool failed and a call was denied: its outcome is not a success.
    assert a["charter.run.outcome"] == "failed"
    assert agent.status.status_code == root.status.status_code == StatusCode.ERROR
    assert a["error.type"] == attrs(root)["error.type"] == "failed"


def test_chat_spans_carry_model_usage_and_what_the_model_chose(traced: Traced) -> None:
    run = traced.runner.run(mixed_agent(), "refund order 7")

    chats = sorted(by_name(traced.spans())["chat scripted"], key=step_of)
    first, last = attrs(chats[0]), attrs(chats[-1])
    assert first["gen_ai.operation.name"] == "chat"
    assert first["gen_ai.request.model"] == "scripted"
    assert (first["gen_ai.usage.input_tokens"], first["gen_ai.usage.output_tokens"]) == (0, 5)
    assert first["charter.cost_usd"] == pytest.approx(0.005)
    assert first["gen_ai.conversation.id"] == run.run_id
    assert first["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert last["gen_ai.response.finish_reasons"] == ("stop",)
    assert [step_of(chat) for chat in chats] == [1, 2, 3, 4, 5]


def test_tool_spans_carry_the_decision_and_the_effect(traced: Traced) -> None:
    run = traced.runner.run(mixed_agent(), "refund order 7")

    names = by_name(traced.spans())
    (read,) = names["execute_tool lookup_order"]
    write, failed = sorted(names["execute_tool refund_order"], key=step_of)
    (denied,) = names["execute_tool cancel_order"]
    r = attrs(read)
    assert r["gen_ai.operation.name"] == "execute_tool"
    assert (r["gen_ai.tool.name"], r["gen_ai.tool.type"]) == ("lookup_order", "function")
    assert r["gen_ai.tool.call.id"] == f"{run.run_id}:1"
    assert (r["charter.verdict"], r["charter.effect.status"]) == ("allow", "ok")
    assert r["gen_ai.agent.name"] == "shop-agent"
    assert (r["charter.label.trust"], r["charter.label.confidentiality"]) == (
        "trusted",
        "internal",
    )
    assert read.status.status_code == StatusCode.UNSET
    w = attrs(write)
    assert (w["charter.effect.status"], w["charter.cost_usd"]) == ("ok", 0.25)
    assert write.status.status_code == StatusCode.UNSET
    d = attrs(denied)
    assert (d["charter.verdict"], d["charter.rules"]) == ("deny", ("tools.deny",))
    assert d["charter.observation.status"] == "denied"
    assert "charter.effect.status" not in d
    assert denied.status.status_code == StatusCode.ERROR
    assert d["error.type"] == "denied"
    assert "tools.deny" in str(denied.status.description)
    f = attrs(failed)
    assert (f["charter.effect.status"], f["error.type"]) == ("error", "ValueError")
    assert failed.status.status_code == StatusCode.ERROR
    assert "amount exceeds the order total" in str(failed.status.description)


def test_span_times_nest_and_reasoning_precedes_its_tool_call(traced: Traced) -> None:
    traced.runner.run(mixed_agent(), "refund order 7")

    spans = traced.spans()
    (agent,) = by_name(spans)["invoke_agent shop-agent"]
    assert agent.start_time is not None and agent.end_time is not None
    for span in spans:
        assert span.start_time is not None and span.end_time is not None
        assert agent.start_time <= span.start_time <= span.end_time <= agent.end_time
    chats = {step_of(s): s for s in spans if s.name.startswith("chat")}
    tools = {step_of(s): s for s in spans if s.name.startswith("execute_tool")}
    for step, tool_span in tools.items():
        assert chats[step].end_time <= tool_span.start_time  # type: ignore[operator]
        if step + 1 in chats:
            assert tool_span.end_time <= chats[step + 1].start_time  # type: ignore[operator]


def test_a_failed_run_ends_its_agent_span_in_error(traced: Traced) -> None:
    agent = make_agent(TOOLS, ScriptedReasoner([call("lookup_order", order_id=1)]))

    with pytest.raises(ScriptExhaustedError):
        traced.runner.run(agent, "look it up")

    (span,) = by_name(traced.spans())["invoke_agent test-agent"]
    assert span.status.status_code == StatusCode.ERROR
    assert attrs(span)["error.type"] == "ScriptExhaustedError"
    assert attrs(span)["charter.run.status"] == "failed"


def test_an_unknown_tool_is_a_tool_span_in_error(traced: Traced) -> None:
    agent = make_agent(TOOLS, ScriptedReasoner([call("teleport", to="mars"), respond("no")]))

    traced.runner.run(agent, "go")

    (span,) = by_name(traced.spans())["execute_tool teleport"]
    assert attrs(span)["error.type"] == "unknown_tool"
    assert span.status.status_code == StatusCode.ERROR


def refund_needing_approval() -> Agent:
    charter = Charter.model_validate(
        {
            "name": "refunds",
            "rules": [
                {
                    "id": "big-refunds",
                    "effect": "ask",
                    "tools": ["refund_order"],
                    "when": "context.args.amount_cents > 1000",
                    "reason": "refunds over $10 need a manager",
                }
            ],
        }
    )
    reasoner = ScriptedReasoner(
        [
            call("lookup_order", order_id=7),
            call("refund_order", order_id=7, amount_cents=3000),
            respond("refunded"),
        ]
    )
    return make_agent(TOOLS, reasoner, charter=charter, name="refunds-agent")


def test_a_run_that_waits_and_resumes_is_two_segments_of_one_trace(traced: Traced) -> None:
    agent = refund_needing_approval()
    run = traced.runner.run(agent, "refund order 7", actor="sam")
    traced.runner.approvals.approve(str(run.waiting_for), "dana", "fine")
    resumed = traced.runner.resume(agent, run.run_id)

    spans = traced.spans()
    assert resumed.status == "completed"
    assert {context_of(span).trace_id for span in spans} == {int(run_trace_id(run.run_id), 16)}
    first, second = sorted(by_name(spans)["invoke_agent refunds-agent"], key=started)
    assert (attrs(first)["charter.run.segment"], attrs(first)["charter.run.status"]) == (
        "start",
        "waiting",
    )
    assert attrs(first)["charter.approval.request_id"] == run.waiting_for
    assert (attrs(second)["charter.run.segment"], attrs(second)["charter.run.status"]) == (
        "resume",
        "completed",
    )
    assert first.parent == second.parent  # the run's derived parent
    asked, approved = sorted(by_name(spans)["execute_tool refund_order"], key=started)
    assert asked.parent.span_id == context_of(first).span_id  # type: ignore[union-attr]
    assert approved.parent.span_id == context_of(second).span_id  # type: ignore[union-attr]
    assert attrs(asked)["charter.verdict"] == "ask"
    assert attrs(asked)["charter.approval.request_id"] == run.waiting_for
    assert "charter.effect.status" not in attrs(asked)
    assert attrs(approved)["charter.approval.approver"] == "dana"
    assert attrs(approved)["charter.effect.status"] == "ok"


def test_a_run_resumed_by_another_process_is_named_after_its_agent(journal: Journal) -> None:
    agent = refund_needing_approval()
    starter, resumer = Traced(journal), Traced(journal)
    run = starter.runner.run(agent, "refund order 7", actor="sam")
    starter.runner.approvals.approve(str(run.waiting_for), "dana")

    resumer.runner.resume(agent, run.run_id)

    (segment,) = by_name(resumer.spans())["invoke_agent refunds-agent"]
    assert attrs(segment)["gen_ai.agent.name"] == "refunds-agent"
    assert context_of(segment).trace_id == int(run_trace_id(run.run_id), 16)
    starter.runner.close()
    resumer.runner.close()


def test_cancelling_a_waiting_run_is_a_last_short_segment(traced: Traced) -> None:
    run = traced.runner.run(refund_needing_approval(), "refund order 7", actor="sam")

    traced.runner.cancel(run.run_id, actor="ops", reason="customer withdrew")

    first, last = sorted(by_name(traced.spans())["invoke_agent refunds-agent"], key=started)
    assert attrs(first)["charter.run.status"] == "waiting"
    assert (attrs(last)["charter.run.segment"], attrs(last)["charter.run.status"]) == (
        "cancel",
        "stopped",
    )
    assert [event.name for event in last.events] == ["run.cancelled"]
    assert "customer withdrew" in str(last.events[0].attributes["charter.reason"])  # type: ignore[index]


def shape(spans: list[ReadableSpan]) -> list[tuple[Any, ...]]:
    """Spans without their ids: names, attributes, status, times, and parent names."""
    names = {context_of(span).span_id: span.name for span in spans}
    return sorted(
        (
            span.name,
            sorted(attrs(span).items()),
            span.status.status_code,
            span.start_time,
            span.end_time,
            names.get(span.parent.span_id) if span.parent else None,
        )
        for span in spans
    )


def test_export_run_rebuilds_the_live_trace_from_the_journal(
    traced: Traced, journal: Journal
) -> None:
    agent = refund_needing_approval()
    run = traced.runner.run(agent, "refund order 7", actor="sam")
    traced.runner.approvals.approve(str(run.waiting_for), "dana")
    traced.runner.resume(agent, run.run_id)
    other = traced.runner.run(mixed_agent(), "refund order 7")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    trace_id = export_run(journal, run.run_id, provider)

    live = [s for s in traced.spans() if attrs(s)["gen_ai.conversation.id"] == run.run_id]
    assert trace_id == run_trace_id(run.run_id) != run_trace_id(other.run_id)
    assert shape(list(exporter.get_finished_spans())) == shape(live)


def test_export_run_ends_a_segment_still_open_at_its_last_record(journal: Journal) -> None:
    runner = Runner(journal)
    run = runner.run(mixed_agent(), "refund order 7")
    runner.close()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    cut = JournalTracer(provider)
    for record in journal.records(run.run_id):
        if record.kind == "run.finished":
            break
        cut(record)

    cut.end_open_segments()

    (segment,) = by_name(list(exporter.get_finished_spans()))["invoke_agent shop-agent"]
    assert attrs(segment)["charter.run.status"] == "in_progress"


def test_export_run_of_an_unknown_run_says_so(journal: Journal) -> None:
    with pytest.raises(RunNotFoundError, match="no run with id 'nope'"):
        export_run(journal, "nope", TracerProvider())


def test_runs_in_several_threads_keep_their_own_traces(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    traced = Traced(journal)
    runs: list[str] = []

    def work() -> None:
        for _ in range(3):
            runs.append(traced.runner.run(mixed_agent(), "refund order 7").run_id)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    traced.runner.close()

    spans = traced.spans()
    assert len(runs) == 9
    for run_id in runs:
        mine = [s for s in spans if context_of(s).trace_id == int(run_trace_id(run_id), 16)]
        assert len(mine) == 11  # the root, the agent, five chats, four tool calls
        assert {attrs(s)["gen_ai.conversation.id"] for s in mine} == {run_id}


def test_a_denied_call_by_a_tool_rule_has_its_rule(traced: Traced) -> None:
    charter = Charter(name="c", tools=ToolRules(allow=["*"], deny=["refund_order"]))
    reasoner = ScriptedReasoner([call("refund_order", order_id=1, amount_cents=1), respond("x")])

    traced.runner.run(make_agent(TOOLS, reasoner, charter=charter), "refund")

    (span,) = by_name(traced.spans())["execute_tool refund_order"]
    assert attrs(span)["charter.rules"] == ("tools.deny",)
    assert attrs(span)["charter.reason"]


def test_a_run_that_succeeded_has_no_error_on_its_root_or_segment(traced: Traced) -> None:
    reasoner = ScriptedReasoner([call("lookup_order", order_id=1), respond("found")])

    run = traced.runner.run(make_agent(TOOLS, reasoner), "look it up")

    names = by_name(traced.spans())
    (root,), (segment,) = names["run test-agent"], names["invoke_agent test-agent"]
    assert run.outcome == "succeeded"
    assert attrs(root)["charter.run.outcome"] == attrs(segment)["charter.run.outcome"]
    assert attrs(root)["charter.run.outcome"] == "succeeded"
    assert root.status.status_code == segment.status.status_code == StatusCode.UNSET
    assert all(s.status.status_code == StatusCode.UNSET for s in traced.spans())


def test_a_run_with_a_denied_call_is_in_error_though_it_completed(traced: Traced) -> None:
    charter = Charter(name="c", tools=ToolRules(allow=["*"], deny=["cancel_order"]))
    reasoner = ScriptedReasoner([call("cancel_order", order_id=1), respond("could not")])

    run = traced.runner.run(make_agent(TOOLS, reasoner, charter=charter), "cancel")

    names = by_name(traced.spans())
    (root,), (segment,) = names["run test-agent"], names["invoke_agent test-agent"]
    (denied,) = names["execute_tool cancel_order"]
    assert (run.status, run.outcome) == ("completed", "denied")
    for span in (root, segment, denied):
        assert span.status.status_code == StatusCode.ERROR
        assert attrs(span)["error.type"] == "denied"
    assert attrs(root)["charter.run.status"] == "completed"


def test_every_segment_of_a_resumed_run_hangs_under_its_one_root(traced: Traced) -> None:
    agent = refund_needing_approval()
    run = traced.runner.run(agent, "refund order 7", actor="sam")
    traced.runner.approvals.approve(str(run.waiting_for), "dana")
    traced.runner.resume(agent, run.run_id)

    spans = traced.spans()
    (root,) = by_name(spans)["run refunds-agent"]
    segments = by_name(spans)["invoke_agent refunds-agent"]
    root_id = int(run_root_span_id(run.run_id), 16)
    assert context_of(root).span_id == root_id and root.parent is None
    assert context_of(root).trace_id == int(run_trace_id(run.run_id), 16)
    assert len(segments) == 2
    assert all(s.parent is not None and s.parent.span_id == root_id for s in segments)
    assert root.start_time == min(s.start_time for s in segments)  # type: ignore[type-var]
    assert root.end_time == max(s.end_time for s in segments)  # type: ignore[type-var]
    others = [s for s in spans if s is not root]
    ids = {context_of(s).span_id for s in spans}
    assert all(s.parent is not None and s.parent.span_id in ids for s in others)


def test_a_run_resumed_by_another_process_gets_its_root_from_that_process(
    journal: Journal,
) -> None:
    agent = refund_needing_approval()
    starter, resumer = Traced(journal), Traced(journal)
    run = starter.runner.run(agent, "refund order 7", actor="sam")
    starter.runner.approvals.approve(str(run.waiting_for), "dana")

    resumer.runner.resume(agent, run.run_id)

    root_id = int(run_root_span_id(run.run_id), 16)
    (first,) = by_name(starter.spans())["invoke_agent refunds-agent"]
    (second,) = by_name(resumer.spans())["invoke_agent refunds-agent"]
    (root,) = by_name(resumer.spans())["run refunds-agent"]
    assert "run refunds-agent" not in by_name(starter.spans())  # it had not finished
    assert first.parent.span_id == second.parent.span_id == context_of(root).span_id == root_id  # type: ignore[union-attr]
    starter.runner.close()
    resumer.runner.close()


def test_root_spans_leave_other_spans_their_random_ids(traced: Traced) -> None:
    for _ in range(2):
        traced.runner.run(mixed_agent(), "refund order 7")

    spans = traced.spans()
    roots = [s for s in spans if s.name == "run shop-agent"]
    assert len(roots) == 2
    assert len({context_of(s).span_id for s in spans}) == len(spans)  # no id reused


def test_export_of_a_journal_without_outcomes_derives_the_run_span_status(
    journal: Journal,
) -> None:
    charter = Charter(name="c", tools=ToolRules(allow=["*"], deny=["cancel_order"]))
    reasoner = ScriptedReasoner([call("cancel_order", order_id=1), respond("could not")])
    runner = Runner(journal)
    run = runner.run(make_agent(TOOLS, reasoner, charter=charter), "cancel")
    runner.close()
    (finished,) = journal.records_of_kind("run.finished")
    body = {k: v for k, v in finished.payload.items() if k != "outcome"}
    with journal.engine.begin() as conn:
        conn.execute(
            text("UPDATE journal_records SET payload = :p WHERE seq = :s"),
            {"p": canonical_json(body), "s": finished.seq},
        )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    export_run(journal, run.run_id, provider)

    (root,) = by_name(list(exporter.get_finished_spans()))["run test-agent"]
    assert attrs(root)["charter.run.outcome"] == "denied"
    assert root.status.status_code == StatusCode.ERROR
