"""Observing agents: traces and metrics of charter runs."""

from charter.observe._costs import CostReport, Figures, cost_report
from charter.observe._period import Period, parse_period
from charter.observe._report import render_report
from charter.observe._telemetry_metrics import (
    JournalMetrics,
    Telemetry,
    chain_listeners,
    telemetry_from_env,
)
from charter.observe._tracing import JournalTracer, export_run, run_trace_id

__all__ = [
    "CostReport",
    "Figures",
    "JournalMetrics",
    "JournalTracer",
    "Period",
    "Telemetry",
    "chain_listeners",
    "cost_report",
    "export_run",
    "parse_period",
    "render_report",
    "run_trace_id",
    "telemetry_from_env",
]
