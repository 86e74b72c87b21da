"""Anomaly watching: sliding windows of an agent's calls and denials, and run sequences.

Windows are kept per runner process (like rate limits): runs of one agent in other
processes keep their own counts. Sequence rules look at one run's calls, which the run
itself carries, so they hold across a resume.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

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


class AnomalyWatch:
    """Counts an agent's calls and denials against its charter's anomaly rules."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _tick(self, agent: str, rule: AnomalyRule, limit: int) -> bool:
        """Count one event; True when the window now holds more than ``limit`` (then the
        window restarts, so a burst fires once, not on every further event)."""
        now = self._clock()
        with self._lock:
            window = self._windows.setdefault((agent, rule.id), deque())
            while window and window[0] <= now - rule.per_seconds:
                window.popleft()
            window.append(now)
            if len(window) > limit:
                window.clear()
                return True
        return False

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
                if self._tick(agent, rule, rule.max_calls or 0):
                    fired.append(rule)
            elif (
                rule.kind == "sequence"
                and rule.id not in fired_in_run
                and completes_sequence(run_calls, tool, rule.sequence)
            ):
                fired.append(rule)
        return fired

    def on_denial(self, agent: str, rules: Sequence[AnomalyRule]) -> list[AnomalyRule]:
        """Rules that fire on one more denied call of ``agent``."""
        return [
            rule
            for rule in rules
            if rule.kind == "repeated_denials"
            and self._tick(agent, rule, (rule.max_denials or 1) - 1)
        ]
