"""Tool timeouts in runs: an ``async`` tool kept to its deadline on the run's own thread,
a result just after the deadline that is late and never a success, many runs timing out
at once, and a process that dies right after a timeout."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter import Journal, Runner, tool
from charter.journal import Record
from charter.runtime._ledger import IN_DOUBT_RULE, RESOLVED
from charter.testing import ScriptedReasoner, call, make_agent, respond

paid: list[int] = []
lock = threading.Lock()
release = threading.Event()


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    paid.clear()
    release.clear()
    yield
    release.set()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'journal.db'}")


@pytest.fixture
def runner(journal: Journal) -> Iterator[Runner]:
    r = Runner(journal)
    yield r
    release.set()
    r.close()


def _records(journal: Journal, run_id: str, kind: str) -> list[dict[str, Any]]:
    return [r.payload for r in journal.records(run_id) if r.kind == kind]


def _resolution(journal: Journal, run_id: str) -> Record | None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [r for r in journal.records(run_id) if r.kind == RESOLVED]
        if found:
            return found[0]
        time.sleep(0.01)
    return None


@tool(timeout_s=5)
async def lookup_async(order_id: int) -> dict[str, Any]:
    """Look up an order, reporting the thread it ran on."""
    await asyncio.sleep(0)
    return {"order_id": order_id, "thread": threading.get_ident()}


@tool(side_effect="write", timeout_s=0.05, targets=("order_id",))
async def pay_async(order_id: int) -> dict[str, int]:
    """Pay an order; waits on the payment service past its timeout."""
    await asyncio.sleep(10)
    paid.append(order_id)
    return {"paid": order_id}


@tool(side_effect="write", timeout_s=0.05, targets=("order_id",))
def pay_just_late(order_id: int) -> dict[str, int]:
    """Pay an order; the payment goes through a little after the timeout."""
    time.sleep(0.1)
    with lock:
        paid.append(order_id)
    return {"paid": order_id}


@tool(side_effect="write", timeout_s=0.05, targets=("order_id",))
def pay_hanging(order_id: int) -> dict[str, int]:
    """Pay an order; hangs until the test lets it go."""
    release.wait(10)
    with lock:
        paid.append(order_id)
    return {"paid": order_id}


def test_an_async_tool_runs_on_the_runs_own_thread(runner: Runner) -> None:
    reasoner = ScriptedReasoner([call("lookup_async", order_id=1), respond("x")])

    runner.run(make_agent([lookup_async], reasoner), "g")

    observation = reasoner.contexts[1].turns[0].observation
    assert observation.status == "ok"
    assert observation.content["thread"] == threading.get_ident()
    assert runner.tool_pool._started == 0  # pyright: ignore[reportPrivateUsage]


def test_an_async_write_cancelled_at_its_deadline_stays_in_doubt(
    runner: Runner, journal: Journal
) -> None:
    script = [call("pay_async", order_id=1), call("pay_async", order_id=1), respond("x")]

    run = runner.run(make_agent([pay_async], ScriptedReasoner(script)), "g")

    first, second = _records(journal, run.run_id, "step.decided")
    (effect,) = _records(journal, run.run_id, "step.effect")
    assert effect["status"] == "timeout" and effect["in_doubt"] is True
    assert first["verdict"] == "allow"
    assert second["verdict"] == "deny" and IN_DOUBT_RULE in second["rules"]
    assert paid == []  # cancelled: nothing of it ran after the deadline
    assert _records(journal, run.run_id, RESOLVED) == []  # unknown: for an operator


def test_a_write_done_just_after_its_deadline_is_late_never_a_success(
    runner: Runner, journal: Journal
) -> None:
    script = [call("pay_just_late", order_id=2), respond("x")]
    reasoner = ScriptedReasoner(script)

    run = runner.run(make_agent([pay_just_late], reasoner), "g")

    assert reasoner.contexts[1].turns[0].observation.status == "timeout"
    (effect,) = _records(journal, run.run_id, "step.effect")
    assert effect["status"] == "timeout" and effect["in_doubt"] is True
    resolved = _resolution(journal, run.run_id)
    assert resolved is not None
    assert resolved.payload["outcome"] == "happened"
    assert resolved.payload["result"] == {"paid": 2}
    assert [e["status"] for e in _records(journal, run.run_id, "step.effect")] == ["timeout"]


def test_many_runs_timing_out_at_once_each_get_their_timeout(journal: Journal) -> None:
    runner = Runner(journal, tool_workers=2)
    runs: list[str] = []

    def one(order_id: int) -> None:
        script = [call("pay_hanging", order_id=order_id), respond("x")]
        done = runner.run(make_agent([pay_hanging], ScriptedReasoner(script)), "g")
        with lock:
            runs.append(done.run_id)

    drivers = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for driver in drivers:
        driver.start()
    for driver in drivers:
        driver.join(30)
    release.set()

    assert len(runs) == 8
    resolutions: list[str] = []
    for run_id in runs:
        (effect,) = _records(journal, run_id, "step.effect")
        assert effect["status"] == "timeout" and effect["in_doubt"] is True
        resolved = _resolution(journal, run_id)
        assert resolved is not None
        resolutions.append(str(resolved.payload["outcome"]))
    # Each payment ran at most once; one that ran is the one its late result says happened
    # (a call still queued at its deadline never ran and did not happen).
    assert sorted(paid) == sorted(set(paid))
    assert resolutions.count("happened") == len(paid)
    runner.close()
    assert journal.verify().ok


def test_a_process_that_dies_right_after_a_timeout_leaves_the_write_in_doubt(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    driver = Path(__file__).parent / "_timeout_driver.py"

    done = subprocess.run(
        [sys.executable, str(driver), url], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[0]
    journal = Journal(url)
    (effect,) = _records(journal, run_id, "step.effect")
    assert effect["status"] == "timeout" and effect["in_doubt"] is True
    assert _records(journal, run_id, RESOLVED) == []
    assert _records(journal, run_id, "run.finished") == []
    assert journal.verify().ok

    from runtime._timeout_driver import SCRIPT, agent

    runner = Runner(journal)
    recovered = runner.recover(agent(ScriptedReasoner(SCRIPT)), run_id)
    runner.close()

    assert recovered.status == "completed"
    decided = _records(journal, run_id, "step.decided")
    assert decided[-1]["verdict"] == "deny" and IN_DOUBT_RULE in decided[-1]["rules"]
    assert len(_records(journal, run_id, "step.effect")) == 1  # never paid a second time


first_read = threading.Event()


@tool(timeout_s=0.05)
def lookup_hanging(order_id: int) -> dict[str, int]:
    """Look up an order; the first call hangs until the test lets it go."""
    if not first_read.is_set():
        first_read.set()
        release.wait(20)
    return {"order_id": order_id}


def test_a_read_stuck_past_its_deadline_leaves_its_run_to_recovery(journal: Journal) -> None:
    from charter.errors import LeaseLostError, RunOwnedError

    first_read.clear()
    script = [call("lookup_hanging", order_id=1), respond("x")]
    stuck = Runner(journal, lease_ttl=0.5)
    errors: list[BaseException] = []

    def drive() -> None:
        try:
            stuck.run(make_agent([lookup_hanging], ScriptedReasoner(script)), "g", run_id="r-1")
        except BaseException as exc:
            errors.append(exc)

    driver = threading.Thread(target=drive)
    driver.start()
    assert first_read.wait(5)
    other = Runner(journal, owner="other", lease_ttl=0.5)
    deadline = time.monotonic() + 15
    while True:  # the stuck run's lease is no longer renewed: it lapses
        try:
            recovered = other.recover(make_agent([lookup_hanging], ScriptedReasoner(script)), "r-1")
            break
        except RunOwnedError:
            assert time.monotonic() < deadline, "the stuck run's lease never lapsed"
            time.sleep(0.05)
    release.set()
    driver.join(10)

    assert recovered.status == "completed"
    assert len(errors) == 1 and isinstance(errors[0], LeaseLostError)  # fenced out
    effects = _records(journal, "r-1", "step.effect")
    assert [e["status"] for e in effects] == ["ok"]  # the stuck thread journaled nothing
    assert journal.verify().ok
    stuck.close()
    other.close()


@tool(timeout_s=0.05)
def lookup_slow(order_id: int) -> dict[str, int]:
    """Look up an order; answers a little after its timeout."""
    time.sleep(0.15)
    return {"order_id": order_id}


@tool
def leases_kept() -> list[str]:
    """The runs whose leases this process renews in the background."""
    from charter.journal import _lease

    return sorted(lease.run_id for lease in _lease._keeper._held)  # pyright: ignore[reportPrivateUsage]


def test_a_read_back_after_its_deadline_has_its_runs_lease_renewed_again(
    journal: Journal,
) -> None:
    script = [call("lookup_slow", order_id=1), call("leases_kept"), respond("x")]
    reasoner = ScriptedReasoner(script)
    runner = Runner(journal)

    run = runner.run(make_agent([lookup_slow, leases_kept], reasoner), "g", run_id="r-2")
    runner.close()

    assert run.status == "completed"
    assert reasoner.contexts[1].turns[0].observation.status == "timeout"
    assert reasoner.contexts[2].turns[1].observation.content == ["r-2"]
