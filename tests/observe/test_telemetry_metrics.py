"""Metrics of runs, listeners that must not break runs, and telemetry from the environment."""

from __future__ import annotations

import gzip
import io
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from charter import Charter, Journal, Runner
from charter.agent import Agent
from charter.journal import Record
from charter.observe import JournalMetrics, chain_listeners, run_trace_id, telemetry_from_env
from charter.testing import ScriptedReasoner, call, make_agent, respond
from observe._support import TOOLS


def mixed_agent() -> Agent:
    """Reads, writes, is denied a call, meets a tool error, asks once, answers."""
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


Points = dict[tuple[str, frozenset[tuple[str, Any]]], Any]


def points(reader: InMemoryMetricReader) -> Points:
    """Every data point by metric name and attributes: a sum's value or a histogram point."""
    found: Points = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    key = (metric.name, frozenset(point.attributes.items()))  # type: ignore[union-attr]
                    found[key] = getattr(point, "value", point)
    return found


def of(found: Points, name: str, *parts: dict[str, Any]) -> Any:
    """The one point of ``name`` whose attributes are the union of ``parts``."""
    wanted = {k: v for part in parts for k, v in part.items()}
    matches = [v for (n, a), v in found.items() if n == name and dict(a) == wanted]
    assert len(matches) == 1, f"{name} {wanted}: {[dict(a) for n, a in found if n == name]}"
    return matches[0]


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def runner(reader: InMemoryMetricReader) -> Iterator[Runner]:
    metrics = JournalMetrics(MeterProvider(metric_readers=[reader]))
    r = Runner(Journal("sqlite://"), on_record=metrics)
    yield r
    r.close()


AGENT = "gen_ai.agent.name"
TOOL = "gen_ai.tool.name"


def test_counters_match_the_run(runner: Runner, reader: InMemoryMetricReader) -> None:
    runner.run(mixed_agent(), "refund order 7")

    found = points(reader)
    agent = {AGENT: "shop-agent"}
    steps = {dict(a).get(TOOL): v for (n, a), v in found.items() if n == "charter.steps"}
    assert steps == {"lookup_order": 1, "refund_order": 2, "cancel_order": 1, None: 1}
    decisions = {
        (dict(a)[TOOL], dict(a)["charter.verdict"]): v
        for (n, a), v in found.items()
        if n == "charter.decisions"
    }
    assert decisions == {
        ("lookup_order", "allow"): 1,
        ("refund_order", "allow"): 2,
        ("cancel_order", "deny"): 1,
    }
    ended = {"charter.run.status": "completed", "charter.run.outcome": "failed"}
    assert of(found, "charter.runs", {AGENT: "shop-agent"}, ended) == 1  # a tool failed
    tool_cost = of(found, "charter.cost", agent, {"charter.cost.source": "tool"})
    model_cost = of(found, "charter.cost", agent, {"charter.cost.source": "model"})
    assert (tool_cost, model_cost) == (pytest.approx(0.5), pytest.approx(5 * 0.005))


def test_token_usage_and_durations_follow_the_genai_conventions(
    runner: Runner, reader: InMemoryMetricReader
) -> None:
    runner.run(mixed_agent(), "refund order 7")

    found = points(reader)
    model = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "charter.scripted",
        "gen_ai.request.model": "scripted",
    }
    output = of(found, "gen_ai.client.token.usage", model, {"gen_ai.token.type": "output"})
    assert (output.count, output.sum) == (5, 25)
    assert output.explicit_bounds[:3] == (1.0, 4.0, 16.0)
    assert of(found, "gen_ai.client.token.usage", model, {"gen_ai.token.type": "input"}).sum == 0
    assert of(found, "gen_ai.client.operation.duration", model).count == 5
    tool = {AGENT: "shop-agent", "gen_ai.tool.type": "function"}
    assert of(found, "gen_ai.execute_tool.duration", tool, {TOOL: "lookup_order"}).count == 1
    failed = {TOOL: "refund_order", "error.type": "ValueError"}
    assert of(found, "gen_ai.execute_tool.duration", tool, failed).count == 1


def test_a_reasoner_without_usage_records_no_token_usage(
    runner: Runner, reader: InMemoryMetricReader
) -> None:
    runner.run(make_agent(TOOLS, ScriptedReasoner([respond("hi")])), "say hi")

    assert not [n for n, _ in points(reader) if n == "gen_ai.client.token.usage"]


def test_approval_requests_and_waiting_runs_are_counted(
    runner: Runner, reader: InMemoryMetricReader
) -> None:
    charter = Charter.model_validate(
        {"name": "c", "rules": [{"id": "ask", "effect": "ask", "tools": ["refund_order"]}]}
    )
    reasoner = ScriptedReasoner([call("refund_order", order_id=1, amount_cents=1), respond("ok")])
    agent = make_agent(TOOLS, reasoner, charter=charter)
    run = runner.run(agent, "refund")
    runner.approvals.approve(str(run.waiting_for), "dana")
    runner.resume(agent, run.run_id)

    found = points(reader)
    assert (
        of(found, "charter.approvals.requested", {AGENT: "test-agent", TOOL: "refund_order"}) == 1
    )
    ask = {AGENT: "test-agent", TOOL: "refund_order", "charter.verdict": "ask"}
    assert of(found, "charter.decisions", ask) == 2  # asked, then re-governed on resume
    ended = {"charter.run.status": "completed", "charter.run.outcome": "succeeded"}
    assert of(found, "charter.runs", {AGENT: "test-agent"}, ended) == 1


def test_a_listener_that_raises_does_not_fail_the_run(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Record] = []

    def broken(record: Record) -> None:
        raise RuntimeError("listener bug")

    journal = Journal("sqlite://")
    runner = Runner(journal, on_record=chain_listeners(broken, None, seen.append))
    with caplog.at_level(logging.DEBUG, logger="charter.observe"):
        run = runner.run(mixed_agent(), "refund order 7")
    runner.close()

    assert run.status == "completed"
    assert [r.seq for r in seen] == [r.seq for r in journal.records()]  # the next one got all
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(failures) == 1
    assert "failed on run.started record 1" in failures[0].getMessage()
    assert "listener bug" in caplog.text


def test_chaining_nothing_is_no_listener() -> None:
    assert chain_listeners(None, None) is None


OTLP_ENDPOINTS = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
]


@pytest.fixture
def no_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*OTLP_ENDPOINTS, "OTEL_SDK_DISABLED", "OTEL_SERVICE_NAME"]:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("no_otel_env")
def test_telemetry_is_off_without_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    assert telemetry_from_env() is None
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    assert telemetry_from_env(console=True) is None


@pytest.mark.usefixtures("no_otel_env")
def test_console_telemetry_writes_one_json_span_per_line() -> None:
    stream = io.StringIO()
    telemetry = telemetry_from_env(console=True, stream=stream)
    assert telemetry is not None and telemetry.meter_provider is None
    runner = Runner(Journal("sqlite://"), on_record=telemetry.listener)
    run = runner.run(mixed_agent(), "refund order 7")
    runner.close()
    telemetry.shutdown()

    spans = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(spans) == 11
    assert {span["context"]["trace_id"] for span in spans} == {f"0x{run_trace_id(run.run_id)}"}
    (agent,) = [span for span in spans if span["name"] == "invoke_agent shop-agent"]
    assert agent["resource"]["attributes"]["service.name"] == "charter"


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that keeps what it receives."""

    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector(
    monkeypatch: pytest.MonkeyPatch, no_otel_env: None
) -> Iterator[list[tuple[str, bytes]]]:
    received: list[tuple[str, bytes]] = []
    handler = type("Handler", (Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "charter-tests")
    yield received
    server.shutdown()
    server.server_close()


def test_otlp_export_reaches_a_collector(collector: list[tuple[str, bytes]]) -> None:
    telemetry = telemetry_from_env()
    assert telemetry is not None
    runner = Runner(Journal("sqlite://"), on_record=telemetry.listener)
    run = runner.run(mixed_agent(), "refund order 7")
    runner.close()

    telemetry.shutdown()

    traces = ExportTraceServiceRequest()
    metrics = ExportMetricsServiceRequest()
    for path, body in collector:
        if path == "/v1/traces":
            traces.MergeFromString(body)
        elif path == "/v1/metrics":
            metrics.MergeFromString(body)
    (resource,) = traces.resource_spans
    service = {a.key: a.value.string_value for a in resource.resource.attributes}
    assert service["service.name"] == "charter-tests"  # OTEL_SERVICE_NAME wins
    spans = [span for scope in resource.scope_spans for span in scope.spans]
    assert sorted({span.name for span in spans}) == [
        "chat scripted",
        "execute_tool cancel_order",
        "execute_tool lookup_order",
        "execute_tool refund_order",
        "invoke_agent shop-agent",
        "run shop-agent",
    ]
    assert {span.trace_id.hex() for span in spans} == {run_trace_id(run.run_id)}
    names = {
        metric.name
        for rm in metrics.resource_metrics
        for scope in rm.scope_metrics
        for metric in scope.metrics
    }
    assert {"charter.steps", "charter.decisions", "gen_ai.client.token.usage"} <= names
