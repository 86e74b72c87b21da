"""Runs on an asyncio loop (``Runner.arun``): all in flight at once on one thread, each
under its own lease, fenced like any run, and a cancelled one journaled as failed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from charter import Journal, Runner, tool
from charter.agent import Agent
from charter.errors import LeaseLostError, RunStateError
from charter.journal._lease import lease_of
from charter.runtime import Run
from charter.testing import ScriptedReasoner, call, make_agent, respond
from databases import fresh_url


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journal]:
    url = "sqlite://" if request.param == "memory" else fresh_url(request.param, tmp_path)
    found = Journal(url)
    yield found
    found.close()


def _tagger(calls: list[tuple[str, int]], number: int) -> Agent:
    @tool(side_effect="write")
    def tag(order_id: int) -> int:
        """Tag an order."""
        calls.append((f"tag {number}", order_id))
        return order_id

    script = [call("tag", order_id=number), call("tag", order_id=-number), respond("tagged")]
    return make_agent([tag], ScriptedReasoner(script), name="tagger")


def _kinds(journal: Journal, run_id: str) -> list[str]:
    return [r.kind for r in journal.records(run_id)]


def test_runs_gathered_on_one_loop_are_all_in_flight_at_once(journal: Journal) -> None:
    runner = Runner(journal)
    calls: list[tuple[str, int]] = []

    async def all_at_once() -> list[Run]:
        runs = (runner.arun(_tagger(calls, n), f"tag {n}") for n in range(1, 51))
        return await asyncio.gather(*runs)

    runs = asyncio.run(all_at_once())
    runner.close()

    assert {run.status for run in runs} == {"completed"}
    # every run made its first call before any made its second: interleaved, not in turn
    assert sorted(calls[:50]) == [(f"tag {n}", n) for n in sorted(range(1, 51), key=str)]
    assert sorted(order for _, order in calls[50:]) == list(range(-50, 0))
    for run in runs:
        row, _ = lease_of(journal.engine, run.run_id)
        assert row is not None and row.expires_ms == 0  # released when it finished
        assert _kinds(journal, run.run_id).count("step.effect") == 2
    assert journal.verify().ok


def test_a_run_taken_over_between_steps_is_fenced_out(journal: Journal) -> None:
    calls: list[tuple[str, int]] = []
    agent = _tagger(calls, 7)

    async def taken_over() -> None:
        owner = asyncio.ensure_future(Runner(journal).arun(agent, "tag 7", run_id="held"))
        while not calls:  # the run's first call is made; it yields before its next step
            await asyncio.sleep(0)
        with journal.engine.begin() as conn:  # its lease ends (its renewals stalled)...
            conn.execute(text("UPDATE run_leases SET expires_ms = 1 WHERE run_id = 'held'"))
        Runner(journal).claim_run("held", "ops")  # ...and another process claims it
        await owner

    with pytest.raises(LeaseLostError):
        asyncio.run(taken_over())

    assert calls == [("tag 7", 7)]  # the second write never happened
    kinds = _kinds(journal, "held")
    assert kinds.count("step.effect") == 1 and "run.finished" not in kinds
    row, _ = lease_of(journal.engine, "held")
    assert row is not None and row.epoch == 2 and row.owner == "charter"
    assert journal.verify().ok


def test_a_cancelled_run_is_journaled_failed_and_releases_its_lease(journal: Journal) -> None:
    runner = Runner(journal)
    calls: list[tuple[str, int]] = []

    async def cancel_one() -> Run:
        doomed = asyncio.ensure_future(runner.arun(_tagger(calls, 1), "tag 1", run_id="doomed"))
        other = asyncio.ensure_future(runner.arun(_tagger(calls, 2), "tag 2"))
        while not calls:
            await asyncio.sleep(0)
        doomed.cancel()
        with pytest.raises(asyncio.CancelledError):
            await doomed
        return await other

    other = asyncio.run(cancel_one())
    runner.close()

    assert other.status == "completed"  # the loop's other run went on
    assert [order for name, order in calls if name == "tag 1"] == [1]
    finished = list(journal.records("doomed"))[-1]
    assert finished.kind == "run.finished" and finished.payload["status"] == "failed"
    assert "CancelledError" in str(finished.payload["error"])
    row, _ = lease_of(journal.engine, "doomed")
    assert row is not None and row.expires_ms == 0
    with pytest.raises(RunStateError):  # failed is final: nothing to recover
        runner.recover(_tagger(calls, 1), "doomed")
    assert journal.verify().ok


def test_a_run_id_already_started_is_refused_on_the_loop_too(journal: Journal) -> None:
    runner = Runner(journal)
    calls: list[tuple[str, int]] = []
    runner.run(_tagger(calls, 3), "tag 3", run_id="once")

    with pytest.raises(RunStateError, match="already started"):
        asyncio.run(runner.arun(_tagger(calls, 3), "tag 3", run_id="once"))

    runner.close()
    assert _kinds(journal, "once").count("run.started") == 1 and len(calls) == 2
