"""OpenTelemetry traces of charter runs, built from journal records.

Spans follow the OpenTelemetry GenAI semantic conventions (development status): one
``invoke_agent {agent}`` span per run segment (from the run's start, resume or recovery to
its end or its wait for an approval), and under it a ``chat {model}`` span per proposal (the
reasoning time) and an ``execute_tool {tool}`` span per governed tool call. Every segment
hangs under the run's root span, ``run {agent}``, emitted when the run finishes: its ids,
like the trace id, derive from the run id, so segments recorded by any process, days apart,
name it as their parent before it exists.

A span's status is ERROR for a call that was refused (``error.type`` ``denied``) or whose
tool failed, and for the root and last segment of a run whose outcome
(:mod:`charter.journal._outcome`) is not ``succeeded`` (``error.type``: the exception's
class for a failed run, else the outcome).

Every time comes from record timestamps, never from the clock, so the same code traces a
run live (as the runner's ``on_record`` listener) and rebuilds its trace afterwards from the
journal (:func:`export_run`). A run's trace id is derived from its run id, so its segments,
recorded by any process, and any later export land in one trace.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TracerProvider,
)
from opentelemetry.util.types import AttributeValue

from charter.errors import RunNotFoundError
from charter.journal import DamagedRecordError, Journal, Record, read_record
from charter.journal._kinds import (
    ApprovalRequested,
    ApprovalUsed,
    RunFinished,
    RunStarted,
    RunWaiting,
    StepDecided,
    StepEffect,
    StepObserved,
    StepProposed,
    payload_as,
)
from charter.journal._outcome import OutcomeTally

# GenAI semantic-convention attribute names (development status; checked against the
# open-telemetry/semantic-conventions-genai registry). Strings, not the incubating package.
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
AGENT_NAME = "gen_ai.agent.name"
AGENT_VERSION = "gen_ai.agent.version"
CONVERSATION = "gen_ai.conversation.id"
REQUEST_MODEL = "gen_ai.request.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
FINISH_REASONS = "gen_ai.response.finish_reasons"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
ERROR_TYPE = "error.type"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"

Attributes = dict[str, AttributeValue]

REASONING_UNRESOLVED = frozenset({"step.decided", "approval.used", "anomaly.detected"})
"""Kinds that may follow a proposal before it is known whether its tool ran in the same
append (and so when the reasoning ended); any other record of the run settles it."""

_OPENS_SEGMENT = {"run.started": "start", "run.resumed": "resume", "run.recovered": "recover"}
_SEGMENT_EVENTS = frozenset(
    {
        "budget.exceeded",
        "budget.extended",
        "anomaly.detected",
        "approval.rejected",
        "run.paused",
        "run.cancelled",
    }
)
_TOOL_ERRORS = frozenset({"error", "timeout", "in_doubt"})
_CALL_NOT_MADE = frozenset({"unknown_tool", "invalid_arguments"})
_MAX_RUNS = 10_000
"""Runs whose state is kept (waiting runs keep theirs until resumed): a bound, not a cache."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

logger = logging.getLogger("charter.observe")


def package_version() -> str:
    """charter's installed version, or ``unknown`` when running from an uninstalled tree."""
    try:
        return importlib.metadata.version("charter")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def record_ns(ts: str) -> int:
    """A record's ISO 8601 timestamp as nanoseconds since the epoch."""
    moment = datetime.fromisoformat(ts)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND * 1000


def provider_name(reasoner: Mapping[str, Any]) -> str:
    """``gen_ai.provider.name`` for a journaled reasoner description: ``openai`` for the
    OpenAI-compatible client (whatever serves it), ``charter.{kind}`` for charter's own."""
    kind = str(reasoner.get("kind") or "unknown")
    return "openai" if kind == "llm" else f"charter.{kind}"


def error_type(message: str) -> str:
    """A low-cardinality ``error.type``: the exception class that ``message`` starts with
    (the runner journals ``"ValueError: ..."``), else ``_OTHER``."""
    head, sep, _ = message.partition(": ")
    if sep and all(part.isidentifier() for part in head.split(".")):
        return head
    return "_OTHER"


def tool_started_ns(decided_ns: int | None, effect_ns: int, us: int) -> int:
    """When a tool call began: at its decision, or earlier, at the effect's time minus the
    tool's measured run time, when decision and effect share one append (and timestamp)."""
    ran_from = effect_ns - us * 1000
    return ran_from if decided_ns is None else min(decided_ns, ran_from)


@dataclass(slots=True)
class Reasoning:
    """One step's reasoning: from the run's previous record to its proposal."""

    step: int
    start_ns: int
    proposed_ns: int

    def end_ns(self, tool_start_ns: int | None = None) -> int:
        """When it ended. A read is journaled in one append with its proposal, so one
        timestamp covers both: the reasoning then ended when the tool started."""
        end = self.proposed_ns if tool_start_ns is None else min(self.proposed_ns, tool_start_ns)
        return max(end, self.start_ns)


def run_trace_id(run_id: str) -> str:
    """The trace id (32 hex digits) of ``run_id``'s trace, to look it up in a backend."""
    return f"{_run_ids(run_id)[0]:032x}"


def _run_ids(run_id: str) -> tuple[int, int]:
    digest = hashlib.sha256(run_id.encode()).digest()
    trace_id = int.from_bytes(digest[:16]) or 1
    span_id = int.from_bytes(digest[16:24]) or 1
    return trace_id, span_id


def run_root_span_id(run_id: str) -> str:
    """The span id (16 hex digits) of ``run_id``'s root span, every segment's parent."""
    return f"{_run_ids(run_id)[1]:016x}"


def _delegated_ids(run_id: str, delegated: Mapping[str, Any]) -> tuple[int, int]:
    """A sub-agent's run's ids: its root run's trace, its own root span."""
    return _run_ids(str(delegated["root"]))[0], _run_ids(run_id)[1]


def _run_parent(run_id: str, ids: tuple[int, int] | None = None) -> Context:
    # Segments may be recorded by several processes, days apart, before the root span is
    # emitted (when the run finishes): they name it as a remote parent whose ids derive
    # from the run id, which puts them (and any later export) under it in one trace.
    trace_id, span_id = ids or _run_ids(run_id)
    parent = SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


class _RootIds(IdGenerator):
    """The SDK's own ids, except while a run's root span starts: then the ids derived from
    its run id (per thread, so other spans started meanwhile keep random ids)."""

    def __init__(self, inner: IdGenerator) -> None:
        self._inner = inner
        self._fixed = threading.local()

    def fix(self, ids: tuple[int, int] | None) -> None:
        """Give the next spans of this thread ``ids`` (trace id, span id); None: stop."""
        self._fixed.ids = ids

    def _ids(self) -> tuple[int, int] | None:
        ids: tuple[int, int] | None = getattr(self._fixed, "ids", None)
        return ids

    def generate_span_id(self) -> int:
        """The fixed span id, else the SDK's."""
        ids = self._ids()
        return self._inner.generate_span_id() if ids is None else ids[1]

    def generate_trace_id(self) -> int:
        """The fixed trace id, else the SDK's."""
        ids = self._ids()
        return self._inner.generate_trace_id() if ids is None else ids[0]

    def is_trace_id_random(self) -> bool:
        """A derived trace id is not random."""
        return self._ids() is None and self._inner.is_trace_id_random()


def _root_ids(tracer: trace.Tracer) -> _RootIds | None:
    """The id generator of an SDK ``tracer``, wrapped to give root spans their derived
    ids; None for other tracers (their runs get no root span)."""
    generator = getattr(tracer, "id_generator", None)
    if isinstance(generator, _RootIds):
        return generator
    if not isinstance(generator, IdGenerator):
        return None
    wrapped = _RootIds(generator)
    tracer.id_generator = wrapped  # type: ignore[attr-defined]  # the SDK's Tracer
    return wrapped


def json_object(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return cast(Mapping[str, Any], value) if isinstance(value, Mapping) else {}


def _redactions(attributes: Attributes, p: Mapping[str, Any], where: str) -> None:
    """Say on a call's span that values were masked (``where``: args or output) or given
    back, and by which rules: paths, placeholders and rule ids, never the values."""
    for key, items in (("redacted", p.get("redacted")), ("restored", p.get("restored"))):
        records = [json_object(r) for r in cast(list[Any], items or [])]
        if not records:
            continue
        name = f"charter.{key}.{where}" if key == "redacted" else "charter.restored.args"
        paths = [str(r.get("path", r.get("arg", ""))) for r in records]
        attributes[name] = paths
        rules = [str(r) for r in cast(list[Any], attributes.get("charter.redaction.rules", []))]
        found = [f"redact.{r.get('rule', '')}" for r in records]
        attributes["charter.redaction.rules"] = list(dict.fromkeys([*rules, *found]))


def _scalars(payload: Mapping[str, Any]) -> Attributes:
    """A payload's flat values as ``charter.*`` event attributes."""
    found: Attributes = {}
    for key, value in payload.items():
        if isinstance(value, str | bool | int | float):
            found[f"charter.{key}"] = value
        elif isinstance(value, list):
            items = cast(list[Any], value)
            if all(isinstance(item, str) for item in items):
                found[f"charter.{key}"] = [str(item) for item in items]
    return found


@dataclass(slots=True)
class _Call:
    """A governed tool call whose span is not emitted yet."""

    step: int
    start_ns: int
    attributes: Attributes


@dataclass(slots=True)
class _Run:
    """What the tracer knows of one run."""

    run_id: str
    parent: Context
    ids: tuple[int, int] = (0, 0)
    """Its trace id and root span id (a sub-agent's run is in its root run's trace)."""
    above: Context = field(default_factory=Context)
    """The parent of its root span: none, or the root span of the run that delegated it."""
    agent: str = ""
    agent_attributes: Attributes = field(default_factory=lambda: Attributes())
    provider: str = "charter.unknown"
    server: Attributes = field(default_factory=lambda: Attributes())
    last_ns: int = 0
    segment: Span | None = None
    segment_context: Context | None = None
    segment_start_ns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    reasoning: Reasoning | None = None
    chat_name: str = "chat"
    chat_attributes: Attributes = field(default_factory=lambda: Attributes())
    call: _Call | None = None
    proposed_tool: str = ""
    started_ns: int = 0
    """When the run started (or, first seen at a resume, that segment began)."""
    tally: OutcomeTally = field(default_factory=OutcomeTally)
    """The evidence of its outcome, from the records seen (for journals without one)."""

    def learn_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Take the agent's identity from its ``run.started`` manifest."""
        self.agent = str(manifest.get("agent") or "")
        charter = json_object(manifest.get("charter"))
        reasoner = json_object(manifest.get("reasoner"))
        self.provider = provider_name(reasoner)
        self.agent_attributes = {AGENT_NAME: self.agent, PROVIDER: self.provider}
        if manifest.get("agent_version") is not None:
            self.agent_attributes[AGENT_VERSION] = str(manifest["agent_version"])
        if charter.get("policy"):
            self.agent_attributes["charter.policy"] = str(charter["policy"])
        base_url = str(reasoner.get("base_url") or "")
        if self.provider == "openai" and base_url not in ("", "openai"):
            where = urlsplit(base_url)
            if where.hostname:
                self.server = {SERVER_ADDRESS: where.hostname}
                if where.port:
                    self.server[SERVER_PORT] = where.port


class JournalTracer:
    """Builds OpenTelemetry spans from journal records; a runner ``on_record`` listener.

    Thread-safe: runs of several threads may interleave. A run first seen at its resume
    (resumed by another process than the one that started it) is named after its agent once
    a record names it (its first decision).

    Args:
        tracer_provider: where the spans go (not the global provider unless passed).
    """

    def __init__(self, tracer_provider: TracerProvider) -> None:
        self._tracer = tracer_provider.get_tracer("charter", package_version())
        self._root_ids = _root_ids(self._tracer)
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()

    def __call__(self, record: Record) -> None:
        """Take one record (in journal order within its run); a damaged one is left out,
        with a warning naming it."""
        with self._lock:
            try:
                read_record(record, self._take, check=False)
            except DamagedRecordError as exc:
                logger.warning("%s; left out of the telemetry", exc)

    def end_open_segments(self) -> None:
        """End the spans of segments still open at their last record, marked
        ``charter.run.status=in_progress`` (a replay of a run still going, or one whose
        process stopped)."""
        with self._lock:
            for run in list(self._runs.values()):
                if run.segment is not None:
                    self._end_segment(run, run.last_ns, {"charter.run.status": "in_progress"})
            self._runs.clear()

    def _take(self, record: Record) -> None:
        kind = record.kind
        run = self._runs.get(record.run_id)
        opens = kind in _OPENS_SEGMENT or (
            kind == "run.cancelled" and (run is None or run.segment is None)
        )
        if run is None:
            if not opens:
                return  # not a run (controls, notifications), or one joined mid-segment
            # A sub-agent's run: its start and every segment name its parent and root.
            delegated = payload_as(RunStarted, record.payload).get("delegated_by")
            run = self._track(record.run_id, delegated)
        ns = record_ns(record.ts)
        run.tally.add(kind, record.payload)
        if opens:
            if kind == "run.started":
                run.learn_manifest(record.payload)
            run.started_ns = run.started_ns or ns
            if run.segment is not None:  # its process stopped mid-segment: a recovery
                self._end_segment(run, run.last_ns, {"charter.run.status": "interrupted"})
            self._open_segment(run, ns, _OPENS_SEGMENT.get(kind, "cancel"))
        elif run.segment is None:
            run.last_ns = ns  # between segments: approval decisions of a waiting run
            return
        self._on_record(run, record, ns)
        run.last_ns = ns

    def _track(self, run_id: str, delegated: Mapping[str, Any] | None = None) -> _Run:
        if len(self._runs) >= _MAX_RUNS:
            del self._runs[next(iter(self._runs))]
        ids = _delegated_ids(run_id, delegated) if delegated else _run_ids(run_id)
        run = self._runs[run_id] = _Run(run_id, _run_parent(run_id, ids), ids)
        if delegated:  # its root span under the root span of the run that delegated it
            above = (ids[0], _run_ids(str(delegated["run"]))[1])
            run.above = _run_parent(str(delegated["run"]), above)
        return run

    def _open_segment(self, run: _Run, ns: int, began: str) -> None:
        attributes: Attributes = {
            OPERATION: "invoke_agent",
            CONVERSATION: run.run_id,
            "charter.run.id": run.run_id,
            "charter.run.segment": began,
        }
        span = self._tracer.start_span(
            f"invoke_agent {run.agent}" if run.agent else "invoke_agent",
            context=run.parent,
            kind=SpanKind.INTERNAL,
            attributes=attributes | run.agent_attributes,
            start_time=ns,
        )
        run.segment, run.segment_context = span, trace.set_span_in_context(span)
        run.segment_start_ns, run.last_ns = ns, ns
        run.input_tokens = run.output_tokens = 0

    def _on_record(self, run: _Run, record: Record, ns: int) -> None:
        kind = record.kind
        if run.reasoning is not None and kind not in REASONING_UNRESOLVED and kind != "step.effect":
            self._end_chat(run, run.reasoning.end_ns())
        match kind:
            case "step.proposed":
                self._proposed(run, payload_as(StepProposed, record.payload), ns)
            case "step.decided":
                self._decided(run, payload_as(StepDecided, record.payload), ns)
            case "approval.used":
                used = payload_as(ApprovalUsed, record.payload)
                if run.call is not None and run.call.step == used.get("step"):
                    run.call.attributes["charter.approval.request_id"] = str(used["request_id"])
                    run.call.attributes["charter.approval.approver"] = str(used.get("approver", ""))
            case "step.effect":
                self._effect(run, payload_as(StepEffect, record.payload), ns)
            case "approval.requested":
                requested = payload_as(ApprovalRequested, record.payload)
                self._approval_requested(run, requested, ns)
            case "step.observed":
                self._observed(run, payload_as(StepObserved, record.payload), ns)
            case "run.waiting":
                request_id = payload_as(RunWaiting, record.payload).get("request_id")
                waiting: Attributes = {"charter.run.status": "waiting"}
                if request_id:
                    waiting["charter.approval.request_id"] = str(request_id)
                self._end_segment(run, ns, waiting)
            case "run.finished":
                self._finished(run, payload_as(RunFinished, record.payload), ns)
            case _ if kind in _SEGMENT_EVENTS and run.segment is not None:
                run.segment.add_event(kind, _scalars(record.payload), ns)
            case _:
                pass

    def _learn_agent(self, run: _Run, agent: Any) -> None:
        if run.agent or not agent:
            return
        run.agent = str(agent)
        run.agent_attributes[AGENT_NAME] = run.agent
        if run.segment is not None:
            run.segment.update_name(f"invoke_agent {run.agent}")
            run.segment.set_attribute(AGENT_NAME, run.agent)

    def _proposed(self, run: _Run, p: StepProposed, ns: int) -> None:
        action = json_object(p.get("action"))
        tokens = json_object(p.get("tokens"))
        model = str(p.get("model") or "")
        prompt, completion = int(tokens.get("prompt", 0)), int(tokens.get("completion", 0))
        run.input_tokens += prompt
        run.output_tokens += completion
        step = int(p.get("step", 0))
        attributes: Attributes = {
            OPERATION: "chat",
            PROVIDER: run.provider,
            CONVERSATION: run.run_id,
            FINISH_REASONS: ["tool_calls" if "tool" in action else "stop"],
            "charter.step": step,
        } | run.server
        if model:
            attributes[REQUEST_MODEL] = model
        if prompt or completion:
            attributes[INPUT_TOKENS], attributes[OUTPUT_TOKENS] = prompt, completion
        cost = p.get("cost_usd")
        if cost:
            attributes["charter.cost_usd"] = float(cost)
        run.chat_name = f"chat {model}" if model else "chat"
        run.chat_attributes = attributes
        run.reasoning = Reasoning(step, max(run.last_ns, run.segment_start_ns), ns)
        run.proposed_tool = str(action.get("tool") or "")

    def _end_chat(self, run: _Run, end_ns: int) -> None:
        reasoning, run.reasoning = run.reasoning, None
        if reasoning is None:
            return
        kind = SpanKind.CLIENT if run.provider == "openai" else SpanKind.INTERNAL
        span = self._tracer.start_span(
            run.chat_name,
            context=run.segment_context,
            kind=kind,
            attributes=run.chat_attributes,
            start_time=reasoning.start_ns,
        )
        span.end(end_ns)

    def _call_attributes(self, run: _Run, p: Mapping[str, Any]) -> Attributes:
        self._learn_agent(run, p.get("agent"))
        step = int(p.get("step", 0))
        attributes: Attributes = {
            OPERATION: "execute_tool",
            TOOL_NAME: str(p.get("tool", "")),
            TOOL_CALL_ID: f"{run.run_id}:{step}",
            TOOL_TYPE: "function",
            CONVERSATION: run.run_id,
            "charter.step": step,
        }
        if run.agent:
            attributes[AGENT_NAME] = run.agent
        return attributes

    def _decided(self, run: _Run, p: StepDecided, ns: int) -> None:
        self._end_call(run, ns)
        attributes = self._call_attributes(run, p)
        attributes["charter.verdict"] = str(p.get("verdict", ""))
        attributes["charter.rules"] = [str(rule) for rule in cast(list[Any], p.get("rules") or [])]
        if p.get("reason"):
            attributes["charter.reason"] = str(p["reason"])
        phase = p.get("phase")
        if phase:
            attributes["charter.phase"] = str(phase)
        labels = json_object(p.get("labels"))
        for dimension in ("trust", "confidentiality"):
            if labels.get(dimension):
                attributes[f"charter.label.{dimension}"] = str(labels[dimension])
        _redactions(attributes, p, "args")
        run.call = _Call(int(p.get("step", 0)), ns, attributes)

    def _effect(self, run: _Run, p: StepEffect, ns: int) -> None:
        step = int(p.get("step", 0))
        call = run.call if run.call is not None and run.call.step == step else None
        decided_ns = call.start_ns if call is not None else None
        start = max(tool_started_ns(decided_ns, ns, int(p.get("us") or 0)), run.segment_start_ns)
        if run.reasoning is not None:
            self._end_chat(run, run.reasoning.end_ns(start))
        if call is None:  # a recovery settling a call decided by the process that stopped
            self._end_call(run, ns)
            call = _Call(step, start, self._call_attributes(run, p))
        run.call = None
        status = str(p.get("status", ""))
        call.attributes["charter.effect.status"] = status
        _redactions(call.attributes, p, "output")
        cost = p.get("cost_usd")
        if cost:
            call.attributes["charter.cost_usd"] = float(cost)
        error = None
        if status in _TOOL_ERRORS:
            message = str(p.get("error") or status)
            call.attributes[ERROR_TYPE] = error_type(message) if status == "error" else status
            error = message
        self._emit_call(run, call, start, ns, error)

    def _approval_requested(self, run: _Run, p: ApprovalRequested, ns: int) -> None:
        call = run.call
        if call is not None and call.step == p.get("step"):
            call.attributes["charter.approval.request_id"] = str(p.get("request_id", ""))
            run.call = None
            self._emit_call(run, call, call.start_ns, ns)
        elif run.segment is not None:  # a budget extension: no tool call to hang it on
            attributes = _scalars({k: p[k] for k in ("request_id", "tool", "reason") if k in p})
            run.segment.add_event("approval.requested", attributes, ns)

    def _observed(self, run: _Run, p: StepObserved, ns: int) -> None:
        step, status = int(p.get("step", 0)), str(p.get("status", ""))
        call = run.call
        if call is not None and call.step == step:
            run.call = None
            call.attributes["charter.observation.status"] = status
            refused = None
            if status == "denied":  # by a rule, an approver, a playbook: not a success
                call.attributes[ERROR_TYPE] = "denied"
                refused = str(p.get("text") or status)
            self._emit_call(run, call, call.start_ns, ns, refused)
        elif status in _CALL_NOT_MADE and run.proposed_tool:
            # The model named no such tool, or bad arguments: never governed, never run.
            attributes = self._call_attributes(run, {"step": step, "tool": run.proposed_tool})
            attributes["charter.observation.status"] = status
            attributes[ERROR_TYPE] = status
            self._emit_call(run, _Call(step, ns, attributes), ns, ns, str(p.get("text", status)))

    def _end_call(self, run: _Run, ns: int) -> None:
        call, run.call = run.call, None
        if call is not None:
            self._emit_call(run, call, call.start_ns, ns)

    def _emit_call(
        self, run: _Run, call: _Call, start_ns: int, end_ns: int, error: str | None = None
    ) -> None:
        span = self._tracer.start_span(
            f"execute_tool {call.attributes[TOOL_NAME]}",
            context=run.segment_context,
            kind=SpanKind.INTERNAL,
            attributes=call.attributes,
            start_time=start_ns,
        )
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(max(end_ns, start_ns))

    def _finished(self, run: _Run, p: RunFinished, ns: int) -> None:
        status = str(p.get("status", ""))
        outcome = run.tally.outcome() or "failed"
        attributes: Attributes = {"charter.run.status": status, "charter.run.outcome": outcome}
        for key in ("steps", "tokens"):
            if p.get(key) is not None:
                attributes[f"charter.run.{key}"] = int(p[key])
        cost = p.get("cost_usd")
        if cost is not None:
            attributes["charter.run.cost_usd"] = float(cost)
        error = str(p.get("error") or "")
        if error:
            attributes["charter.run.error"] = error
        failure: tuple[str, str] | None = None
        if outcome != "succeeded":
            kind = error_type(error) if status == "failed" and error else outcome
            failure = (kind, error or f"run {outcome}")
        self._end_segment(run, ns, attributes, failure)
        self._emit_root(run, ns, attributes, failure)
        del self._runs[run.run_id]

    def _emit_root(
        self, run: _Run, ns: int, attributes: Attributes, failure: tuple[str, str] | None
    ) -> None:
        """The run's root span, from its start to its end, with the ids every segment
        named as its parent."""
        if self._root_ids is None:
            return
        self._root_ids.fix(run.ids)
        try:
            span = self._tracer.start_span(
                f"run {run.agent}" if run.agent else "run",
                context=run.above,
                kind=SpanKind.INTERNAL,
                attributes={
                    OPERATION: "invoke_agent",
                    CONVERSATION: run.run_id,
                    "charter.run.id": run.run_id,
                }
                | run.agent_attributes
                | attributes,
                start_time=min(run.started_ns or ns, ns),
            )
        finally:
            self._root_ids.fix(None)
        if failure is not None:
            span.set_attribute(ERROR_TYPE, failure[0])
            span.set_status(Status(StatusCode.ERROR, failure[1]))
        span.end(ns)

    def _end_segment(
        self, run: _Run, ns: int, attributes: Attributes, failure: tuple[str, str] | None = None
    ) -> None:
        if run.reasoning is not None:
            self._end_chat(run, run.reasoning.end_ns())
        self._end_call(run, ns)
        segment, run.segment = run.segment, None
        if segment is None:
            return
        if run.input_tokens or run.output_tokens:
            attributes = attributes | {
                INPUT_TOKENS: run.input_tokens,
                OUTPUT_TOKENS: run.output_tokens,
            }
        if failure is not None:
            attributes = attributes | {ERROR_TYPE: failure[0]}
            segment.set_status(Status(StatusCode.ERROR, failure[1]))
        segment.set_attributes(attributes)
        segment.end(ns)


def export_run(journal: Journal, run_id: str, tracer_provider: TracerProvider) -> str:
    """Rebuild a run's trace from its journal records and hand its spans to
    ``tracer_provider``; returns the trace id.

    For runs that were not traced live (a run traced live and exported again appears
    twice in the trace). Flushing is the provider's business (its ``force_flush`` or
    ``shutdown``). A segment still open at the run's last record ends there, marked
    ``charter.run.status=in_progress``.

    Raises:
        RunNotFoundError: the journal has no records of ``run_id``.
    """
    tracer = JournalTracer(tracer_provider)
    replayed = 0
    for record in journal.records(run_id):
        tracer(record)
        replayed += 1
    if not replayed:
        raise RunNotFoundError(f"no run with id {run_id!r}; `charter runs` lists them")
    tracer.end_open_segments()
    return run_trace_id(run_id)
