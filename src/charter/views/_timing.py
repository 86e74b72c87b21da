"""A run's waterfall: where its time went, step by step, from its records' timestamps.

Each step is cut into phases on the run's own time axis: **reasoning** (from the end of
the previous step, or the run's start, to the proposal), **decision** (proposal to the
charter's decision; a denial shows as ``deny``), **waiting for approval** (the request to
the call, or to what the step observed) and the **tool call** (the effect's measured
duration, ending when its effect was journaled). A read is journaled in one append with
its proposal and decision, so its reasoning ends when the tool started, as traces count it.
Steps kept from the run a fork came from happened before the fork started: they are left out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from charter.views._runs import RunDetail, StepView

Phase = Literal["reason", "decide", "deny", "wait", "tool"]
PHASE_NAMES: dict[Phase, str] = {
    "reason": "reasoning",
    "decide": "decision",
    "deny": "denied",
    "wait": "waiting for approval",
    "tool": "tool call",
}


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class Segment(_View):
    """One phase of a step."""

    phase: Phase
    start_ms: float
    """From the run's start."""
    ms: float


class StepTiming(_View):
    """A step's phases."""

    step: int
    label: str
    """The tool called, ``answer`` or ``…``."""
    segments: list[Segment]
    start_ms: float
    end_ms: float


class Waterfall(_View):
    """Every step's phases on one time axis."""

    steps: list[StepTiming]
    total_ms: float
    """From the run's start to its end (or its newest record while it runs)."""


def _at(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None


def waterfall(detail: RunDetail) -> Waterfall:
    """The waterfall of ``detail``'s own steps."""
    start = _at(detail.summary.started_at)
    if start is None:
        return Waterfall(steps=[], total_ms=0.0)
    timings: list[StepTiming] = []
    previous = start
    for step in detail.steps:
        if step.inherited:
            continue
        timing = _step(step, start, previous)
        if timing is None:
            continue
        timings.append(timing)
        previous = max(previous, _plus(start, timing.end_ms))
    last = max([t.end_ms for t in timings], default=0.0)
    finished = _at(detail.summary.finished_at)
    total = max(last, _ms(start, finished) if finished else 0.0)
    return Waterfall(steps=timings, total_ms=total)


def _ms(start: datetime, moment: datetime) -> float:
    return max((moment - start).total_seconds() * 1000, 0.0)


def _plus(start: datetime, ms: float) -> datetime:
    return start + timedelta(milliseconds=ms)


def _step(step: StepView, start: datetime, previous: datetime) -> StepTiming | None:
    times = {kind: at for kind, stamp in step.times.items() if (at := _at(stamp)) is not None}
    proposed = times.get("step.proposed")
    if proposed is None:
        return None
    effect_at = times.get("step.effect")
    tool_start: datetime | None = None
    if effect_at is not None and step.effect is not None and step.effect.us is not None:
        tool_start = _plus(effect_at, -step.effect.us / 1000)
    reason_end = min(proposed, tool_start) if tool_start is not None else proposed
    reason_end = max(reason_end, previous)
    segments = [_segment("reason", start, previous, reason_end)]
    decided = times.get("step.decided")
    if decided is not None:
        denied = step.decision is not None and step.decision.verdict == "deny"
        decide_end = max(decided, reason_end)
        if tool_start is not None:
            decide_end = max(min(decide_end, tool_start), reason_end)
        segments.append(_segment("deny" if denied else "decide", start, reason_end, decide_end))
    asked = times.get("approval.requested")
    if asked is not None:
        answered = tool_start or times.get("step.observed") or effect_at
        if answered is not None and answered > asked:
            segments.append(_segment("wait", start, asked, answered))
    if tool_start is not None and effect_at is not None:
        segments.append(_segment("tool", start, max(tool_start, reason_end), effect_at))
    end = max(times.values())
    label = step.tool or ("answer" if step.answer is not None else "…")
    return StepTiming(
        step=step.index,
        label=label,
        segments=segments,
        start_ms=_ms(start, previous),
        end_ms=_ms(start, end),
    )


def _segment(phase: Phase, start: datetime, begin: datetime, end: datetime) -> Segment:
    return Segment(phase=phase, start_ms=_ms(start, begin), ms=max(_ms(begin, end), 0.0))
