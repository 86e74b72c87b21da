"""Forks over writes: forking a run before a write it made would make that write again
under new keys, so it is refused (naming the writes) unless asked for explicitly."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from charter import Journal, Runner, tool
from charter.agent import Agent
from charter.errors import RunStateError
from charter.reasoners import Action
from charter.testing import ScriptedReasoner, call, make_agent, respond

payments: list[int] = []
release = threading.Event()


@tool(side_effect="write")
def pay(order_id: int) -> dict[str, int]:
    """Pay an order."""
    payments.append(order_id)
    return {"paid": order_id}


@tool(side_effect="write", timeout_s=0.05)
def wire(account: str) -> dict[str, str]:
    """Wire money; hangs past its timeout until released."""
    release.wait(5)
    return {"wired": account}


@tool
def look(order_id: int) -> dict[str, int]:
    """Look an order up."""
    return {"order_id": order_id}


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    payments.clear()
    release.clear()
    yield
    release.set()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'journal.db'}")


def _agent(*script: Action) -> Agent:
    return make_agent([pay, wire, look], ScriptedReasoner(script))


def _paid_run(journal: Journal) -> str:
    agent = _agent(call("look", order_id=7), call("pay", order_id=7), respond("paid"))
    runner = Runner(journal)
    run = runner.run(agent, "pay order 7")
    runner.close()
    assert payments == [7]
    return run.run_id


def test_a_fork_before_a_completed_write_is_refused_naming_it(journal: Journal) -> None:
    run_id = _paid_run(journal)
    runner = Runner(journal)

    with pytest.raises(RunStateError, match="--reexecute-writes") as refused:
        runner.fork(_agent(call("pay", order_id=7), respond("paid")), run_id, 1)

    assert 'step 2 pay({"order_id":7}) ok' in str(refused.value)
    assert payments == [7]
    assert len(journal.records_of_kind("run.started")) == 1  # nothing started


def test_a_fork_with_reexecute_writes_redoes_them_and_says_so(journal: Journal) -> None:
    run_id = _paid_run(journal)
    runner = Runner(journal)

    agent = _agent(call("look", order_id=7), call("pay", order_id=7), respond("paid again"))
    fork = runner.fork(agent, run_id, 2, reexecute_writes=True)

    assert fork.status == "completed"
    assert payments == [7, 7]  # asked for explicitly
    started = next(journal.records(fork.run_id)).payload
    assert started["forked_from"]["reexecute_writes"] == ['step 2 pay({"order_id":7}) ok']


def test_a_fork_after_the_writes_needs_no_flag(journal: Journal) -> None:
    run_id = _paid_run(journal)
    runner = Runner(journal)

    agent = _agent(call("look", order_id=7), call("pay", order_id=7), respond("done"))
    fork = runner.fork(agent, run_id, 3)

    assert fork.status == "completed" and payments == [7]
    assert "reexecute_writes" not in next(journal.records(fork.run_id)).payload["forked_from"]


def test_a_write_in_doubt_counts_as_made(journal: Journal) -> None:
    runner = Runner(journal)
    run = runner.run(_agent(call("wire", account="A-1"), respond("sent")), "wire")

    with pytest.raises(RunStateError, match=r'step 1 wire\(\{"account":"A-1"\}\) in doubt'):
        runner.fork(_agent(respond("x")), run.run_id, 1)
    runner.close()


def test_a_fork_keeps_a_doubt_of_its_parent_and_its_resolution(journal: Journal) -> None:
    from charter.runtime._ledger import resolve_in_doubt

    runner = Runner(journal)
    parent = runner.run(_agent(call("wire", account="A-1"), respond("sent")), "wire")
    retry = _agent(call("wire", account="A-1"), call("wire", account="A-1"), respond("x"))
    blocked = runner.fork(retry, parent.run_id, 2)
    resolve_in_doubt(journal, blocked.run_id, 1, "did_not_happen", actor="kim")
    retry = _agent(call("wire", account="A-1"), call("wire", account="A-1"), respond("x"))
    allowed = runner.fork(retry, parent.run_id, 2)
    runner.close()

    decided = [r.payload for r in journal.records(blocked.run_id) if r.kind == "step.decided"]
    assert decided[-1]["rules"] == ["effect.in_doubt"]
    decided = [r.payload for r in journal.records(allowed.run_id) if r.kind == "step.decided"]
    assert decided[-1]["verdict"] == "allow"
    resolved = [r for r in journal.records(parent.run_id) if r.kind == "effect.resolved"]
    assert [r.payload["actor"] for r in resolved] == ["kim"]  # journaled with the parent
