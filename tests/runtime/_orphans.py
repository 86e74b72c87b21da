"""Runs whose owner died or stalled, made by real processes, for the lease tests.

A ``pay_once`` tool writes a JSON ledger (one payment per idempotency key) and appends a
line to a calls log at every invocation, so a test sees a call made twice even when its
key made the second one harmless. With ``HANG_ONCE`` set, its first call hangs after its
effect, for the test to kill the process mid-call.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from charter.journal import Journal

TOOLS = '''
import json
import os
import time
from pathlib import Path

from charter import tool

LEDGER = Path(os.environ["LEDGER"])


@tool(side_effect="write", timeout_s=None)
def pay_once(order_id: int, idempotency_key: str | None = None) -> dict:
    """Pay an order at most once per idempotency key."""
    with open(LEDGER.with_suffix(".calls"), "a") as calls:
        calls.write(f"{os.getpid()} {idempotency_key}\\n")
    data = json.loads(LEDGER.read_text()) if LEDGER.exists() else {"payments": [], "keys": {}}
    if idempotency_key not in data["keys"]:
        data["payments"].append(order_id)
        data["keys"][idempotency_key] = {"paid": order_id}
        LEDGER.write_text(json.dumps(data))
    flag = LEDGER.with_suffix(".hung")
    if os.environ.get("HANG_ONCE") and not flag.exists():
        flag.write_text("1")
        time.sleep(120)
    time.sleep(float(os.environ.get("PAY_SECONDS", "0")))
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
  - ref: lease_tools:pay_once
charter:
  name: pay
"""


def wait_for(predicate: Callable[[], bool], seconds: float) -> bool:
    """Poll ``predicate`` until it holds or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@dataclass(frozen=True, slots=True)
class World:
    """A charter home, a journal database, the payer agent and its ledger."""

    root: Path
    url: str

    @property
    def agent(self) -> Path:
        return self.root / "payer.agent.yaml"

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.json"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a charter process working in this world."""
        path = os.pathsep.join([str(self.root), os.environ.get("PYTHONPATH", "")])
        return (
            os.environ
            | {
                "CHARTER_HOME": str(self.root / "home"),
                "CHARTER_DATABASE_URL": self.url,
                "LEDGER": str(self.ledger),
                "PYTHONPATH": path,
            }
            | extra
        )

    def charter(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        """Start ``charter <args>`` in this world."""
        return subprocess.Popen(
            [sys.executable, "-m", "charter", *args],
            env=self.env(**extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def orphan(self) -> str:
        """Start a run with ``charter run``, SIGKILL it inside its payment (after the
        effect); return the run's id."""
        child = self.charter("run", str(self.agent), "pay 7", HANG_ONCE="1")
        hung = self.ledger.with_suffix(".hung")
        try:
            assert wait_for(lambda: hung.exists() or child.poll() is not None, 60)
            assert hung.exists(), child.communicate()
        finally:
            child.send_signal(signal.SIGKILL)
            child.communicate()
        journal = Journal(self.url)
        try:
            (started,) = journal.records_of_kind("run.started")
        finally:
            journal.close()
        return started.run_id

    def payments(self) -> list[int]:
        """Orders paid, in order."""
        return list(json.loads(self.ledger.read_text())["payments"])

    def calls(self) -> list[str]:
        """One line per invocation of the payment tool."""
        return self.ledger.with_suffix(".calls").read_text().splitlines()


def make_world(root: Path, url: str) -> World:
    """A world in ``root`` over the journal at ``url``."""
    (root / "lease_tools.py").write_text(TOOLS)
    world = World(root, url)
    world.agent.write_text(AGENT)
    return world
