"""Queued runs on DBOS workers: a worker killed with SIGKILL mid-call is restarted under the
same id, recovers its run from the journal, and the write happens once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from charter.journal import Journal

TOOLS_MODULE = '''
import json
import os
import time
from pathlib import Path

from charter import tool

LEDGER = Path(os.environ["LEDGER"])


@tool(side_effect="write", timeout_s=None)
def pay_once(order_id: int, idempotency_key: str | None = None) -> dict:
    """Pay an order at most once per idempotency key."""
    data = json.loads(LEDGER.read_text()) if LEDGER.exists() else {"payments": [], "keys": {}}
    if idempotency_key in data["keys"]:
        return data["keys"][idempotency_key]
    data["payments"].append(order_id)
    data["keys"][idempotency_key] = {"paid": order_id}
    LEDGER.write_text(json.dumps(data))
    flag = LEDGER.with_suffix(".hung")
    if not flag.exists():  # the first call hangs after its effect until the worker dies
        flag.write_text("1")
        time.sleep(120)
    return {"paid": order_id}
'''

AGENT = """
name: payer
reasoner:
  kind: rules
  match: 'pay (?P<order_id>\\d+)'
  steps:
    - id: pay
      call: pay_once
      args: {order_id: "{goal.order_id}"}
    - respond: "Paid order {goal.order_id}."
toolsets:
  - ref: worker_tools:pay_once
charter:
  name: pay
"""


def _charter(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "charter", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_worker_is_restarted_and_its_run_finishes_once(tmp_path: Path) -> None:
    (tmp_path / "worker_tools.py").write_text(TOOLS_MODULE)
    (tmp_path / "agent.yaml").write_text(AGENT)
    env = os.environ | {
        "CHARTER_HOME": str(tmp_path / "home"),
        "LEDGER": str(tmp_path / "ledger.json"),
        # The caller's path too, so the workers run the charter under test.
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("CHARTER_DATABASE_URL", None)
    submitted = subprocess.run(
        [sys.executable, "-m", "charter", "submit", str(tmp_path / "agent.yaml"), "pay 7"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    run_id = submitted.stdout.split()[-1]
    first = _charter(env, "worker", "--id", "w1")
    try:
        assert _wait(lambda: (tmp_path / "ledger.hung").exists(), 60), "the run never started"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    journal = Journal(f"sqlite:///{tmp_path / 'home' / 'journal.db'}")
    assert "run.finished" not in [r.kind for r in journal.records(run_id)]

    second = _charter(env, "worker", "--id", "w1")
    try:
        finished = _wait(lambda: any(r.kind == "run.finished" for r in journal.records(run_id)), 90)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    assert finished, "the restarted worker did not finish the run"
    end = next(r.payload for r in journal.records(run_id) if r.kind == "run.finished")
    assert (end["status"], end["answer"]) == ("completed", "Paid order 7.")
    assert json.loads((tmp_path / "ledger.json").read_text())["payments"] == [7]
    assert "run.recovered" in [r.kind for r in journal.records(run_id)]
    assert journal.verify().ok
