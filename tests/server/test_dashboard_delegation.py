"""The run page shows the tree of delegated runs: a parent's children, a child's parent."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient

from charter import Runner, tool
from charter.testing import ScriptedReasoner, call, make_agent, respond

if TYPE_CHECKING:
    from server._support import Service


@tool
def lookup_order(order_id: int) -> int:
    """Look up an order."""
    return order_id


def test_the_run_page_links_a_parent_and_its_children(service: Service) -> None:
    child = make_agent(
        [lookup_order],
        ScriptedReasoner([call("lookup_order", order_id=1), respond("found")]),
        name="billing",
    )
    parent = make_agent(
        [lookup_order],
        ScriptedReasoner([call("ask_billing", task="look up order 1"), respond("done")]),
        name="front-desk",
        delegates={"ask_billing": child},
    )
    run = Runner(service.journal).run(parent, "look up order 1")
    started = next(r for r in service.journal.records(run.run_id) if r.kind == "delegate.started")
    child_id = str(started.payload["child_run"])
    viewer = TestClient(service.client.app, follow_redirects=False)
    viewer.post("/login", data={"token": service.tokens["viewer"]})

    page = viewer.get(f"/runs/{run.run_id}").text
    assert 'id="delegation"' in page and "Delegated runs" in page
    assert re.search(rf'href="/runs/{child_id}">billing</a>', page)

    below = viewer.get(f"/runs/{child_id}").text
    assert f'Delegated by run <a href="/runs/{run.run_id}">' in below
    assert "Delegated runs" not in below
