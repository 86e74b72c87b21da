"""Observing agents: traces and metrics of charter runs."""

from charter.observe._telemetry_metrics import (
    JournalMetrics,
    Telemetry,
    chain_listeners,
    telemetry_from_env,
)
from charter.observe._tracing import JournalTracer, export_run, run_trace_id

__all__ = [
    "JournalMetrics",
    "JournalTracer",
    "Telemetry",
    "chain_listeners",
    "export_run",
    "run_trace_id",
    "telemetry_from_env",
]
