"""The packaged demo agent and the `charter demo` flow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from charter.agent import load_agent
from charter.demo.showcase import AGENT_FILE, DEMO_GOALS, run_demo
from charter.demo.world import default_world_path
from charter.journal import Journal


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path))


def test_demo_agent_loads_with_the_local_reasoner_and_its_charter() -> None:
    agent = load_agent(AGENT_FILE)

    assert agent.reasoner.kind == "local"
    assert {"lookup_order", "refund_order", "get_ticket", "search_kb"} <= set(
        agent.inventory.names()
    )
    assert agent.charter.decide("refund_order").verdict == "allow"
    assert agent.charter.decide("delete_customer").verdict == "ask"


def test_demo_charter_opens_email_to_the_flow_rules() -> None:
    charter = load_agent(AGENT_FILE).charter

    assert charter.decide("send_email").verdict == "allow"
    flows = charter.flows
    assert (flows.confidential_to_external, flows.untrusted_target) == ("deny", "ask")


def test_demo_goals_are_at_least_three() -> None:
    assert len(DEMO_GOALS) >= 3


@pytest.mark.llm
def test_demo_runs_a_goal_on_the_local_model_and_verifies_the_journal(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    console = Console(file=(tmp_path / "out.txt").open("w"), width=120)

    code = run_demo(console, journal=journal, limit=1)

    console.file.close()
    output = (tmp_path / "out.txt").read_text()
    assert code == 0
    (finished,) = journal.records_of_kind("run.finished")
    assert finished.payload["status"] == "completed"
    assert "delivered" in finished.payload["answer"]
    assert "Journal intact" in output
    # OpenTelemetry spans through the console exporter, and the cost/ROI report.
    home = default_world_path().parent
    lines = (home / "demo-traces.jsonl").read_text().splitlines()
    spans = [json.loads(line) for line in lines if line.strip()]
    assert "invoke_agent support-agent" in {s["name"] for s in spans}
    tools = [s for s in spans if s["attributes"].get("gen_ai.operation.name") == "execute_tool"]
    assert tools and tools[0]["attributes"]["gen_ai.tool.name"] == "lookup_order"
    assert f"{len(spans)} spans" in output
    html = (home / "report.html").read_text()
    assert "support-agent" in html and "<svg" in html
