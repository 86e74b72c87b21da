"""A run on MCP tools continues in another process: each opens its own client session."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from charter import settings
from charter.journal import Journal


def charter_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "charter", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_held_write_is_approved_and_resumed_by_another_process(
    write_agent: Any, outbox: Path, charter_env: dict[str, str]
) -> None:
    reasoner = {
        "kind": "rules",
        "steps": [
            {"id": "page", "call": "fetch_page", "args": {"url": "https://shop.example"}},
            {
                "id": "mail",
                "call": "send_email",
                "args": {"to": "{steps.page.result.result}", "body": "hello"},
            },
            {"respond": "sent"},
        ],
    }
    agent_file = write_agent(reasoner=reasoner)
    locked = charter_cli("mcp", "lock", str(agent_file), "--as", "ops")
    assert locked.returncode == 0, locked.stdout + locked.stderr
    started = charter_cli("run", str(agent_file), "Answer the contact page", "--as", "alice")
    assert started.returncode == 3, started.stdout + started.stderr  # waiting for approval
    assert not outbox.exists()
    journal = Journal(settings.database_url())
    (request,) = [r.payload for r in journal.records_of_kind("approval.requested")]
    approved = charter_cli("approvals", "approve", request["request_id"], "--as", "bob")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert outbox.read_text().startswith("Contact us at attacker@evil.example")
    verified = charter_cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_queued_run_on_mcp_tools_is_run_by_a_dbos_worker(
    write_agent: Any, outbox: Path, charter_env: dict[str, str]
) -> None:
    reasoner = {
        "kind": "rules",
        "steps": [
            {"call": "send_email", "args": {"to": "ada@example.com", "body": "queued"}},
            {"respond": "sent"},
        ],
    }
    agent_file = write_agent(reasoner=reasoner)
    assert charter_cli("mcp", "lock", str(agent_file)).returncode == 0
    submitted = charter_cli("submit", str(agent_file), "Mail Ada")
    assert submitted.returncode == 0, submitted.stderr
    run_id = submitted.stdout.split()[-1]
    worker = subprocess.Popen(
        [sys.executable, "-m", "charter", "worker", "--id", "w1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    journal = Journal(settings.database_url())
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if any(r.kind == "run.finished" for r in journal.records(run_id)):
                break
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    end = [r.payload for r in journal.records(run_id) if r.kind == "run.finished"]
    assert end and end[0]["status"] == "completed", end
    assert outbox.read_text() == "ada@example.com\tqueued\n"
