"""Observing agents: traces and metrics of charter runs."""

from charter.observe._tracing import JournalTracer, export_run, run_trace_id

__all__ = ["JournalTracer", "export_run", "run_trace_id"]
