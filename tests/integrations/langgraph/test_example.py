"""examples/integrations/langgraph_refund.py runs as its README section says: it stops at
the refund, refuses to resume before the approval, and refunds once approved."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from charter import Journal

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "integrations" / "langgraph_refund.py"


def test_the_example_waits_for_the_cli_approval_then_refunds_in_another_process(
    tmp_path: Path,
) -> None:
    env = os.environ | {
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path]),
        "CHARTER_HOME": str(tmp_path / "home"),
    }
    env.pop("CHARTER_DATABASE_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], env=env, capture_output=True, text=True, cwd=tmp_path
        )

    first = run(str(EXAMPLE))
    assert first.returncode == 3, first.stdout + first.stderr
    assert "lookup_order: success" in first.stdout
    command = re.search(r"--thread (\S+) --resume (apr-\S+)", first.stdout)
    assert command is not None, first.stdout
    thread, request = command.groups()
    early = run(str(EXAMPLE), "--thread", thread, "--resume", request)
    assert early.returncode == 2 and "still undecided" in early.stderr
    approve = run("-m", "charter", "approvals", "approve", request, "--as", "dana")
    assert approve.returncode == 0, approve.stdout + approve.stderr
    resumed = run(str(EXAMPLE), "--thread", thread, "--resume", request)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "refund_order: success" in resumed.stdout
    assert "answer: Refunded order 1042." in resumed.stdout
    journal = Journal(f"sqlite:///{tmp_path / 'home' / 'journal.db'}")
    assert journal.verify().ok
    audit = run("-m", "charter", "audit", "verify")
    assert audit.returncode == 0, audit.stdout + audit.stderr
