"""examples/integrations/adk_refund.py runs as its README section says."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("google.adk", reason="the adk extra is not installed")

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "integrations" / "adk_refund.py"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CHARTER_HOME=str(tmp_path / "home"))
    env.pop("CHARTER_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=tmp_path, capture_output=True, text=True
    )


def test_the_refund_waits_for_a_cli_approval_then_runs_on_resume(tmp_path: Path) -> None:
    first = _run(tmp_path, str(EXAMPLE))
    assert first.returncode == 3, first.stdout + first.stderr
    assert "still refundable 189.50 USD" in first.stdout
    request = re.search(r"approvals approve (apr-[0-9a-f]+)", first.stdout)
    session = re.search(r"--resume ([0-9a-f-]{36})", first.stdout)
    assert request and session, first.stdout

    early = _run(tmp_path, str(EXAMPLE), "--resume", session[1])
    assert early.returncode == 2 and "still undecided" in early.stderr

    approved = _run(tmp_path, "-m", "charter", "approvals", "approve", request[1], "--as", "dana")
    assert approved.returncode == 0, approved.stdout + approved.stderr

    resumed = _run(tmp_path, str(EXAMPLE), "--resume", session[1])
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Refunded 189.50 USD on order 1042" in resumed.stdout
    assert "agent: Refunded order 1042 in full." in resumed.stdout
    verified = _run(tmp_path, "-m", "charter", "audit", "verify")
    assert verified.returncode == 0 and "journal intact" in verified.stdout
    runs = _run(tmp_path, "-m", "charter", "runs")
    assert "completed" in runs.stdout and "refund_agent" in runs.stdout
