"""Approval cards: what a person deciding a request needs, the same in the API, the
dashboard and ``charter approvals show``.

A card resolves the call (the tool's preview: amounts, people, orders, warnings), shows
the untrusted text that may have chosen each argument (an excerpt with its step and
tool), the request's expiry, escalation level and age, a link to the run's step, and
whether the viewer may decide it (their role, the approvers at the current level, the
self-approval rule), so nobody is offered buttons that can only fail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict

from charter.runtime import ApprovalState


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class FactView(_View):
    """One labelled fact of a preview, e.g. ``customer``: ``Ada Lovelace (customer 17)``."""

    name: str
    value: str


class PreviewView(_View):
    """The tool's preview of the call, computed read-only when the approval was asked."""

    summary: str | None = None
    """The resolved effect, e.g. "refund 189.50 USD to Ada Lovelace for order 1042"."""
    warnings: list[str] = []
    facts: list[FactView] = []
    """In the order the preview gave them."""
    unavailable: str | None = None
    """Why there is no summary ("preview unavailable: ...")."""


class EvidenceView(_View):
    """Untrusted text the reasoner had read that may have chosen an argument."""

    step: int
    tool: str
    excerpt: str
    found: bool
    """The excerpt holds the argument's value verbatim (else: what was read)."""


class ApprovalCard(_View):
    """One approval request as a person deciding it sees it."""

    request_id: str
    run_id: str
    agent: str
    step: int
    tool: str
    args: dict[str, Any]
    reason: str
    """Why the charter asked."""
    rules: list[str]
    requested_by: str
    requested_at: str
    status: str
    """``pending``, ``approved``, ``denied``, ``expired``, ``used`` or ``closed``."""
    approvers: list[str] | None
    """Who may decide at the current level (None: anyone with the approver role)."""
    untrusted_args: list[str]
    decided_by: str | None
    decided_at: str | None = None
    decision_reason: str | None = None
    closed_reason: str | None = None
    """How the run ended, for a closed request."""
    preview: PreviewView | None
    """None: the tool has no preview (or the request predates previews)."""
    evidence: dict[str, list[EvidenceView]]
    """Argument → the untrusted outputs that may have chosen it."""
    expires_at: str
    """When the last escalation level runs out (the request then expires)."""
    level: int | None
    """Escalation level in charge, counted from 1 (pending requests only)."""
    levels: int
    age_seconds: float
    """Seconds since it was asked."""
    run_url: str
    """The dashboard page of the run, at the step asked about."""
    may_decide: bool
    """Whether the viewer may approve or deny it now."""
    why_not: str | None = None
    """Why the viewer may not (their role, the approvers, self-approval, its status)."""
    chain: list[str] = []
    """The agents that led to a sub-agent's call, the first one first."""


def approval_card(
    state: ApprovalState,
    *,
    now: datetime,
    viewer: str | None,
    can_approve: bool = True,
) -> ApprovalCard:
    """The card of ``state`` as ``viewer`` sees it at ``now``.

    Args:
        state: the request and what became of it.
        now: the current time (age, level).
        viewer: who looks (None: nobody in particular; they may not decide).
        can_approve: whether the viewer's role grants deciding requests at all.
    """
    r, receipt = state.request, state.receipt
    why_not: str | None = None
    if state.status != "pending":
        why_not = f"the request is {state.status}"
    elif viewer is None or not can_approve:
        why_not = "your role may not decide requests"
    else:
        why_not = r.refusal(viewer, now)
    preview = PreviewView.model_validate(r.preview) if r.preview is not None else None
    return ApprovalCard(
        request_id=r.request_id,
        run_id=r.run_id,
        agent=r.agent,
        step=r.step,
        tool=r.tool,
        args=r.args,
        reason=r.reason,
        rules=list(r.rules),
        requested_by=r.requested_by,
        requested_at=r.requested_at.isoformat(),
        status=state.status,
        approvers=r.approvers_at(state.level or 0),
        untrusted_args=r.untrusted_args,
        decided_by=receipt.approver if receipt is not None else None,
        decided_at=receipt.decided_at.isoformat() if receipt is not None else None,
        decision_reason=(receipt.reason or None) if receipt is not None else None,
        closed_reason=state.closed_reason,
        preview=preview,
        evidence={
            name: [EvidenceView.model_validate(item) for item in items]
            for name, items in r.evidence.items()
        },
        expires_at=r.deadline.isoformat(),
        level=None if state.level is None else state.level + 1,
        levels=len(r.terms.escalation),
        age_seconds=round(max(0.0, (now - r.requested_at).total_seconds()), 3),
        run_url=f"/runs/{quote(r.run_id, safe='')}#step-{r.step}",
        may_decide=why_not is None,
        why_not=why_not,
        chain=list(r.chain),
    )


def age_text(seconds: float) -> str:
    """``3725`` → ``1h 2m``: how long a request has waited, for people."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return f"{int(seconds)}s"
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m"
    return f"{hours // 24}d {hours % 24}h"
