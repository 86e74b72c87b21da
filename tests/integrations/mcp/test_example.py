"""examples/mcp runs as its README section says: pinned, held, approved, replied."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from charter import Journal, Runner, load_agent
from charter.integrations.mcp import Lockfile, connection_for, load_server, lock_path

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "mcp"


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example (its ticket file lands in the copy's ../../.charter)."""
    target = tmp_path / "examples" / "mcp"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__"))
    # `command: python` is the Python with charter[mcp] installed, first on PATH.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return target / "tickets.agent.yaml"


def test_the_committed_lockfile_pins_the_example_servers_tools(example: Path) -> None:
    import yaml

    entry = yaml.safe_load(example.read_text())["toolsets"][0]["mcp"]
    spec = load_server(entry, example)
    lockfile = Lockfile.read(lock_path(example))
    checks = [lockfile.check(spec.server, d) for d in connection_for(spec).list_tools()]
    assert {c.tool: c.state for c in checks} == {"get_ticket": "pinned", "reply": "pinned"}


def test_a_reply_to_an_address_the_ticket_chose_waits_for_an_approver(example: Path) -> None:
    agent = load_agent(example)
    runner = Runner(Journal("sqlite://"))
    run = runner.run(agent, "Answer ticket 89", actor="sam")
    assert run.status == "waiting"
    runner.approvals.approve(str(run.waiting_for), "dana", "the customer's own address")
    resumed = runner.resume(agent, run.run_id)
    assert resumed.status == "completed", resumed.error
    tickets = json.loads((example.parents[2] / ".charter" / "mcp-tickets.json").read_text())
    assert tickets["89"]["replies"][0]["to"] == "lin@example.com"
    assert runner.journal.verify().ok


def test_the_gateway_example_client_is_held_before_replying_where_the_ticket_says(
    example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess

    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    client = example.with_name("gateway_client.py")
    done = subprocess.run(
        [sys.executable, str(client)], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tools: get_ticket, reply" in done.stdout
    assert "reply: error - held:" in done.stdout and "flow.untrusted-target" in done.stdout
    tickets = json.loads((example.parents[2] / ".charter" / "mcp-tickets.json").read_text())
    assert tickets["88"]["replies"] == []
    journal = Journal(f"sqlite:///{tmp_path / 'home' / 'journal.db'}")
    assert journal.verify().ok
