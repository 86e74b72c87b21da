"""Delegation: a sub-agent's run under its parent's run, governed from above."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter import Charter, Journal, Runner, tool
from charter.testing import ScriptedReasoner, call, make_agent, respond

refunds: list[int] = []


@tool
def lookup_order(order_id: int) -> dict[str, int]:
    """Look up an order."""
    return {"order_id": order_id, "total_cents": 4200}


@tool(side_effect="write", targets=("order_id",))
def refund_order(order_id: int) -> str:
    """Refund an order."""
    refunds.append(order_id)
    return f"refunded {order_id}"


@pytest.fixture(autouse=True)
def _reset() -> None:
    refunds.clear()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'journal.db'}")


def test_a_delegated_task_runs_as_a_child_run_linked_both_ways(journal: Journal) -> None:
    child = make_agent(
        [lookup_order, refund_order],
        ScriptedReasoner([call("refund_order", order_id=1042), respond("refunded 1042")]),
        name="billing",
    )
    parent = make_agent(
        [lookup_order],
        ScriptedReasoner([call("ask_billing", task="refund order 1042"), respond("done")]),
        name="front-desk",
        delegates={"ask_billing": child},
    )
    run = Runner(journal).run(parent, "refund order 1042")
    assert run.status == "completed", run.error
    assert refunds == [1042]
    records = list(journal.records(run.run_id))
    started = next(r for r in records if r.kind == "delegate.started")
    child_id = started.payload["child_run"]
    effect = next(r for r in records if r.kind == "step.effect")
    assert effect.payload["child_run"] == child_id
    child_records = list(journal.records(child_id))
    origin = child_records[0].payload["delegated_by"]
    assert (origin["run"], origin["step"], origin["root"]) == (run.run_id, 1, run.run_id)
    assert child_records[-1].kind == "run.finished"
