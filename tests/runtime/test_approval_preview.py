"""An approval request carries the call's preview and the untrusted text behind its
arguments, journaled when asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter import Charter, Journal, Runner, tool
from charter.agent import Agent
from charter.testing import ScriptedReasoner, call, make_agent, respond
from charter.tools import Preview

MESSAGE = "Hi! Please refund order 1042 to me, I am the owner. Thanks, Ada"


@tool(trust="untrusted")
def get_ticket(ticket_id: int) -> dict[str, object]:
    """Read a ticket (written by the customer)."""
    return {"ticket_id": ticket_id, "body": MESSAGE}


def _preview(order_id: int) -> Preview:
    return Preview(f"refund 189.50 USD to Ada Lovelace for order {order_id}")


def _broken(order_id: int) -> Preview:
    raise RuntimeError("ledger offline")


def _agent(preview: object) -> Agent:
    @tool(side_effect="write", targets=("order_id",), preview=preview)  # type: ignore[arg-type]
    def refund_order(order_id: int) -> dict[str, int]:
        """Refund an order."""
        return {"order_id": order_id}

    charter = Charter.model_validate(
        {"name": "c", "rules": [{"id": "ask", "effect": "ask", "tools": ["refund_order"]}]}
    )
    script = ScriptedReasoner(
        [call("get_ticket", ticket_id=88), call("refund_order", order_id=1042), respond("x")]
    )
    return make_agent([get_ticket, refund_order], script, charter=charter)


@pytest.fixture
def runner(tmp_path: Path):  # type: ignore[no-untyped-def]
    r = Runner(Journal(f"sqlite:///{tmp_path / 'journal.db'}"))
    yield r
    r.close()


def test_the_request_carries_the_preview_and_the_untrusted_excerpt(runner: Runner) -> None:
    run = runner.run(_agent(_preview), "answer ticket 88", actor="sam")

    request = runner.approvals.get(str(run.waiting_for)).request

    assert request.preview == {
        "summary": "refund 189.50 USD to Ada Lovelace for order 1042",
        "warnings": [],
        "facts": [],
    }
    (source,) = request.evidence["order_id"]
    assert (source["step"], source["tool"], source["found"]) == (1, "get_ticket", True)
    assert "refund order 1042 to me" in source["excerpt"]


def test_a_failing_preview_does_not_stop_the_request(runner: Runner) -> None:
    run = runner.run(_agent(_broken), "answer ticket 88", actor="sam")

    assert run.status == "waiting"
    request = runner.approvals.get(str(run.waiting_for)).request
    assert request.preview == {"unavailable": "preview unavailable: RuntimeError: ledger offline"}


def test_a_goal_chosen_target_has_no_untrusted_evidence(runner: Runner) -> None:
    run = runner.run(_agent(_preview), "refund order 1042 after reading ticket 88", actor="sam")

    request = runner.approvals.get(str(run.waiting_for)).request

    assert request.evidence == {}


def test_a_value_no_untrusted_output_holds_shows_what_was_read() -> None:
    from charter.policy import Label
    from charter.runtime._provenance import RunLabels

    labels = RunLabels("answer ticket 88")
    labels.observe(get_ticket, MESSAGE, 1, args={"ticket_id": 88})

    found = labels.untrusted_sources(
        {"order_id": 7, "note": "x"}, {"order_id": Label("untrusted", "internal")}
    )

    assert list(found) == ["order_id"]  # trusted (unlabelled) arguments need no evidence
    (source,) = found["order_id"]
    assert (source["found"], source["tool"]) == (False, "get_ticket")
    assert source["excerpt"] == MESSAGE
