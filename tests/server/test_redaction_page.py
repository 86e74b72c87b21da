"""The run page marks what was redacted at each step, and never shows the value."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient

from charter import Runner, load_agent
from charter.demo.world import connect, create_world, default_world_path

if TYPE_CHECKING:
    from server._support import Service

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "redact.agent.yaml"


def test_a_run_page_marks_masked_and_restored_values_by_rule(service: Service) -> None:
    world = create_world(default_world_path())
    with connect(world) as conn:
        email = str(conn.execute("SELECT email FROM customers WHERE id = 17").fetchone()[0])
    run = Runner(service.journal).run(load_agent(EXAMPLE), "Answer ticket 88")
    assert run.status == "completed", run.error
    client = TestClient(service.client.app, follow_redirects=False)
    assert client.post("/login", data={"token": service.tokens["viewer"]}).status_code == 303

    page = client.get(f"/runs/{run.run_id}").text

    assert page.count('<span class="badge verdict-redact">redacted</span>') == 2
    assert "masked as <code>[redacted:email#" in page
    assert "by <code>redact.customer-record</code>" in page
    assert "given back from <code>[redacted:email#" in page
    assert email not in page
