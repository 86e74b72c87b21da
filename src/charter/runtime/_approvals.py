"""Approvals: how an ``ask`` decision is answered, and the receipt that lets the call run.

When the charter asks, the run journals an :class:`ApprovalRequest` and stops in status
``waiting``; no thread or memory is held while it waits. An approver's answer is a
:class:`Receipt`, journaled and (when the journal has a signing key) signed. The receipt is
bound to the run, the step, the tool, the hash of the canonical arguments, the policy
version, the approver and an expiry. When the run resumes, :meth:`Approvals.check`
re-checks every one of those against what is about to execute, so a receipt cannot be
forged, replayed, reused for other arguments or another policy, or used after it expired.

Requests escalate along the charter's chain (``approvals.escalation``): each level has
approvers and a timeout; an unanswered request moves to the next level, and past the last
it expires, which the run sees as a denial. Escalation is a function of time, so no timer
is needed: :meth:`Approvals.sweep` journals escalations and expiries when it notices them.

Every approval record has the run's id as ``run_id``, so a run's transcript shows them.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from charter._identity import normalise_identity
from charter.errors import ApprovalError, ApprovalNotFoundError, ApprovalRefusedError
from charter.journal import Journal, Record, canonical_json
from charter.journal._kinds import (
    ApprovalClosed,
    ApprovalGranted,
    ApprovalRequested,
    Entry,
    payload_as,
)
from charter.journal._reads import payloads_of_runs
from charter.policy import ApprovalLevel, ApprovalPolicy, Decision, Label

APPROVAL_KINDS = (
    "approval.requested",
    "approval.granted",
    "approval.denied",
    "approval.escalated",
    "approval.expired",
    "approval.used",
    "approval.closed",
)
RECEIPT_DOMAIN = b"charter-approval-receipt\x1f"
"""Prefix of every signed receipt message (domain separation from checkpoints)."""

Clock = Callable[[], datetime]
ApprovalStatus = Literal["pending", "approved", "denied", "expired", "used", "closed"]
"""``closed``: the run ended (cancelled, rolled back, finished) while the request was
unanswered, so no answer can matter any more."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def args_hash(tool: str, args: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``[tool, args]``: what a receipt approves."""
    return hashlib.sha256(canonical_json([tool, dict(args)]).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A call the charter asked a human about, and the terms of the answer."""

    request_id: str
    run_id: str
    agent: str
    step: int
    tool: str
    args: dict[str, Any]
    args_hash: str
    policy: str
    """Policy version hash the ``ask`` came from; a receipt is valid for it only."""
    rules: tuple[str, ...]
    reason: str
    requested_at: datetime
    requested_by: str
    """Who started the run (they may not approve it when the charter forbids that)."""
    terms: ApprovalPolicy
    labels: dict[str, dict[str, str]] = field(default_factory=lambda: {})
    """Each argument's information-flow label when asked: an approver should know that
    untrusted text chose the customer id they are asked to erase."""
    preview: dict[str, Any] | None = None
    """What the call would do, from the tool's preview when asked (``summary``,
    ``warnings``, ``facts``; or ``unavailable``); None: the tool has no preview."""
    evidence: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {})
    """Argument → the untrusted outputs that may have chosen it (``step``, ``tool``,
    ``excerpt``, ``found``): the text an approver should read before deciding."""
    chain: tuple[str, ...] = ()
    """The agents that led to the call, the first one first, for a sub-agent's call
    (``chain`` in the record, each link with its run); empty for a run of its own."""

    @classmethod
    def create(
        cls,
        *,
        run_id: str,
        agent: str,
        step: int,
        tool: str,
        args: Mapping[str, Any],
        decision: Decision,
        terms: ApprovalPolicy,
        requested_by: str,
        now: datetime,
        labels: Mapping[str, Label] | None = None,
        preview: dict[str, Any] | None = None,
        evidence: dict[str, list[dict[str, Any]]] | None = None,
    ) -> ApprovalRequest:
        """A new request for ``decision`` (an ``ask``) on calling ``tool`` with ``args``."""
        return cls(
            request_id=f"apr-{secrets.token_hex(6)}",
            run_id=run_id,
            agent=agent,
            step=step,
            tool=tool,
            args=dict(args),
            args_hash=args_hash(tool, args),
            policy=decision.policy,
            rules=decision.rules,
            reason=decision.reason,
            requested_at=now,
            requested_by=requested_by,
            terms=terms,
            labels={name: label.to_json() for name, label in (labels or {}).items()},
            preview=preview,
            evidence=dict(evidence or {}),
        )

    def to_payload(self) -> ApprovalRequested:
        """The ``approval.requested`` record's payload."""
        payload: ApprovalRequested = {
            "request_id": self.request_id,
            "agent": self.agent,
            "step": self.step,
            "tool": self.tool,
            "args": self.args,
            "args_hash": self.args_hash,
            "policy": self.policy,
            "rules": list(self.rules),
            "reason": self.reason,
            "requested_at": self.requested_at.isoformat(),
            "requested_by": self.requested_by,
            "terms": self.terms.model_dump(mode="json"),
            "labels": self.labels,
        }
        if self.preview is not None:
            payload["preview"] = self.preview
        if self.evidence:
            payload["evidence"] = self.evidence
        return payload

    @classmethod
    def from_record(cls, record: Record) -> ApprovalRequest:
        """Rebuild a request from its ``approval.requested`` record."""
        p = payload_as(ApprovalRequested, record.payload)
        return cls(
            request_id=p["request_id"],
            run_id=record.run_id,
            agent=p["agent"],
            step=int(p["step"]),
            tool=p["tool"],
            args=dict(p["args"]),
            args_hash=p["args_hash"],
            policy=p["policy"],
            rules=tuple(p["rules"]),
            reason=p["reason"],
            requested_at=datetime.fromisoformat(p["requested_at"]),
            requested_by=p["requested_by"],
            terms=ApprovalPolicy.model_validate(p["terms"]),
            labels=dict(p.get("labels", {})),
            preview=p.get("preview"),
            evidence=dict(p.get("evidence") or {}),
            chain=tuple(str(link["agent"]) for link in p.get("chain") or ()),
        )

    @property
    def deadline(self) -> datetime:
        """When the last level's time runs out and the request expires."""
        total = sum(level.timeout_seconds for level in self.terms.escalation)
        return self.requested_at + timedelta(seconds=total)

    def level_at(self, now: datetime) -> int | None:
        """Index of the escalation level in charge at ``now``; None once expired."""
        elapsed = (now - self.requested_at).total_seconds()
        for index, level in enumerate(self.terms.escalation):
            elapsed -= level.timeout_seconds
            if elapsed < 0:
                return index
        return None

    @property
    def untrusted_args(self) -> list[str]:
        """Arguments whose values untrusted data may have chosen, sorted."""
        return sorted(name for name, label in self.labels.items() if label["trust"] == "untrusted")

    def approvers_at(self, level: int) -> list[str] | None:
        """Who may decide once ``level`` is reached (earlier levels keep their say);
        None: anyone."""
        reached: list[ApprovalLevel] = list(self.terms.escalation[: level + 1])
        if any(not step.approvers for step in reached):
            return None
        return sorted({name for step in reached for name in step.approvers})

    def refusal(self, approver: str, at: datetime) -> str | None:
        """Why ``approver`` may not decide this request at ``at``, or None if they may."""
        who = normalise_identity(approver)
        if not who:
            return "an approver identity is required"
        if self.terms.forbid_self_approval and who == normalise_identity(self.requested_by):
            return f"{approver!r} started run {self.run_id} and may not approve its requests"
        level = self.level_at(at)
        if level is None:
            return f"request {self.request_id} expired at {self.deadline.isoformat()}"
        allowed = self.approvers_at(level)
        if allowed is not None and who not in {normalise_identity(a) for a in allowed}:
            return (
                f"{approver!r} may not decide request {self.request_id} at escalation level "
                f"{level + 1}; approvers: {', '.join(allowed)}"
            )
        return None


@dataclass(frozen=True, slots=True)
class Receipt:
    """An approver's answer to a request, bound to exactly what it approves."""

    request_id: str
    run_id: str
    step: int
    tool: str
    args_hash: str
    policy: str
    approver: str
    verdict: Literal["approved", "denied"]
    reason: str
    decided_at: datetime
    expires_at: datetime
    signature: str = ""
    """Hex Ed25519 signature of :meth:`message` by the journal's key ("" if unsigned)."""
    key_id: str = ""

    def message(self) -> bytes:
        """The signed bytes: the domain prefix and the canonical JSON of every field."""
        body = self.to_payload()
        body.pop("signature")
        body.pop("key_id")
        return RECEIPT_DOMAIN + canonical_json(body).encode()

    def to_payload(self) -> ApprovalGranted:
        """The ``approval.granted`` / ``approval.denied`` record's payload (the two
        kinds' models are the same)."""
        return {
            "request_id": self.request_id,
            "run_id": self.run_id,
            "step": self.step,
            "tool": self.tool,
            "args_hash": self.args_hash,
            "policy": self.policy,
            "approver": self.approver,
            "verdict": self.verdict,
            "reason": self.reason,
            "decided_at": self.decided_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "signature": self.signature,
            "key_id": self.key_id,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Receipt:
        """Rebuild a receipt from a record payload; raise ApprovalError if malformed."""
        try:
            verdict = payload["verdict"]
            if verdict not in ("approved", "denied"):
                raise ValueError(f"verdict {verdict!r}")
            return cls(
                request_id=str(payload["request_id"]),
                run_id=str(payload["run_id"]),
                step=int(payload["step"]),
                tool=str(payload["tool"]),
                args_hash=str(payload["args_hash"]),
                policy=str(payload["policy"]),
                approver=str(payload["approver"]),
                verdict=verdict,
                reason=str(payload.get("reason", "")),
                decided_at=datetime.fromisoformat(payload["decided_at"]),
                expires_at=datetime.fromisoformat(payload["expires_at"]),
                signature=str(payload.get("signature", "")),
                key_id=str(payload.get("key_id", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ApprovalError(f"malformed receipt: {exc}") from exc


@dataclass(frozen=True, slots=True)
class ApprovalState:
    """A request and what has become of it, folded from the journal."""

    request: ApprovalRequest
    status: ApprovalStatus
    receipt: Receipt | None = None
    """The first decision journaled for the request (later ones do not count)."""
    level: int | None = None
    """Escalation level in charge (pending requests)."""
    escalated_to: int = 0
    """Highest level an ``approval.escalated`` record announced."""
    expiry_recorded: bool = False
    closed_reason: str | None = None
    """Why the request was closed (status ``closed``): how its run ended."""


@dataclass(frozen=True, slots=True)
class ReceiptProblem:
    """Why a receipt does not let the call run, with the rule id to journal."""

    rule: str
    message: str


@dataclass(slots=True)
class _Fold:
    request: ApprovalRequest
    seq: int
    receipts: list[Receipt] = field(default_factory=lambda: [])
    used: bool = False
    escalated_to: int = 0
    expired: bool = False
    closed: str | None = None
    """Why it was closed before any decision; a decision journaled after counts for nothing."""
    decided_seq: int | None = None
    """Seq of the first decision record."""


def closing_entry(run_id: str, request_id: str, reason: str) -> Entry:
    """The ``approval.closed`` record to journal with the end of a run that waits for
    ``request_id``: the request leaves every inbox, and no answer can be given to it."""
    return (run_id, "approval.closed", ApprovalClosed(request_id=request_id, reason=reason))


def _run_end(payload: Mapping[str, Any]) -> str:
    """Why a run's ``run.finished`` closes the request it left unanswered."""
    detail = payload.get("error") or payload.get("answer") or ""
    return f"its run ended ({payload.get('status', 'finished')}{': ' if detail else ''}{detail})"


class Approvals:
    """Approval requests and receipts in a journal: list, decide, sweep, check.

    Args:
        journal: where requests and receipts live; its signer (if any) signs receipts.
        clock: the current time (UTC), replaceable in tests.
    """

    def __init__(self, journal: Journal, *, clock: Clock = _utcnow) -> None:
        self.journal = journal
        self.clock = clock

    def _folds(self, request_id: str | None = None) -> dict[str, _Fold]:
        # One request's records are found in the database by the request id in their
        # canonical payload, so deciding one request does not read every other one.
        only = None if request_id is None else canonical_json({"request_id": request_id})[1:-1]
        folds: dict[str, _Fold] = {}
        for record in self.journal.records_of_kinds(APPROVAL_KINDS, payload_contains=only):
            request_id = str(record.payload.get("request_id", ""))
            if record.kind == "approval.requested":
                folds[request_id] = _Fold(ApprovalRequest.from_record(record), record.seq)
                continue
            fold = folds.get(request_id)
            if fold is None:
                continue  # a decision for a request that does not exist counts for nothing
            match record.kind:
                case "approval.granted" | "approval.denied" if fold.closed is None:
                    try:
                        fold.receipts.append(Receipt.from_payload(record.payload))
                    except ApprovalError:
                        continue
                    fold.decided_seq = fold.decided_seq or record.seq
                case "approval.used":
                    fold.used = True
                case "approval.escalated":
                    fold.escalated_to = max(fold.escalated_to, int(record.payload["level"]))
                case "approval.closed" if not fold.receipts and fold.closed is None:
                    fold.closed = str(record.payload.get("reason", "closed"))
                case "approval.granted" | "approval.denied" | "approval.closed":
                    pass  # a decision after closing, or a closing after a decision
                case _:
                    fold.expired = True
        self._close_ended_runs(folds)
        return folds

    def _close_ended_runs(self, folds: dict[str, _Fold]) -> None:
        """Close unanswered requests whose run ended while waiting for them, with no
        ``approval.closed`` record (journals written before runs closed their requests,
        or a run that ended some other way): such a request can never be used."""
        open_folds = [f for f in folds.values() if not (f.used or f.closed)]
        run_ids = sorted({f.request.run_id for f in open_folds})
        if not run_ids:
            return
        ends: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        resumes: dict[str, list[int]] = {}
        ending = payloads_of_runs(self.journal, run_ids, ["run.finished", "run.resumed"])
        for run_id, seq, kind, p in ending:
            if kind == "run.finished":
                ends.setdefault(run_id, []).append((seq, p))
            else:
                resumes.setdefault(str(p.get("request_id")), []).append(seq)
        for fold in open_folds:
            ended = sorted(e for e in ends.get(fold.request.run_id, []) if e[0] > fold.seq)
            if not ended:
                continue
            end_seq, end = ended[0]
            if any(seq < end_seq for seq in resumes.get(fold.request.request_id, [])):
                continue  # the run went on after this request (decided or expired)
            if fold.decided_seq is None or fold.decided_seq > end_seq:
                fold.closed = _run_end(end)  # a decision after the end counts for nothing
                fold.receipts.clear()

    def _state(self, fold: _Fold, now: datetime) -> ApprovalState:
        request = fold.request
        # The first decision made in time counts; one journaled after expiry does not.
        receipt = next((r for r in fold.receipts if r.decided_at <= request.deadline), None)
        status: ApprovalStatus
        level = None
        if fold.used:
            status = "used"
        elif fold.closed is not None:
            status = "closed"
        elif receipt is not None:
            status = receipt.verdict
        else:
            level = request.level_at(now)
            status = "expired" if level is None or fold.expired else "pending"
        return ApprovalState(
            request,
            status,
            receipt,
            level=level if status == "pending" else None,
            escalated_to=fold.escalated_to,
            expiry_recorded=fold.expired,
            closed_reason=fold.closed if status == "closed" else None,
        )

    def states(self) -> list[ApprovalState]:
        """Every request, oldest first."""
        now = self.clock()
        return [self._state(fold, now) for fold in self._folds().values()]

    def get(self, request_id: str) -> ApprovalState:
        """One request's state; raise ApprovalError if there is no such request."""
        fold = self._folds(request_id).get(request_id)
        if fold is None:
            raise ApprovalNotFoundError(
                f"no approval request {request_id!r}; `charter approvals list` shows them"
            )
        return self._state(fold, self.clock())

    def pending(self) -> list[ApprovalState]:
        """Requests waiting for a decision, oldest first (after a :meth:`sweep`)."""
        return [s for s in self.sweep() if s.status == "pending"]

    def sweep(self) -> list[ApprovalState]:
        """Journal escalations and expiries that time has brought about; return all states."""
        states = self.states()
        entries: list[tuple[str, str, dict[str, Any]]] = []
        for state in states:
            request = state.request
            if state.status == "pending" and state.level is not None:
                if state.level > state.escalated_to:
                    approvers = request.approvers_at(state.level)
                    entries.append(
                        (
                            request.run_id,
                            "approval.escalated",
                            {
                                "request_id": request.request_id,
                                "level": state.level,
                                "approvers": approvers,
                            },
                        )
                    )
            elif state.status == "expired" and not state.expiry_recorded:
                entries.append(
                    (
                        request.run_id,
                        "approval.expired",
                        {
                            "request_id": request.request_id,
                            "deadline": request.deadline.isoformat(),
                        },
                    )
                )
        if entries:
            self.journal.append(entries)
            states = self.states()
        return states

    def approve(self, request_id: str, approver: str, reason: str = "") -> Receipt:
        """Grant a pending request; return the journaled (and signed) receipt."""
        return self._decide(request_id, approver, "approved", reason)

    def deny(self, request_id: str, approver: str, reason: str) -> Receipt:
        """Refuse a pending request; the run sees the denial and its reason."""
        if not reason.strip():
            raise ApprovalError("a denial needs a reason (the agent and the audit see it)")
        return self._decide(request_id, approver, "denied", reason)

    def _decide(
        self, request_id: str, approver: str, verdict: Literal["approved", "denied"], reason: str
    ) -> Receipt:
        state = self.get(request_id)
        request = state.request
        if state.status == "closed":
            raise ApprovalError(
                f"request {request_id} is closed: {state.closed_reason}; nothing to decide"
            )
        if state.status != "pending":
            by = f" by {state.receipt.approver}" if state.receipt is not None else ""
            raise ApprovalError(f"request {request_id} is already {state.status}{by}")
        now = self.clock()
        refusal = request.refusal(approver, now)
        if refusal is not None:
            raise ApprovalRefusedError(refusal)
        receipt = Receipt(
            request_id=request.request_id,
            run_id=request.run_id,
            step=request.step,
            tool=request.tool,
            args_hash=request.args_hash,
            policy=request.policy,
            approver=approver,
            verdict=verdict,
            reason=reason,
            decided_at=now,
            expires_at=now + timedelta(seconds=request.terms.receipt_ttl_seconds),
        )
        signer = self.journal.signer
        if signer is not None:
            receipt = replace(
                receipt,
                signature=signer.sign_message(receipt.message()).hex(),
                key_id=signer.key_id,
            )
        kind = "approval.granted" if verdict == "approved" else "approval.denied"
        self.journal.append([(request.run_id, kind, receipt.to_payload())])
        after = self.get(request_id)
        if after.status == "closed":
            raise ApprovalError(
                f"request {request_id} was closed while deciding: {after.closed_reason}"
            )
        first = after.receipt
        if first is None or first.message() != receipt.message():
            other = first.approver if first is not None else "someone else"
            raise ApprovalError(f"request {request_id} was decided first by {other}")
        return receipt

    def check(
        self,
        request_id: str,
        *,
        run_id: str,
        step: int,
        tool: str,
        args: Mapping[str, Any],
        policy: str,
    ) -> Receipt | ReceiptProblem:
        """The receipt that lets this exact call run now, or why there is none.

        Everything the receipt binds is compared with what is about to execute; a
        journal with a signing key also requires a valid signature by that key.
        """
        try:
            state = self.get(request_id)
        except ApprovalError as exc:
            return ReceiptProblem("approval.invalid", str(exc))
        request, receipt, now = state.request, state.receipt, self.clock()
        if state.status == "used":
            return ReceiptProblem(
                "approval.replayed", f"the approval of request {request_id} was already used"
            )
        if state.status == "closed":
            return ReceiptProblem(
                "approval.closed", f"request {request_id} is closed: {state.closed_reason}"
            )
        if state.status == "expired":
            return ReceiptProblem(
                "approval.expired",
                f"request {request_id} expired unanswered at {request.deadline.isoformat()}",
            )
        if receipt is None:
            return ReceiptProblem(
                "approval.pending", f"request {request_id} has not been decided yet"
            )
        if receipt.verdict == "denied":
            return ReceiptProblem(
                "approval.denied", f"{receipt.approver} denied the call: {receipt.reason}"
            )
        expected = {
            "run": (run_id, request.run_id, receipt.run_id),
            "step": (step, request.step, receipt.step),
            "tool": (tool, request.tool, receipt.tool),
            "arguments": (args_hash(tool, args), request.args_hash, receipt.args_hash),
            "policy version": (policy, request.policy, receipt.policy),
        }
        for what, (now_value, asked, granted) in expected.items():
            if not now_value == asked == granted:
                return ReceiptProblem(
                    "approval.invalid", f"the approval of {request_id} is for another {what}"
                )
        refusal = request.refusal(receipt.approver, receipt.decided_at)
        if refusal is not None:
            return ReceiptProblem("approval.invalid", f"the approval is not valid: {refusal}")
        ttl = timedelta(seconds=request.terms.receipt_ttl_seconds)
        if receipt.expires_at > receipt.decided_at + ttl:
            return ReceiptProblem(
                "approval.invalid", "the approval's expiry exceeds the charter's receipt lifetime"
            )
        if now > receipt.expires_at:
            return ReceiptProblem(
                "approval.expired",
                f"the approval of {request_id} expired at {receipt.expires_at.isoformat()}",
            )
        signer = self.journal.signer
        if signer is not None:
            try:
                signature = bytes.fromhex(receipt.signature)
            except ValueError:
                signature = b""
            if receipt.key_id != signer.key_id or not signer.verifier.verify_message(
                receipt.message(), signature
            ):
                return ReceiptProblem(
                    "approval.forged", "the approval is not signed by this journal's key"
                )
        return receipt
