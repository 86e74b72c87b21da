"""Final answers held for approval (``flows.answer: ask``).

An answer that carries a link, an address, a phone or an account number only untrusted
text holds is not kept: the run waits on an approval request about it, in the same inbox
as calls. The request's ``tool`` is :data:`ANSWER_TOOL` and its ``args`` the answer
itself, so the receipt an approver signs is bound to the answer's digest; the card shows
each flagged value as a fact and the untrusted output it came from as evidence. When the
run goes on, :func:`release_answer` re-checks the receipt against the journaled answer: it
keeps exactly that text, or withholds it.
"""

from __future__ import annotations

from typing import Any

from charter.policy import Decision, Label
from charter.policy._answer import AnswerCheck
from charter.runtime._approvals import ApprovalRequest, Approvals, ReceiptProblem
from charter.runtime._session import Session

ANSWER_TOOL = "answer.release"
"""The ``tool`` of an approval request for releasing a run's final answer (the request's
``args`` are ``{"text": <the answer>}``, so its receipt is bound to the answer's digest)."""


def answer_request(session: Session, checked: AnswerCheck) -> dict[str, Any]:
    """What an approval request about a held answer shows (keyword arguments of
    ``Governor.request_approval`` beside the answer): the decision, a preview whose facts
    are the flagged values, and the untrusted outputs each came from."""
    found = checked.found
    kinds = ", ".join(sorted({kind for kind, _ in found}))
    reason = f"the answer carries {kinds} found only in untrusted text; release it?"
    policy = session.agent.charter.policy_hash
    flagged = dict.fromkeys(
        (value for _, value in found), Label("untrusted", checked.label.confidentiality)
    )
    values = {value: value for value in flagged}
    return {
        "decision": Decision("ask", ("flow.untrusted-answer",), reason, policy),
        "preview": {
            "summary": f"release the final answer ({len(found)} value(s) only untrusted "
            f"text holds: {kinds})",
            "warnings": [f"{kind} {value} appears in no trusted source" for kind, value in found],
            "facts": [{"name": kind, "value": value} for kind, value in found],
        },
        "evidence": session.labels.untrusted_sources(values, flagged),
        "flagged": flagged,
    }


def release_answer(
    approvals: Approvals, session: Session, request: ApprovalRequest, text: str
) -> None:
    """End a run whose answer waited for approval: with ``text`` when an approver
    released exactly that answer (the receipt re-checked against it), otherwise with
    the answer withheld and the refusal journaled (outcome ``denied``)."""
    run, step = session.run, session.run.steps[-1]
    checked = approvals.check(
        request.request_id,
        run_id=run.run_id,
        step=step.index,
        tool=ANSWER_TOOL,
        args={"text": text},
        policy=session.agent.charter.policy_hash,
    )
    run.status = "completed"
    if isinstance(checked, ReceiptProblem):
        message = checked.message.replace(" denied the call: ", " denied the answer: ")
        if message.endswith("another arguments"):
            message = f"the approval of {request.request_id} is for another answer"
        session.record(
            "approval.rejected",
            {"request_id": request.request_id, "rule": checked.rule, "reason": message},
        )
        run.answer = f"[answer withheld: {message} (rule {checked.rule})]"
        return
    session.record(
        "approval.used",
        {"request_id": request.request_id, "step": step.index, "approver": checked.approver},
    )
    session.record(
        "answer.released",
        {"step": step.index, "request_id": request.request_id, "approver": checked.approver},
    )
    run.answer = text
