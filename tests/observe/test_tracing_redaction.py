"""Call spans say that values were masked or given back, and by which rule."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from charter import Journal, Runner, load_agent
from charter.demo.world import connect, create_world, default_world_path
from charter.observe import JournalTracer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "redact.agent.yaml"


def test_call_spans_carry_what_was_masked_and_restored_never_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path))
    with connect(create_world(default_world_path())) as conn:
        email = str(conn.execute("SELECT email FROM customers WHERE id = 17").fetchone()[0])
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    runner = Runner(Journal("sqlite://"), on_record=JournalTracer(provider))

    run = runner.run(load_agent(EXAMPLE), "Answer ticket 88")

    assert run.status == "completed", run.error
    calls = {
        str((span.attributes or {}).get("gen_ai.tool.name")): dict(span.attributes or {})
        for span in exporter.get_finished_spans()
        if (span.attributes or {}).get("gen_ai.tool.name")
    }
    assert calls["lookup_customer"]["charter.redacted.output"] == ("email",)
    assert calls["lookup_customer"]["charter.redaction.rules"] == ("redact.customer-record",)
    assert calls["reply_ticket"]["charter.restored.args"] == ("body",)
    assert "charter.redacted.output" not in calls["get_ticket"]  # ticket 88 holds none
    assert all(email not in repr(attributes) for attributes in calls.values())
