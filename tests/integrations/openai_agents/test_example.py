"""The README's OpenAI Agents walk-through, run as written: three processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("agents", reason="the openai-agents extra is not installed")

from charter import Journal
from integrations.openai_agents.shop import cli

EXAMPLE = Path(__file__).parents[3] / "examples" / "integrations" / "openai_agents_refund.py"


def _example(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, env=dict(os.environ)
    )


def test_the_example_asks_is_approved_from_the_cli_and_resumes(home: Path) -> None:
    started = _example()
    assert started.returncode == 3, started.stdout + started.stderr
    request = re.search(r"approve (apr-\w+)", started.stdout)
    run_id = re.search(r"--resume (\w+)", started.stdout)
    assert request and run_id, started.stdout
    early = _example("--resume", run_id[1])
    assert early.returncode == 2 and "waits for approval" in early.stderr
    approved = cli("approvals", "approve", request[1], "--as", "dana")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    resumed = _example("--resume", run_id[1])
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "charter's answer: approved" in resumed.stdout
    assert "completed: Refunded order 1051. (outcome succeeded)" in resumed.stdout
    assert Journal(os.environ["CHARTER_DATABASE_URL"]).verify().ok
    assert cli("audit", "verify").returncode == 0
