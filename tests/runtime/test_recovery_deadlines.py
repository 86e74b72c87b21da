"""Recovery keeps a tool's deadline as a run does: a write retried under its idempotency
key while a run is recovered, which times out again, is left in doubt and has its real
outcome journaled when the late call returns."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter import Journal, Runner, tool
from charter.errors import RunOwnedError
from charter.runtime._ledger import RESOLVED
from charter.testing import ScriptedReasoner, call, make_agent, respond

release = threading.Event()
calls: list[str] = []


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    release.clear()
    calls.clear()
    yield
    release.set()


@tool(side_effect="write", timeout_s=1.0, targets=("order_id",))
def pay(order_id: int, idempotency_key: str) -> dict[str, int]:
    """Pay an order: the first call hangs (its process is taken for dead), the retry
    answers a little after its deadline."""
    calls.append(idempotency_key)
    if len(calls) == 1:
        release.wait(30)
    else:
        time.sleep(1.3)
    return {"paid": order_id}


def _agent() -> Any:
    return make_agent([pay], ScriptedReasoner([call("pay", order_id=7), respond("paid")]))


def _held_lease(run_id: str) -> Any:
    from charter.journal import _lease

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for lease in list(_lease._keeper._held):  # pyright: ignore[reportPrivateUsage]
            if lease.run_id == run_id:
                return lease
        time.sleep(0.01)
    raise AssertionError(f"no lease renewed for {run_id}")


def test_a_write_retried_in_recovery_that_times_out_again_has_its_late_outcome_journaled(
    tmp_path: Path,
) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    first = Runner(journal, owner="first", lease_ttl=0.5)
    driver = threading.Thread(target=_quietly, args=(first, "r-1"))
    driver.start()
    deadline = time.monotonic() + 10
    while not calls:
        assert time.monotonic() < deadline, "the run never called its tool"
        time.sleep(0.01)
    _held_lease("r-1").lapse()  # its process stops renewing, as if it had died
    second = Runner(journal, owner="second", lease_ttl=0.5)
    deadline = time.monotonic() + 15
    while True:
        try:
            recovered = second.recover(_agent(), "r-1")
            break
        except RunOwnedError:
            assert time.monotonic() < deadline, "the lapsed lease never ended"
            time.sleep(0.05)

    resolved: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while not resolved and time.monotonic() < deadline:  # the late call returns at 1.3 s
        resolved = [r.payload for r in journal.records("r-1") if r.kind == RESOLVED]
        time.sleep(0.05)
    release.set()
    driver.join(10)

    assert len(calls) == 2 and calls[0] == calls[1]  # retried under the same key
    effects = [r.payload for r in journal.records("r-1") if r.kind == "step.effect"]
    assert [(e["status"], e.get("in_doubt")) for e in effects] == [("timeout", True)]
    assert recovered.status != "running"
    assert [(p["outcome"], p["actor"], p["result"]) for p in resolved] == [
        ("happened", "charter:late-result", {"paid": 7})
    ]
    assert journal.verify().ok
    first.close()
    second.close()


def _quietly(runner: Runner, run_id: str) -> None:
    """Drive the run; it is fenced out once another runner takes it over (expected)."""
    with contextlib.suppress(BaseException):
        runner.run(_agent(), "g", run_id=run_id)
