"""The tree of runs around one run: the run that delegated it, and the runs it delegated."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from charter.journal import DamagedRecordError, Journal, Record
from charter.journal._kinds import DelegateStarted, RunStarted, payload_as
from charter.journal._outcome import Outcome
from charter.views._runs import RunSummary, run_detail


class ChildRun(BaseModel):
    """A run one of a run's delegations started."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    agent: str
    step: int
    """The step of the parent run that delegated it."""
    status: str
    """``running``, ``waiting``, ``completed``, ``failed``, ``stopped``, or ``starting``
    (journaled by its parent, not started yet)."""
    outcome: Outcome | None = None


class RunTree(BaseModel):
    """Where a run sits among delegated runs."""

    model_config = ConfigDict(frozen=True)

    parent: str | None = None
    """The run that delegated this one, if any."""
    parent_step: int | None = None
    """The step of that run that delegated it."""
    root: str | None = None
    """The run at the top of its chain, if it is not that run itself."""
    children: list[ChildRun] = []
    """The runs its delegations started, in order (each may have children of its own)."""


def run_tree(journal: Journal, run_id: str) -> RunTree:
    """The parent and the children of ``run_id`` (both empty for a run that neither was
    delegated nor delegated), read by index."""
    own = [r for r in journal.records(run_id) if r.kind in ("run.started", "delegate.started")]
    first = _payload(own[0]) if own and own[0].kind == "run.started" else {}
    origin = payload_as(RunStarted, first).get("delegated_by")
    started = [
        payload_as(DelegateStarted, r.payload)
        for r in own
        if r.kind == "delegate.started" and _payload(r)
    ]
    ids = [str(p["child_run"]) for p in started]
    summaries: dict[str, RunSummary] = {}
    for child in ids:  # a run page's few children, each read by its index
        detail = run_detail(journal, child)
        if detail is not None:
            summaries[child] = detail.summary
    children = [
        ChildRun(
            run_id=child,
            agent=str(delegated["agent"]),
            step=int(delegated["step"]),
            status=summaries[child].status if child in summaries else "starting",
            outcome=summaries[child].outcome if child in summaries else None,
        )
        for child, delegated in zip(ids, started, strict=True)
    ]
    return RunTree(
        parent=str(origin["run"]) if origin else None,
        parent_step=int(origin["step"]) if origin else None,
        root=str(origin["root"]) if origin else None,
        children=children,
    )


def _payload(record: Record) -> dict[str, Any]:
    """The record's payload, or nothing for a damaged record (the run page says which
    record is damaged; its tree leaves it out)."""
    try:
        return record.payload
    except DamagedRecordError:
        return {}
