"""Operator controls: the kill switch, tool revocation, supervision and rollout phases,
effective at the next step.

Controls are journal records like everything else (run id ``control``), so they are
audited, hash-chained, and seen by every process that shares the journal. A runner checks
for new control records before every step with one indexed query.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from charter.journal import Journal, Record
from charter.journal._kinds import (
    ControlCancel,
    ControlPause,
    ControlPhase,
    ControlRestore,
    ControlResume,
    ControlRevoke,
    ControlSupervise,
    ControlUnsupervise,
    Payload,
    payload_as,
)
from charter.policy import Phase

CONTROL_RUN = "control"
"""``run_id`` of control records."""
CONTROL_KINDS = (
    "control.pause",
    "control.resume",
    "control.revoke",
    "control.restore",
    "control.cancel",
    "control.supervise",
    "control.unsupervise",
    "control.phase",
)


@dataclass(frozen=True, slots=True)
class ControlState:
    """Which agents are paused and which tools revoked, as of some journal seq."""

    seq: int = 0
    paused: dict[str, str] = field(default_factory=lambda: {})
    """Agent name → reason."""
    revoked: dict[tuple[str, str], str] = field(default_factory=lambda: {})
    """``(tool, agent or "*")`` → reason."""
    cancelled: dict[str, str] = field(default_factory=lambda: {})
    """Run id → why an operator cancelled it."""
    supervised: dict[str, str] = field(default_factory=lambda: {})
    """Agent name → why every write or external call of it needs an approver."""
    phases: dict[tuple[str, str], Phase] = field(default_factory=lambda: {})
    """``(agent, version id)`` → rollout phase set by a promotion or demotion."""

    def phase_of(self, agent: str, version_id: str) -> Phase | None:
        """The rollout phase last set for this agent version, or None (never promoted)."""
        return self.phases.get((agent, version_id))

    def pause_reason(self, agent: str) -> str | None:
        """Why ``agent`` is paused, or None."""
        return self.paused.get(agent)

    def supervision(self, agent: str) -> str | None:
        """Why ``agent`` is under supervision (its writes ask), or None."""
        return self.supervised.get(agent)

    def cancel_reason(self, run_id: str) -> str | None:
        """Why run ``run_id`` was cancelled, or None."""
        return self.cancelled.get(run_id)

    def revocation(self, tool: str, agent: str) -> str | None:
        """Why ``tool`` is revoked for ``agent`` (or for all agents), or None."""
        return self.revoked.get((tool, agent)) or self.revoked.get((tool, "*"))


def fold_controls(records: Iterable[Record], seq: int) -> ControlState:
    """The controls that ``records`` (control records, in journal order) set, as of
    ``seq``: records from ``seq`` on are not yet in force."""
    paused: dict[str, str] = {}
    revoked: dict[tuple[str, str], str] = {}
    cancelled: dict[str, str] = {}
    supervised: dict[str, str] = {}
    phases: dict[tuple[str, str], Phase] = {}
    for record in records:
        if record.seq > seq:
            continue
        p = record.payload
        match record.kind:
            case "control.pause":
                pause = payload_as(ControlPause, p)
                paused[pause["agent"]] = pause["reason"]
            case "control.resume":
                paused.pop(payload_as(ControlResume, p)["agent"], None)
            case "control.revoke":
                revoke = payload_as(ControlRevoke, p)
                revoked[(revoke["tool"], revoke["agent"] or "*")] = revoke["reason"]
            case "control.supervise":
                supervise = payload_as(ControlSupervise, p)
                supervised[supervise["agent"]] = supervise["reason"]
            case "control.unsupervise":
                supervised.pop(payload_as(ControlUnsupervise, p)["agent"], None)
            case "control.phase":
                phase = payload_as(ControlPhase, p)
                phases[(phase["agent"], phase["version_id"])] = cast(Phase, phase["phase"])
            case "control.cancel":
                cancel = payload_as(ControlCancel, p)
                cancelled[cancel["run_id"]] = f"cancelled by {cancel['actor']}: {cancel['reason']}"
            case _:
                restore = payload_as(ControlRestore, p)
                revoked.pop((restore["tool"], restore["agent"] or "*"), None)
    return ControlState(seq, paused, revoked, cancelled, supervised, phases)


class Controls:
    """Reads and writes operator controls in a journal."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._state = ControlState()
        self._lock = threading.Lock()

    def state(self) -> ControlState:
        """Current controls; re-read only when a control record was added."""
        latest = self.journal.latest_seq(CONTROL_KINDS)
        if latest == self._state.seq:
            return self._state
        with self._lock:
            self._state = fold_controls(self.journal.records_of_kinds(CONTROL_KINDS), latest)
            return self._state

    def _write(self, kind: str, payload: Payload) -> None:
        self.journal.append([(CONTROL_RUN, kind, payload)])

    def pause(self, agent: str, *, actor: str, reason: str) -> None:
        """Kill switch: every run of ``agent`` stops before its next step."""
        self._write("control.pause", ControlPause(agent=agent, actor=actor, reason=reason))

    def resume(self, agent: str, *, actor: str, reason: str = "") -> None:
        """Lift a pause: new runs of ``agent`` may start."""
        self._write("control.resume", ControlResume(agent=agent, actor=actor, reason=reason))

    def revoke(self, tool: str, *, actor: str, reason: str, agent: str | None = None) -> None:
        """Deny ``tool`` (for one agent, or all) from the next step of every run on."""
        payload = ControlRevoke(tool=tool, agent=agent, actor=actor, reason=reason)
        self._write("control.revoke", payload)

    def supervise(self, agent: str, *, actor: str, reason: str) -> None:
        """Supervised mode: from the next step on, every write or external call of
        ``agent`` that its charter allows asks an approver instead."""
        payload = ControlSupervise(agent=agent, actor=actor, reason=reason)
        self._write("control.supervise", payload)

    def unsupervise(self, agent: str, *, actor: str, reason: str = "") -> None:
        """Lift supervised mode: the charter alone decides again."""
        payload = ControlUnsupervise(agent=agent, actor=actor, reason=reason)
        self._write("control.unsupervise", payload)

    def set_phase(
        self,
        agent: str,
        version_id: str,
        phase: Phase,
        *,
        actor: str,
        reason: str,
        previous: Phase | None = None,
        evidence: list[dict[str, Any]] | None = None,
    ) -> None:
        """Move one agent version to rollout ``phase`` from its next step on (promotion,
        demotion); ``evidence`` records what justified it (gates met, KPIs breached)."""
        payload: ControlPhase = {
            "agent": agent,
            "version_id": version_id,
            "phase": phase,
            "previous": previous,
            "actor": actor,
            "reason": reason,
            "evidence": evidence or [],
        }
        self._write("control.phase", payload)

    def cancel(self, run_id: str, *, actor: str, reason: str) -> None:
        """Stop run ``run_id`` before its next step (a running run, in any process)."""
        self._write("control.cancel", ControlCancel(run_id=run_id, actor=actor, reason=reason))

    def restore(self, tool: str, *, actor: str, agent: str | None = None, reason: str = "") -> None:
        """Undo :meth:`revoke` (same ``agent`` scope)."""
        payload = ControlRestore(tool=tool, agent=agent, actor=actor, reason=reason)
        self._write("control.restore", payload)
