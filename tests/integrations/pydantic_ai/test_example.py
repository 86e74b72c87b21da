"""examples/integrations/pydantic_ai_refund.py runs as the README says: a Pydantic AI agent
refunding order 1042 of the demo world stops at the refund, which is approved with
``charter approvals approve`` and resumed by a new process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pydantic_ai", reason="the pydantic-ai extra is not installed")

EXAMPLE = (
    Path(__file__).resolve().parents[3] / "examples" / "integrations" / "pydantic_ai_refund.py"
)


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True)


def test_the_example_refund_waits_for_the_cli_and_resumes_in_a_new_process(
    tmp_path: Path,
) -> None:
    env = dict(os.environ, CHARTER_HOME=str(tmp_path / "home"))
    env.pop("CHARTER_DATABASE_URL", None)
    first = _run(env, str(EXAMPLE))
    assert first.returncode == 3, first.stdout + first.stderr
    assert "step 2 refund_order: ask (refunds-over-100)" in first.stdout
    request = re.search(r"approvals approve (apr-[0-9a-f]+)", first.stdout)
    assert request, first.stdout

    early = _run(env, str(EXAMPLE), "--resume")
    assert early.returncode == 2 and request[1] in early.stderr

    approved = _run(env, "-m", "charter", "approvals", "approve", request[1], "--as", "dana")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    resumed = _run(env, str(EXAMPLE), "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "approved by dana" in resumed.stdout
    assert "Refunded 189.50 USD on order 1042" in resumed.stdout
    verified = _run(env, "-m", "charter", "audit", "verify")
    assert verified.returncode == 0 and "journal intact" in verified.stdout

    run_id = re.search(r"run ([0-9a-f]{32}):", resumed.stdout)
    assert run_id, resumed.stdout
    undone = _run(env, str(EXAMPLE), "--rollback", run_id[1])
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert "refund_order: compensated" in undone.stdout
    order = _run(env, "-c", LOOKUP)
    assert '"refunded_cents": 0' in order.stdout, order.stdout + order.stderr


LOOKUP = (
    "import json; from charter.demo.tools import toolset; "
    "tools = {t.name: t for t in toolset({})}; "
    "print(json.dumps(dict(tools['lookup_order'].fn(order_id=1042))))"
)
