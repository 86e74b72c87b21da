"""OpenTelemetry metrics of charter runs, and telemetry configured from the environment.

:class:`JournalMetrics` counts steps, decisions, approvals, runs and cost, and records the
GenAI token-usage and duration histograms, all from journal records (a runner ``on_record``
listener, like :class:`~charter.observe.JournalTracer`). :func:`telemetry_from_env` wires
both to exporters the standard ``OTEL_*`` variables name, and nothing anywhere otherwise.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from opentelemetry.metrics import MeterProvider
from opentelemetry.util.types import AttributeValue

from charter.journal import DamagedRecordError, Record, read_record
from charter.journal._kinds import (
    ApprovalRequested,
    RunFinished,
    RunStarted,
    StepDecided,
    StepEffect,
    StepProposed,
    payload_as,
)
from charter.observe._tracing import (
    AGENT_NAME,
    ERROR_TYPE,
    OPERATION,
    PROVIDER,
    REASONING_UNRESOLVED,
    REQUEST_MODEL,
    TOOL_NAME,
    TOOL_TYPE,
    JournalTracer,
    Reasoning,
    error_type,
    json_object,
    package_version,
    provider_name,
    record_ns,
    tool_started_ns,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

RecordListener = Callable[[Record], None]

logger = logging.getLogger("charter.observe")

# Bucket boundaries the GenAI semantic conventions recommend for these histograms.
_TOKEN_BUCKETS = [4.0**n for n in range(14)]  # 1, 4, 16, ... 67108864
_SECONDS_BUCKETS = [0.01 * 2.0**n for n in range(14)]  # 0.01, 0.02, ... 81.92
_MAX_RUNS = 10_000
_RUN_STARTS = frozenset({"run.started", "run.resumed", "run.recovered", "run.cancelled"})


@dataclass(slots=True)
class _RunMeter:
    """What the metrics need to remember of one run."""

    agent: str = ""
    provider: str = "charter.unknown"
    model: str = ""
    last_ns: int = 0
    reasoning: Reasoning | None = None
    decided_ns: int | None = None


class JournalMetrics:
    """Records OpenTelemetry metrics from journal records; a runner ``on_record`` listener.

    Instruments (attributes in brackets):

    - ``charter.steps`` counter: proposals [``gen_ai.agent.name``, ``gen_ai.tool.name``
      (absent for final answers)];
    - ``charter.decisions`` counter: governed calls [agent, tool, ``charter.verdict``];
    - ``charter.approvals.requested`` counter [agent, tool];
    - ``charter.runs`` counter: finished runs [agent, ``charter.run.status``,
      ``charter.run.outcome`` when the run journaled one];
    - ``charter.cost`` counter, USD [agent, ``charter.cost.source``: ``model`` or ``tool``];
    - ``gen_ai.client.token.usage`` histogram, only for reasoners that report usage
      [``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.token.type``,
      ``gen_ai.request.model``];
    - ``gen_ai.client.operation.duration`` histogram, seconds of reasoning per step, from
      record timestamps [operation, provider, model];
    - ``gen_ai.execute_tool.duration`` histogram, seconds the tool ran (the effect's
      measured time) [tool, agent, ``gen_ai.tool.type``, ``error.type``].

    Thread-safe. A run first seen at its resume (in another process than the one that
    started it) is attributed to its agent once a record names it.

    Args:
        meter_provider: where the measurements go (not the global provider unless passed).
    """

    def __init__(self, meter_provider: MeterProvider) -> None:
        meter = meter_provider.get_meter("charter", package_version())
        self._steps = meter.create_counter(
            "charter.steps", unit="{step}", description="Steps proposed by agents."
        )
        self._decisions = meter.create_counter(
            "charter.decisions", unit="{decision}", description="Tool calls governed."
        )
        self._approvals = meter.create_counter(
            "charter.approvals.requested",
            unit="{request}",
            description="Approval requests opened.",
        )
        self._runs = meter.create_counter(
            "charter.runs", unit="{run}", description="Runs finished, by status."
        )
        self._cost = meter.create_counter(
            "charter.cost", unit="USD", description="Cost of model tokens and tool calls."
        )
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self._reasoning = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )
        self._tool = meter.create_histogram(
            "gen_ai.execute_tool.duration",
            unit="s",
            description="The duration of a single tool execution.",
            explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS,
        )
        self._state: dict[str, _RunMeter] = {}
        self._lock = threading.Lock()

    def __call__(self, record: Record) -> None:
        """Take one record (in journal order within its run); a damaged one is left out,
        with a warning naming it."""
        with self._lock:
            try:
                read_record(record, self._take, check=False)
            except DamagedRecordError as exc:
                logger.warning("%s; left out of the telemetry", exc)

    def _take(self, record: Record) -> None:
        kind = record.kind
        run = self._state.get(record.run_id)
        if run is None:
            if kind not in _RUN_STARTS:
                return  # not a run (controls, notifications), or one joined mid-way
            if len(self._state) >= _MAX_RUNS:  # a bound, not a cache: waiting runs stay
                del self._state[next(iter(self._state))]
            run = self._state[record.run_id] = _RunMeter()
        ns = record_ns(record.ts)
        if run.reasoning is not None and kind not in REASONING_UNRESOLVED and kind != "step.effect":
            self._reasoned(run, run.reasoning.end_ns())
        match kind:
            case "run.started":
                p = payload_as(RunStarted, record.payload)
                run.agent = str(p.get("agent") or "")
                run.provider = provider_name(json_object(p.get("reasoner")))
            case "step.proposed":
                self._proposed(run, payload_as(StepProposed, record.payload), ns)
            case "step.decided":
                decision = payload_as(StepDecided, record.payload)
                run.decided_ns = ns
                self._learn_agent(run, decision)
                decided: dict[str, AttributeValue] = {
                    TOOL_NAME: str(decision.get("tool", "")),
                    "charter.verdict": str(decision["verdict"]),
                }
                self._decisions.add(1, self._agent(run, decided))
            case "step.effect":
                self._effect(run, payload_as(StepEffect, record.payload), ns)
            case "approval.requested":
                requested = payload_as(ApprovalRequested, record.payload)
                self._learn_agent(run, requested)
                tool = str(requested.get("tool", ""))
                self._approvals.add(1, self._agent(run, {TOOL_NAME: tool}))
            case "run.finished":
                finished = payload_as(RunFinished, record.payload)
                status = str(finished.get("status", ""))
                ended: dict[str, AttributeValue] = {"charter.run.status": status}
                if finished.get("outcome"):
                    ended["charter.run.outcome"] = str(finished.get("outcome"))
                self._runs.add(1, self._agent(run, ended))
                del self._state[record.run_id]
            case _:
                pass
        run.last_ns = ns

    @staticmethod
    def _learn_agent(run: _RunMeter, payload: Mapping[str, Any]) -> None:
        if not run.agent and payload.get("agent"):
            run.agent = str(payload["agent"])

    @staticmethod
    def _agent(run: _RunMeter, attributes: dict[str, AttributeValue]) -> dict[str, AttributeValue]:
        return attributes | {AGENT_NAME: run.agent} if run.agent else attributes

    def _proposed(self, run: _RunMeter, p: StepProposed, ns: int) -> None:
        tool = str(json_object(p.get("action")).get("tool") or "")
        self._steps.add(1, self._agent(run, {TOOL_NAME: tool} if tool else {}))
        run.model = str(p.get("model") or "")
        run.reasoning = Reasoning(int(p.get("step", 0)), run.last_ns, ns)
        run.decided_ns = None
        cost = p.get("cost_usd")
        if cost:
            self._cost.add(float(cost), self._agent(run, {"charter.cost.source": "model"}))
        tokens = json_object(p.get("tokens"))
        used = {"input": int(tokens.get("prompt", 0)), "output": int(tokens.get("completion", 0))}
        if not any(used.values()):
            return  # a reasoner without a model (rules, plans, scripts) reports no usage
        for token_type, count in used.items():
            attributes = self._model_attributes(run) | {"gen_ai.token.type": token_type}
            self._tokens.record(count, attributes)

    def _model_attributes(self, run: _RunMeter) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = {OPERATION: "chat", PROVIDER: run.provider}
        if run.model:
            attributes[REQUEST_MODEL] = run.model
        return attributes

    def _reasoned(self, run: _RunMeter, end_ns: int) -> None:
        reasoning, run.reasoning = run.reasoning, None
        if reasoning is not None:
            seconds = (end_ns - reasoning.start_ns) / 1e9
            self._reasoning.record(seconds, self._model_attributes(run))

    def _effect(self, run: _RunMeter, p: StepEffect, ns: int) -> None:
        self._learn_agent(run, p)
        us = p.get("us")
        if run.reasoning is not None:
            start = tool_started_ns(run.decided_ns, ns, int(us or 0))
            self._reasoned(run, run.reasoning.end_ns(start))
        tool = str(p.get("tool", ""))
        cost = p.get("cost_usd")
        if cost:
            self._cost.add(float(cost), self._agent(run, {"charter.cost.source": "tool"}))
        if us is None:
            return  # in doubt: it never finished in this process, so no duration
        attributes = self._agent(run, {TOOL_NAME: tool, TOOL_TYPE: "function"})
        status = str(p.get("status", ""))
        if status == "error":
            attributes[ERROR_TYPE] = error_type(str(p.get("error") or ""))
        elif status in ("timeout", "in_doubt"):
            attributes[ERROR_TYPE] = status
        self._tool.record(int(us) / 1e6, attributes)


def chain_listeners(*listeners: RecordListener | None) -> RecordListener | None:
    """One ``on_record`` listener calling each of ``listeners`` in order (None entries
    skipped); None when there is none.

    A listener that raises never fails the run: its first failure is logged with its
    traceback on the ``charter.observe`` logger, later ones at debug level, and the other
    listeners still get the record.
    """
    chained = [listener for listener in listeners if listener is not None]
    if not chained:
        return None
    failed: set[int] = set()

    def on_record(record: Record) -> None:
        for index, listener in enumerate(chained):
            try:
                listener(record)
            except Exception:
                if index in failed:
                    logger.debug("record listener %r failed again", listener, exc_info=True)
                else:
                    failed.add(index)
                    logger.exception(
                        "record listener %r failed on %s record %d of run %s; the run goes on "
                        "without it (later failures are logged at debug level)",
                        listener,
                        record.kind,
                        record.seq,
                        record.run_id,
                    )

    return on_record


class Telemetry:
    """Traces and metrics of charter runs, sent to the given providers.

    Pass :meth:`listener` as the runner's ``on_record`` (or chain it with
    :func:`chain_listeners`), and call :meth:`shutdown` before the process exits so the
    last spans and measurements are sent.

    Args:
        tracer_provider: where spans go; None for no traces.
        meter_provider: where measurements go; None for no metrics.
    """

    def __init__(
        self,
        tracer_provider: SdkTracerProvider | None = None,
        meter_provider: SdkMeterProvider | None = None,
    ) -> None:
        self.tracer_provider = tracer_provider
        """Where spans go (for :func:`~charter.observe.export_run` too)."""
        self.meter_provider = meter_provider
        """Where measurements go."""
        self.tracer = JournalTracer(tracer_provider) if tracer_provider is not None else None
        """The span builder, when there are traces."""
        self.metrics = JournalMetrics(meter_provider) if meter_provider is not None else None
        """The metrics recorder, when there are metrics."""
        self._listener = chain_listeners(self.tracer, self.metrics)
        self._shut = False

    def listener(self, record: Record) -> None:
        """A runner ``on_record`` listener feeding traces and metrics (never raises)."""
        if self._listener is not None:
            self._listener(record)

    def shutdown(self) -> None:
        """End segments still open, send what is buffered and shut the providers down
        (once; later calls do nothing).

        With an unreachable OTLP endpoint this waits out the exporters' retries, bounded
        by ``OTEL_EXPORTER_OTLP_TIMEOUT`` (10 s by default) for traces and again for
        metrics.
        """
        if self._shut:
            return
        self._shut = True
        atexit.unregister(self.shutdown)
        if self.tracer is not None:
            self.tracer.end_open_segments()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def telemetry_from_env(console: bool = False, *, stream: TextIO | None = None) -> Telemetry | None:
    """Telemetry for charter runs as the environment and ``console`` configure it, or
    None when nothing is configured (then nothing is sent anywhere).

    - ``OTEL_EXPORTER_OTLP_ENDPOINT``: traces and metrics over OTLP/HTTP (protobuf) to
      that collector; ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``..._METRICS_ENDPOINT``
      for one signal only. Headers, timeout, compression and the metric export interval
      follow the standard ``OTEL_*`` variables, read by the exporters.
    - ``console``: every span as one JSON line on ``stream`` (default stderr).
    - ``OTEL_SDK_DISABLED=true`` turns all of it off.

    The resource says ``service.name=charter`` (``OTEL_SERVICE_NAME`` and
    ``OTEL_RESOURCE_ATTRIBUTES`` override it) and ``service.version``. No global provider
    is set. The returned telemetry is shut down at exit if :meth:`Telemetry.shutdown` was
    not called.

    Args:
        console: also write spans to ``stream``.
        stream: where console spans go.
    """
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    base = bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    otlp_traces = base or bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    otlp_metrics = base or bool(env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"))
    if not (console or otlp_traces or otlp_metrics):
        return None
    # Imported here: the SDK and exporters cost import time every CLI call would pay.
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    resource = Resource.create(
        {"service.name": "charter", "service.version": package_version()}
    ).merge(OTELResourceDetector().detect())
    tracer_provider = None
    if console or otlp_traces:
        tracer_provider = SdkTracerProvider(resource=resource, shutdown_on_exit=False)
        if otlp_traces:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        if console:
            exporter = ConsoleSpanExporter(
                out=stream or sys.stderr, formatter=lambda span: span.to_json(indent=None) + "\n"
            )
            tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = None
    if otlp_metrics:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        reader = PeriodicExportingMetricReader(OTLPMetricExporter())
        meter_provider = SdkMeterProvider(
            metric_readers=[reader], resource=resource, shutdown_on_exit=False
        )
    telemetry = Telemetry(tracer_provider, meter_provider)
    atexit.register(telemetry.shutdown)
    return telemetry
