"""Every run has one owner: racing recoveries, live owners, stalled owners, slow steps and
orphaned runs, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter import Journal, Runner, tool
from charter.agent import Agent
from charter.errors import RunOwnedError, RunStateError
from charter.journal._lease import lease_of
from charter.reasoners._base import Proposal, RunContext
from charter.testing import ScriptedReasoner, call, make_agent, respond
from databases import fresh_url
from runtime._orphans import World, make_world, wait_for


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    made = make_world(tmp_path, fresh_url(request.param, tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
    monkeypatch.setenv("LEDGER", str(made.ledger))
    monkeypatch.delitem(sys.modules, "lease_tools", raising=False)  # it reads LEDGER once
    return made


@pytest.fixture
def journal(world: World) -> Iterator[Journal]:
    found = Journal(world.url)
    yield found
    found.close()


def _payer(reasoner: Any | None = None) -> Agent:
    lease_tools = importlib.import_module("lease_tools")  # written by the world fixture

    script = [call("pay_once", order_id=7), respond("paid")]
    return make_agent([lease_tools.pay_once], reasoner or ScriptedReasoner(script), name="payer")


def _kinds(journal: Journal, run_id: str) -> list[str]:
    return [r.kind for r in journal.records(run_id)]


class _Gate:
    """A tool call (or a model step) that holds until the test lets it go."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.go = threading.Event()

    def hold(self) -> None:
        self.entered.set()
        assert self.go.wait(30), "the test never let the step go"


def _slow_agent(gate: _Gate) -> Agent:
    done: list[int] = []

    @tool(side_effect="write", timeout_s=None)
    def tag(order_id: int) -> int:
        """Tag an order (slowly)."""
        if not done:
            gate.hold()
        done.append(order_id)
        return order_id

    script = [call("tag", order_id=1), call("tag", order_id=2), respond("tagged")]
    return make_agent([tag], ScriptedReasoner(script), name="tagger")


def _drive_in_thread(
    runner: Runner, agent: Agent, run_id: str
) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def go() -> None:
        try:
            outcome.append(runner.run(agent, "tag two", run_id=run_id))
        except BaseException as exc:  # the test asserts on it
            outcome.append(exc)

    thread = threading.Thread(target=go)
    thread.start()
    return thread, outcome


def test_recovering_a_live_run_is_refused_and_a_slow_tool_keeps_the_lease(
    journal: Journal,
) -> None:
    gate = _Gate()
    agent = _slow_agent(gate)
    owner = Runner(journal, owner="server", lease_ttl=0.4)
    thread, outcome = _drive_in_thread(owner, agent, "live-run")
    assert gate.entered.wait(30)

    for _ in range(3):  # well past the lease's time to live: the renewal keeps it
        time.sleep(0.4)
        with pytest.raises(RunOwnedError, match=r"run live-run is owned by server \(pid"):
            Runner(journal, lease_ttl=0.4).recover(agent, "live-run", actor="ops")
    gate.go.set()
    thread.join(30)

    (run,) = outcome
    assert run.status == "completed", run
    kinds = _kinds(journal, "live-run")
    assert kinds.count("run.finished") == 1 and "run.recovered" not in kinds
    with pytest.raises(RunStateError, match="nothing to recover"):
        Runner(journal).recover(agent, "live-run")
    row, _ = lease_of(journal.engine, "live-run")
    assert row is not None and row.expires_ms == 0  # released with run.finished


class _SlowModel(ScriptedReasoner):
    def __init__(self, gate: _Gate, script: list[Any]) -> None:
        super().__init__(script)
        self.gate = gate

    def propose(self, context: RunContext) -> Proposal:
        if not context.turns:
            self.gate.hold()
        return super().propose(context)


def test_a_slow_model_step_keeps_the_lease(journal: Journal, world: World) -> None:
    gate = _Gate()
    agent = _payer(_SlowModel(gate, [call("pay_once", order_id=7), respond("paid")]))
    runner = Runner(journal, lease_ttl=0.3)
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(runner.run(agent, "pay", run_id="m1")))
    thread.start()
    assert gate.entered.wait(30)
    time.sleep(1.0)  # over three times the time to live

    with pytest.raises(RunOwnedError):
        Runner(journal, lease_ttl=0.3).recover(_payer(), "m1")
    gate.go.set()
    thread.join(30)

    assert outcome[0].status == "completed" and world.payments() == [7]


def test_cancelling_a_live_run_stops_it_at_its_next_step(journal: Journal) -> None:
    gate = _Gate()
    agent = _slow_agent(gate)
    thread, outcome = _drive_in_thread(Runner(journal), agent, "busy")
    assert gate.entered.wait(30)

    state = Runner(journal).cancel("busy", actor="ops", reason="wrong order")

    assert state == "running" and "run.finished" not in _kinds(journal, "busy")
    gate.go.set()
    thread.join(30)
    (run,) = outcome
    assert run.status == "stopped" and "wrong order" in str(run.error)
    assert _kinds(journal, "busy").count("step.effect") == 1  # the second call never ran
    assert _kinds(journal, "busy")[-2:] == ["run.cancelled", "run.finished"]


def test_a_run_id_that_started_is_not_started_again(journal: Journal, world: World) -> None:
    Runner(journal).run(_payer(), "pay 7", run_id="once")

    with pytest.raises(RunStateError, match="already started"):
        Runner(journal).run(_payer(), "pay 7", run_id="once")

    assert _kinds(journal, "once").count("run.started") == 1 and world.payments() == [7]


def test_a_fork_owns_its_new_run_until_it_ends(journal: Journal, world: World) -> None:
    run = Runner(journal).run(_payer(), "pay 7")

    fork = Runner(journal).fork(_payer(), run.run_id, 2)  # keeps the payment, redoes nothing

    row, _ = lease_of(journal.engine, fork.run_id)
    assert fork.status == "completed" and row is not None and row.expires_ms == 0


def test_two_recoveries_racing_after_a_kill_pay_once(world: World) -> None:
    run_id = world.orphan()

    racers = [world.charter("runs", "recover", run_id, PAY_SECONDS="2") for _ in range(2)]
    ends = [(racer.wait(120), *racer.communicate()) for racer in racers]

    assert sorted(code for code, _, _ in ends) == [0, 2], ends
    (loser,) = [err for code, _, err in ends if code == 2]
    assert len(loser.strip().splitlines()) == 1, loser
    assert "is owned by charter (pid" in loser or "nothing to recover" in loser, loser
    assert world.payments() == [7]
    assert len(world.calls()) == 2  # the killed call, and one retry under its key
    journal = Journal(world.url)
    kinds = _kinds(journal, run_id)
    journal.close()
    assert kinds.count("run.recovered") == 1 and kinds.count("run.finished") == 1
    assert kinds[-1] == "run.finished"
    verify = world.charter("audit", "verify")
    out, err = verify.communicate(timeout=60)
    assert verify.returncode == 0, out + err


STALLING_CHILD = """
import importlib
import os
import sys
import time
from pathlib import Path

from charter import Journal, Runner
from charter.testing import ScriptedReasoner, call, make_agent, respond
import lease_tools


class Stalling(ScriptedReasoner):
    def propose(self, context):
        flag = Path(os.environ["LEDGER"]).with_suffix(".stalling")
        if not flag.exists():  # the first proposal takes a while: the test stops us here
            flag.write_text("1")
            time.sleep(1.5)
        return super().propose(context)


agent = make_agent(
    [lease_tools.pay_once],
    Stalling([call("pay_once", order_id=7), respond("paid")]),
    name="payer",
)
Runner(Journal(sys.argv[1]), lease_ttl=0.5).run(agent, "pay 7", run_id="stalled")
"""


def test_a_stalled_owner_is_fenced_out_after_a_takeover(journal: Journal, world: World) -> None:
    (world.root / "child.py").write_text(STALLING_CHILD)
    child = subprocess.Popen(
        [sys.executable, str(world.root / "child.py"), world.url],
        env=world.env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    stalling = world.ledger.with_suffix(".stalling")
    try:
        assert wait_for(lambda: stalling.exists() or child.poll() is not None, 60)
        child.send_signal(signal.SIGSTOP)  # stalled, its lease renewal too, about to pay
        with pytest.raises(RunOwnedError):  # alive, and its lease has not ended yet
            Runner(journal, lease_ttl=0.5).recover(_payer(), "stalled")
        assert wait_for(lambda: _lease_ended(journal, "stalled"), 30)

        run = Runner(journal, lease_ttl=0.5).recover(_payer(), "stalled", actor="ops")
    finally:
        child.send_signal(signal.SIGCONT)
    _, err = child.communicate(timeout=60)

    assert run.status == "completed"
    assert child.returncode != 0 and "LeaseLostError" in err and "lost its lease" in err, err
    assert world.payments() == [7] and len(world.calls()) == 1  # the stale owner never paid
    kinds = _kinds(journal, "stalled")
    assert kinds.count("step.decided") == 1 and kinds[-1] == "run.finished"
    assert journal.verify().ok


def _lease_ended(journal: Journal, run_id: str) -> bool:
    row, now = lease_of(journal.engine, run_id)
    return row is not None and row.expires_ms <= now


def test_cancelling_an_orphaned_run_finishes_it(journal: Journal, world: World) -> None:
    run_id = world.orphan()

    state = Runner(journal).cancel(run_id, actor="ops", reason="owner crashed")

    assert state == "running"
    records = list(journal.records(run_id))
    assert [r.kind for r in records][-2:] == ["run.cancelled", "run.finished"]
    assert records[-1].payload["status"] == "stopped"
    assert "owner crashed" in str(records[-1].payload["error"])
    with pytest.raises(RunStateError, match="nothing to recover"):
        Runner(journal).recover(_payer(), run_id)
    assert world.payments() == [7] and len(world.calls()) == 1
    assert journal.verify().ok


@pytest.mark.skipif(sys.platform == "win32", reason="signals")
def test_a_recovery_of_a_killed_owner_on_this_host_needs_no_wait(
    journal: Journal, world: World
) -> None:
    run_id = world.orphan()
    row, now = lease_of(journal.engine, run_id)
    assert row is not None and row.expires_ms > now + 10_000  # far from its expiry

    run = Runner(journal).recover(_payer(), run_id)

    assert run.status == "completed" and world.payments() == [7]
    assert os.getpid() != row.pid


def test_threads_sharing_an_in_memory_journal_each_own_their_run() -> None:
    journal = Journal("sqlite://")  # one connection for every thread
    runner = Runner(journal, lease_ttl=0.05)  # renewals run often beside the appends
    done: list[int] = []

    @tool(side_effect="write")
    def tag(order_id: int) -> int:
        """Tag an order."""
        time.sleep(0.01)
        done.append(order_id)
        return order_id

    def go(number: int) -> None:
        script = [call("tag", order_id=number), call("tag", order_id=-number), respond("ok")]
        runner.run(make_agent([tag], ScriptedReasoner(script)), f"tag {number}")

    threads = [threading.Thread(target=go, args=(n,)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    finished = journal.records_of_kind("run.finished")
    assert len(finished) == 8 and {r.payload["status"] for r in finished} == {"completed"}
    assert sorted(done) == sorted([*range(1, 9), *range(-8, 0)])
    assert journal.verify().ok
