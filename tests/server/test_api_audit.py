"""The audit status over HTTP: only an admin walks the whole journal again; the audit page
says what the signatures cover."""

from __future__ import annotations

from sqlalchemy import text

from charter import Journal, Runner, tool
from charter.testing import ScriptedReasoner, call, make_agent, respond
from server._support import Service


@tool
def look(order_id: int) -> dict[str, int]:
    """Look up an order."""
    return {"order_id": order_id}


def _run(journal: Journal, n: int = 1) -> str:
    reasoner = ScriptedReasoner([call("look", order_id=n), respond("found")])
    runner = Runner(journal)
    return runner.run(make_agent([look], reasoner, name="looker"), f"look {n}").run_id


def test_only_an_admin_may_walk_the_whole_journal_again(service: Service) -> None:
    _run(service.journal)
    url = "/api/audit/verify"

    viewer = service.client.get(url, params={"full": "true"}, headers=service.auth("viewer"))
    admin = service.client.get(url, params={"full": "true"}, headers=service.auth("admin"))
    usual = service.client.get(url, headers=service.auth("viewer"))

    assert viewer.status_code == 403
    assert admin.status_code == 200 and admin.json()["full"] is True
    assert usual.status_code == 200 and usual.json()["full"] is False
    assert "are covered by a signature made" in usual.json()["coverage"]


def test_the_audit_page_says_what_the_signatures_cover(service: Service) -> None:
    _run(service.journal)
    (checkpoint,) = service.journal.checkpoints()
    _run(service.journal, 2)
    with service.journal.engine.begin() as conn:
        conn.execute(text("DELETE FROM journal_checkpoints WHERE seq > :s"), {"s": checkpoint.seq})
    service.client.post("/login", data={"token": service.tokens["viewer"]})

    page = service.client.get("/audit").text

    assert f"Records 1\N{EN DASH}{checkpoint.seq} are covered by a signature made" in page
    assert "finished runs have records beyond the last signature" in page
    assert "protected by the chain alone" in page
