"""Several workers on one database: queued runs spread across them, and when one is killed
with SIGKILL the others take over its runs and finish them, every payment made once.

Runs on SQLite and, when ``CHARTER_TEST_POSTGRES_URL`` is set, on PostgreSQL (journal and
DBOS state in one database), as ``charter submit`` and ``charter worker`` processes.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from charter.journal import Journal
from databases import fresh_postgres_url

TOOLS = '''
import os
import sqlite3
import time

from charter import tool

LEDGER = os.environ["LEDGER"]


@tool(side_effect="write", timeout_s=None)
def pay_once(order_id: int, idempotency_key: str | None = None) -> dict:
    """Pay an order at most once per idempotency key; note which worker paid."""
    conn = sqlite3.connect(LEDGER, timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS payments (order_id INTEGER, key TEXT, pid INTEGER)"
        )
        if conn.execute("SELECT 1 FROM payments WHERE key = ?", (idempotency_key,)).fetchone():
            conn.execute("COMMIT")
            return {"paid": order_id, "again": True}
        row = (order_id, idempotency_key, os.getpid())
        conn.execute("INSERT INTO payments VALUES (?, ?, ?)", row)
        conn.execute("COMMIT")
    finally:
        conn.close()
    hang = f"{LEDGER}.hang-{order_id}"
    if os.path.exists(hang) and not os.path.exists(hang + ".done"):
        open(hang + ".done", "w").close()  # hang once, after the effect, until killed
        time.sleep(300)
    time.sleep(0.05)
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
  - ref: scale_tools:pay_once
charter:
  name: pay
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    (tmp_path / "scale_tools.py").write_text(TOOLS)
    (tmp_path / "agent.yaml").write_text(AGENT)
    values = os.environ | {
        "CHARTER_HOME": str(tmp_path / "home"),
        "LEDGER": str(tmp_path / "ledger.db"),
        # The caller's path too, so the workers run the charter under test.
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    values.pop("CHARTER_DATABASE_URL", None)
    if request.param == "postgresql":
        url = fresh_postgres_url()  # a clean journal; and a clean queue:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS dbos CASCADE"))
        engine.dispose()
        values["CHARTER_DATABASE_URL"] = url
    yield values


def _journal(env: dict[str, str]) -> Journal:
    url = env.get("CHARTER_DATABASE_URL") or f"sqlite:///{Path(env['CHARTER_HOME'])}/journal.db"
    return Journal(url)


def _submit(env: dict[str, str], *goals: str) -> list[str]:
    """Submit one run per goal, as ``charter submit`` does, from one process."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from charter.runtime._runner import new_run_id\n"
        "from charter.runtime._worker import submit\n"
        "for goal in sys.argv[2:]:\n"
        "    print(submit(Path(sys.argv[1]), goal, 'tester', new_run_id()))\n"
    )
    agent = str(Path(env["PYTHONPATH"].split(os.pathsep)[0]) / "agent.yaml")
    done = subprocess.run(
        [sys.executable, "-c", script, agent, *goals],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


def _worker(env: dict[str, str], worker_id: str) -> subprocess.Popen[bytes]:
    args = ["worker", "--id", worker_id, "--concurrency", "4"]
    args += ["--heartbeat", "0.3", "--dead-after", "3"]
    return subprocess.Popen(
        [sys.executable, "-m", "charter", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _finished(journal: Journal, run_ids: list[str]) -> dict[str, dict[str, object]]:
    ends = {r.run_id: r.payload for r in journal.records_of_kind("run.finished")}
    return {run_id: ends[run_id] for run_id in run_ids if run_id in ends}


def _payments(env: dict[str, str]) -> list[tuple[int, int]]:
    with sqlite3.connect(env["LEDGER"]) as conn:
        return conn.execute("SELECT order_id, pid FROM payments ORDER BY order_id").fetchall()


def _stop(*workers: subprocess.Popen[bytes]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def test_runs_spread_over_several_workers_and_each_pays_once(env: dict[str, str]) -> None:
    run_ids = _submit(env, *(f"pay {order}" for order in range(1, 25)))
    workers = [_worker(env, f"w{n}") for n in (1, 2, 3)]
    journal = _journal(env)
    try:
        done = _wait(lambda: len(_finished(journal, run_ids)) == len(run_ids), 120)
    finally:
        _stop(*workers)

    assert done, f"{len(_finished(journal, run_ids))} of {len(run_ids)} runs finished"
    assert {end["status"] for end in _finished(journal, run_ids).values()} == {"completed"}
    payments = _payments(env)
    assert [order for order, _pid in payments] == list(range(1, 25))
    assert len({pid for _order, pid in payments}) > 1, "one worker did every run"
    assert journal.verify().ok


def test_a_dead_workers_runs_are_taken_over_by_another(env: dict[str, str]) -> None:
    Path(f"{env['LEDGER']}.hang-7").touch()
    (stuck,) = _submit(env, "pay 7")
    first = _worker(env, "w1")
    try:
        assert _wait(lambda: Path(f"{env['LEDGER']}.hang-7.done").exists(), 90), "never started"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    later = _submit(env, "pay 8", "pay 9")
    second = _worker(env, "w2")  # a different id: only a takeover can finish run 7
    journal = _journal(env)
    try:
        done = _wait(lambda: len(_finished(journal, [stuck, *later])) == 3, 120)
    finally:
        _stop(second)

    assert done, "the live worker did not finish the dead worker's run"
    ends = _finished(journal, [stuck, *later])
    assert [ends[run]["status"] for run in (stuck, *later)] == ["completed"] * 3
    assert [order for order, _pid in _payments(env)] == [7, 8, 9]  # 7 paid once, not twice
    (takeover,) = journal.records_of_kind("worker.taken_over")
    assert (takeover.payload["worker"], takeover.payload["by"]) == ("w1", "w2")
    assert takeover.payload["runs"] == [stuck]
    kinds = [r.kind for r in journal.records(stuck)]
    assert "run.recovered" in kinds
    recovered = [r for r in journal.records(stuck) if r.kind == "step.effect"]
    assert recovered[-1].payload.get("recovered") is True  # retried under its key
    assert journal.verify().ok


def test_an_approved_run_is_resumed_by_a_worker(env: dict[str, str]) -> None:
    asking = AGENT.replace(
        "charter:\n  name: pay\n",
        "charter:\n  name: pay\n  rules:\n"
        "    - {id: pay-needs-ok, effect: ask, tools: [pay_once], reason: payments need an ok}\n",
    )
    agent_file = Path(env["PYTHONPATH"].split(os.pathsep)[0]) / "agent.yaml"
    agent_file.write_text(asking)
    (run_id,) = _submit(env, "pay 5")
    worker = _worker(env, "w1")
    journal = _journal(env)
    try:
        waiting = _wait(
            lambda: [r.kind for r in journal.records(run_id)][-1:] == ["run.waiting"], 90
        )
        assert waiting, "the run never waited for its approval"
        request_id = journal.records_of_kind("approval.requested")[0].payload["request_id"]
        approve = ["approvals", "approve", request_id, "--as", "dana", "--queue"]
        decided = subprocess.run(
            [sys.executable, "-m", "charter", *approve], env=env, capture_output=True, text=True
        )
        assert decided.returncode == 0, decided.stderr
        assert "queued the resume" in decided.stdout
        done = _wait(lambda: bool(_finished(journal, [run_id])), 90)
    finally:
        _stop(worker)

    assert done, "no worker resumed the approved run"
    assert _finished(journal, [run_id])[run_id]["status"] == "completed"
    assert [order for order, _pid in _payments(env)] == [5]
    resumed = next(r for r in journal.records(run_id) if r.kind == "run.resumed")
    assert resumed.payload["actor"] == "dana"
