"""What a delegated run carries from the runs above it, from memory or from its journal.

A run an agent starts through a delegation (see :mod:`._delegation`) journals, in its
``run.started``, where it came from (``delegated_by``): the run and step that delegated
it, its root run, the label of the task it was given, and the budgets it may spend (what
its own charter allows, cut to what its parent had left). Rebuilding it from the journal
reads them back, so a resumed or recovered sub-agent is governed as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from charter.journal import Record
from charter.journal._kinds import DelegateStarted, DelegateWaiting, payload_as
from charter.policy import GOAL_LABEL, Budgets, Label
from charter.policy._charter import ApprovalPolicy
from charter.runtime._provenance import RunLabels
from charter.runtime._session import Session
from charter.tools import Tool

DELEGATED_BY = "delegated_by"
"""The ``run.started`` field of a delegated run naming where it came from."""
DELEGATE_STARTED = "delegate.started"
"""Journaled in the parent run before its child starts: ``{step, tool, agent, child_run,
idempotency_key}``."""
DELEGATE_WAITING = "delegate.waiting"
"""Journaled in the parent run when its child waits for an approval: ``{step,
child_run, request_id}`` (the parent waits on the same request)."""


def children(records: list[Record]) -> list[str]:
    """The child runs a run's ``records`` started, in order."""
    started = [
        payload_as(DelegateStarted, r.payload) for r in records if r.kind == DELEGATE_STARTED
    ]
    return [str(p["child_run"]) for p in started]


def waiting_child(records: list[Record], request_id: str) -> tuple[int, str, str] | None:
    """``(step, tool, child run)`` of the delegation whose child's request ``request_id``
    a run's ``records`` wait on with it, or None (the run's own request)."""
    for record in records:
        if record.kind != DELEGATE_WAITING:
            continue
        waiting = payload_as(DelegateWaiting, record.payload)
        if waiting["request_id"] == request_id:
            child = str(waiting["child_run"])
            started = next(
                s
                for s in (
                    payload_as(DelegateStarted, r.payload)
                    for r in records
                    if r.kind == DELEGATE_STARTED
                )
                if s["child_run"] == child
            )
            return int(waiting["step"]), str(started["tool"]), child
    return None


def delegation_chain(session: Session) -> list[dict[str, Any]]:
    """The agents that led to ``session``'s run, the first one first, each with its run
    (and the step at which it delegated), ending with the run itself."""
    chain = [{"agent": s.agent.name, "run": s.run.run_id} for s in session.ancestors()]
    chain.reverse()
    return [*chain, {"agent": session.agent.name, "run": session.run.run_id}]


def _approval_strictness(terms: ApprovalPolicy) -> tuple[bool, int, float]:
    named = all(level.approvers for level in terms.escalation)
    return named, len(terms.escalation), -terms.receipt_ttl_seconds


def strictest_approvals(session: Session) -> ApprovalPolicy:
    """The approval terms of the strictest charter on ``session``'s delegation chain:
    one that names approvers at every level over one that lets anyone decide, then more
    escalation levels, then a shorter receipt; on a tie, the one nearest the root."""
    chain = [*reversed(session.ancestors()), session]
    return max((s.agent.charter.approvals for s in chain), key=_approval_strictness)


def relabelled(found: Tool, effect: Mapping[str, Any]) -> Tool:
    """``found`` with the output labels its call's ``effect`` records (a delegation's
    result carries the labels of what its sub-agent read), else ``found`` itself."""
    labels: dict[str, Any] | None = effect.get("labels")
    if not labels:
        return found
    contract = replace(
        found.contract,
        trust=str(labels.get("trust", found.contract.trust)),  # type: ignore[arg-type]
        confidentiality=str(  # type: ignore[arg-type]
            labels.get("confidentiality", found.contract.confidentiality)
        ),
        fields=(),
    )
    return replace(found, contract=contract)


def task_label(started: dict[str, Any]) -> Label:
    """The label of the goal a run was started with: a delegated run's task carries the
    label its parent's call gave it; any other goal is trusted."""
    origin: dict[str, Any] = started.get(DELEGATED_BY) or {}
    label: dict[str, Any] | None = origin.get("task_label")
    if not label:
        return GOAL_LABEL
    return Label(label["trust"], label["confidentiality"])


def run_labels(started: dict[str, Any]) -> RunLabels:
    """A run's labels as it started, from its ``run.started`` payload."""
    origin: dict[str, Any] = started.get(DELEGATED_BY) or {}
    vouching = str(origin.get("root_goal", ""))
    return RunLabels(str(started["goal"]), task_label(started), vouching=vouching)


def run_budgets(started: dict[str, Any], own: Budgets) -> Budgets:
    """The budgets a run started with: a delegated run's journaled ones, else ``own``."""
    origin: dict[str, Any] = started.get(DELEGATED_BY) or {}
    if "budgets" in origin:
        return Budgets.model_validate(origin["budgets"])
    return own
