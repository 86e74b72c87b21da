"""``POST /api/runs/<id>/rollback`` on a run its caller's code governs with no agent file:
refused (409) naming the API that undoes it, nothing journaled."""

from __future__ import annotations

from typing import TYPE_CHECKING

from charter import tool
from charter.governance import GovernedRun
from charter.testing import ScriptedReasoner, make_agent

if TYPE_CHECKING:  # the fixture's type; pytest provides the fixture itself
    from server._support import Service


@tool(side_effect="write")
def refund_order(order_id: int) -> dict[str, int]:
    """Refund an order."""
    return {"refund_id": order_id}


def test_a_fileless_caller_run_is_refused_naming_the_api(service: Service) -> None:
    agent = make_agent([refund_order], ScriptedReasoner([]), name="framework-desk")
    governed = GovernedRun.open(service.journal, agent, "refund order 4", actor="ana")
    verdict = governed.govern("refund_order", {"order_id": 4})
    governed.record(verdict, result={"refund_id": 4})
    governed.finish("refunded")

    response = service.client.post(
        f"/api/runs/{governed.run_id}/rollback", headers=service.auth("sam")
    )

    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "is governed by its caller's code" in detail
    assert "charter.runtime.rollback(journal, agent, run_id, actor=...)" in detail
    assert "--agent" not in detail  # no file option over HTTP
    kinds = [r.kind for r in service.journal.records(governed.run_id)]
    assert not any(kind.startswith("rollback.") for kind in kinds)
