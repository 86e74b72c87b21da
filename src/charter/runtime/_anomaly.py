"""Windows over an agent's recent activity, read from the journal: anomaly rules (recent
calls and denials, and each run's own sequence of calls) and rate limits.

Windows are read from the journal (``step.effect`` and ``step.decided`` records carry the
agent), so every process sharing a journal sees the same counts: a burst spread over
many one-shot ``charter run`` processes fires as surely as one inside a worker. Reads walk
one kind newest-first and stop at the window's start, so their cost follows the window.
A rule fires when an event takes its window past the threshold (the crossing), not again
for every further event in the same window.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from charter.journal import Journal
from charter.journal._kinds import StepDecided, StepEffect, payload_as
from charter.policy import AnomalyRule, RateLimit


def _matches(name: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def completes_sequence(calls: Sequence[str], tool: str, sequence: Sequence[str]) -> bool:
    """Whether ``calls`` followed by ``tool`` contain ``sequence`` in order, ending at
    ``tool``."""
    if not sequence or not _matches(tool, [sequence[-1]]):
        return False
    wanted = list(sequence[:-1])
    for name in calls:
        if wanted and _matches(name, [wanted[0]]):
            wanted.pop(0)
    return not wanted


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AnomalyWatch:
    """Checks an agent's behaviour against its charter's anomaly rules.

    Args:
        journal: where the agent's calls and denials are recorded.
        clock: the current UTC time (replaceable in tests).
        before: count only records before this journal seq (a replay sees the journal
            as it stood when a step was decided); default: all of them.
    """

    def __init__(
        self,
        journal: Journal,
        clock: Callable[[], datetime] = _utcnow,
        *,
        before: int | None = None,
    ) -> None:
        self.journal = journal
        self._clock = clock
        self._before = before

    def _recent(self, kind: str, agent: str, seconds: float) -> list[Mapping[str, Any]]:
        since = self._clock() - timedelta(seconds=seconds)
        return [
            r.payload
            for r in self.journal.records_since(kind, since)
            if r.payload.get("agent") == agent and (self._before is None or r.seq < self._before)
        ]

    def on_call(
        self,
        agent: str,
        rules: Sequence[AnomalyRule],
        tool: str,
        run_calls: Sequence[str],
        fired_in_run: set[str],
    ) -> list[AnomalyRule]:
        """Rules that fire as ``tool`` is about to run (after ``run_calls`` in this run)."""
        fired: list[AnomalyRule] = []
        for rule in rules:
            if rule.kind == "tool_rate" and _matches(tool, rule.tools):
                ran = self._recent("step.effect", agent, rule.per_seconds)
                effects = (payload_as(StepEffect, p) for p in ran)
                count = sum(1 for p in effects if _matches(str(p.get("tool")), rule.tools))
                if count == rule.max_calls:  # this call is the first over the limit
                    fired.append(rule)
            elif (
                rule.kind == "sequence"
                and rule.id not in fired_in_run
                and completes_sequence(run_calls, tool, rule.sequence)
            ):
                fired.append(rule)
        return fired

    def on_denial(self, agent: str, rules: Sequence[AnomalyRule]) -> list[AnomalyRule]:
        """Rules that fire on one more denied call of ``agent`` (not yet journaled)."""
        fired: list[AnomalyRule] = []
        for rule in rules:
            if rule.kind != "repeated_denials":
                continue
            recent = self._recent("step.decided", agent, rule.per_seconds)
            decided = (payload_as(StepDecided, p) for p in recent)
            denials = sum(1 for p in decided if p.get("verdict") == "deny")
            if denials + 1 == rule.max_denials:
                fired.append(rule)
        return fired


class JournalRateLimiter:
    """Rate limits counted from the journal, so they hold across processes.

    Counts the agent's allowed calls (``step.decided`` records) of the limit's tools
    within its window; the call being decided is not journaled yet, so a limit of N
    admits the N-th call and denies the next. Two processes deciding at the same instant
    may both admit the last slot: the window is exact up to that race.
    """

    def __init__(
        self,
        journal: Journal,
        agent: str,
        clock: Callable[[], datetime] = _utcnow,
        *,
        before: int | None = None,
    ):
        self.journal = journal
        self.agent = agent
        self._clock = clock
        self._before = before
        """Count only records before this journal seq (see :class:`AnomalyWatch`)."""

    def admit(self, tool_name: str, limits: list[RateLimit]) -> RateLimit | None:
        """The limit a call of ``tool_name`` would exceed, or None."""
        for limit in limits:
            if not _matches(tool_name, limit.tools):
                continue
            since = self._clock() - timedelta(seconds=limit.per_seconds)
            allowed = sum(
                1
                for r in self.journal.records_since("step.decided", since)
                if (p := payload_as(StepDecided, r.payload)).get("agent") == self.agent
                and (self._before is None or r.seq < self._before)
                and p.get("verdict") == "allow"
                and _matches(str(p.get("tool")), limit.tools)
            )
            if allowed >= limit.max_calls:
                return limit
        return None
