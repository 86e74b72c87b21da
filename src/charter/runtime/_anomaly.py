"""Anomaly watching: an agent's recent calls and denials, read from the journal, and
each run's own sequence of calls.

Windows are read from the journal (``step.effect`` and ``step.decided`` records carry the
agent), so every process sharing a journal sees the same counts: a burst spread over
many one-shot ``charter run`` processes fires as surely as one inside a worker. Reads walk
one kind newest-first and stop at the window's start, so their cost follows the window.
A rule fires when an event takes its window past the threshold (the crossing), not again
for every further event in the same window.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from charter.journal import Journal
from charter.policy import AnomalyRule


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
    """

    def __init__(self, journal: Journal, clock: Callable[[], datetime] = _utcnow) -> None:
        self.journal = journal
        self._clock = clock

    def _recent(self, kind: str, agent: str, seconds: float) -> list[dict[str, object]]:
        since = self._clock() - timedelta(seconds=seconds)
        return [
            r.payload
            for r in self.journal.records_since(kind, since)
            if r.payload.get("agent") == agent
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
                count = sum(1 for p in ran if _matches(str(p.get("tool")), rule.tools))
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
            decided = self._recent("step.decided", agent, rule.per_seconds)
            denials = sum(1 for p in decided if p.get("verdict") == "deny")
            if denials + 1 == rule.max_denials:
                fired.append(rule)
        return fired
