"""The runtime: the governed run loop, operator controls and approvals."""

from charter.runtime._anomaly import AnomalyWatch, JournalRateLimiter
from charter.runtime._approvals import (
    APPROVAL_KINDS,
    ApprovalRequest,
    Approvals,
    ApprovalState,
    ApprovalStatus,
    Receipt,
    ReceiptProblem,
    args_hash,
)
from charter.runtime._controls import CONTROL_KINDS, CONTROL_RUN, Controls, ControlState
from charter.runtime._rollback import RollbackItem, RollbackReport, rollback
from charter.runtime._run import Run, RunStatus, Step
from charter.runtime._runner import RecordListener, Runner

__all__ = [
    "APPROVAL_KINDS",
    "CONTROL_KINDS",
    "CONTROL_RUN",
    "AnomalyWatch",
    "ApprovalRequest",
    "ApprovalState",
    "ApprovalStatus",
    "Approvals",
    "ControlState",
    "Controls",
    "JournalRateLimiter",
    "Receipt",
    "ReceiptProblem",
    "RecordListener",
    "RollbackItem",
    "RollbackReport",
    "Run",
    "RunStatus",
    "Runner",
    "Step",
    "args_hash",
    "rollback",
]
