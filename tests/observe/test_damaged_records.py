"""A damaged journal record is left out of a replayed trace and of the metrics, named in
a warning; the rest of the run is traced as usual."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from charter import Journal, Runner
from charter.observe import export_run
from charter.observe._telemetry_metrics import JournalMetrics
from charter.testing import ScriptedReasoner, call, make_agent, respond
from observe._support import TOOLS
from tampering import damage_record


def _run(journal: Journal) -> str:
    reasoner = ScriptedReasoner([call("lookup_order", order_id=7), respond("found")])
    return Runner(journal).run(make_agent(TOOLS, reasoner, name="shop"), "look 7").run_id


@pytest.mark.parametrize("payload", ["{oops", '{"step":"one","verdict":"allow"}'])
def test_a_replayed_trace_leaves_out_a_damaged_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, payload: str
) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    run_id = _run(journal)
    seq = damage_record(journal, "step.decided", payload)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    with caplog.at_level(logging.WARNING, logger="charter.observe"):
        export_run(journal, run_id, provider)

    names = [span.name for span in exporter.get_finished_spans()]
    assert "invoke_agent shop" in names
    assert f"journal record {seq} (step.decided, run {run_id}) is damaged" in caplog.text


def test_metrics_leave_out_a_damaged_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    _run(journal)
    seq = damage_record(journal, "run.finished", "[7]")
    reader = InMemoryMetricReader()
    metrics = JournalMetrics(MeterProvider(metric_readers=[reader]))

    with caplog.at_level(logging.WARNING, logger="charter.observe"):
        for record in journal.records():
            metrics(record)

    assert f"journal record {seq} (run.finished" in caplog.text
