"""Crash recovery: a run killed with SIGKILL mid-call is continued from the journal, and
no write happens twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from charter import Journal, Runner
from charter.agent import Agent
from charter.errors import RunStateError
from charter.testing import ScriptedReasoner, call, make_agent, respond

TOOLS_MODULE = '''
import json
import os
import time
from pathlib import Path

from charter import tool

LEDGER = Path(os.environ["LEDGER"])


def _ledger() -> dict:
    return json.loads(LEDGER.read_text()) if LEDGER.exists() else {"payments": [], "keys": {}}


def _hang_once(name: str) -> None:
    flag = LEDGER.with_suffix(f".{name}.hung")
    if not flag.exists():  # the first call hangs after its effect, until it is killed
        flag.write_text("1")
        time.sleep(60)


@tool(side_effect="write")
def pay(order_id: int) -> dict:
    """Pay an order (cannot recognise a retry)."""
    data = _ledger()
    data["payments"].append(order_id)
    LEDGER.write_text(json.dumps(data))
    _hang_once("pay")
    return {"paid": order_id}


@tool(side_effect="write")
def pay_once(order_id: int, idempotency_key: str | None = None) -> dict:
    """Pay an order at most once per idempotency key."""
    data = _ledger()
    if idempotency_key in data["keys"]:
        return data["keys"][idempotency_key]
    data["payments"].append(order_id)
    result = {"paid": order_id}
    data["keys"][idempotency_key] = result
    LEDGER.write_text(json.dumps(data))
    _hang_once("pay_once")
    return result
'''

CHILD = """
import sys
from charter import Journal, Runner
from charter.testing import ScriptedReasoner, call, make_agent, respond
import crash_tools

tool_name, url = sys.argv[1], sys.argv[2]
tool = getattr(crash_tools, tool_name)
agent = make_agent([tool], ScriptedReasoner([call(tool_name, order_id=7), respond("paid")]))
Runner(Journal(url)).run(agent, "pay order 7")
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "crash_tools.py").write_text(TOOLS_MODULE)
    (tmp_path / "child.py").write_text(CHILD)
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
    monkeypatch.setenv("LEDGER", str(tmp_path / "ledger.json"))
    return tmp_path


def _kill_mid_call(env: Path, tool_name: str) -> tuple[Journal, str]:
    url = f"sqlite:///{env / 'journal.db'}"
    child = subprocess.Popen(
        [sys.executable, str(env / "child.py"), tool_name, url],
        cwd=env,
        env=os.environ | {"PYTHONPATH": str(env)},
    )
    flag = env / f"ledger.{tool_name}.hung"
    deadline = time.monotonic() + 60
    while not flag.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert flag.exists(), "the child never reached the call"
    child.send_signal(signal.SIGKILL)
    child.wait()
    journal = Journal(url)
    (started,) = journal.records_of_kind("run.started")
    return journal, started.run_id


def _agent(tool_name: str) -> Agent:
    import crash_tools  # type: ignore[import-not-found]

    found = getattr(crash_tools, tool_name)
    return make_agent([found], ScriptedReasoner([call(tool_name, order_id=7), respond("paid")]))


def _payments(env: Path) -> list[int]:
    import json

    return list(json.loads((env / "ledger.json").read_text())["payments"])


def test_a_keyed_write_killed_mid_call_is_retried_under_its_key(env: Path) -> None:
    journal, run_id = _kill_mid_call(env, "pay_once")
    assert "run.finished" not in [r.kind for r in journal.records(run_id)]

    run = Runner(journal).recover(_agent("pay_once"), run_id, actor="worker-2")

    assert (run.status, run.answer) == ("completed", "paid")
    assert _payments(env) == [7]  # once, although the call ran twice
    effect = next(r.payload for r in journal.records(run_id) if r.kind == "step.effect")
    assert effect["recovered"] is True and effect["idempotency_key"] == f"{run_id}:1:1"
    assert journal.verify().ok


def test_an_unkeyed_write_killed_mid_call_is_left_in_doubt(env: Path) -> None:
    journal, run_id = _kill_mid_call(env, "pay")

    run = Runner(journal).recover(_agent("pay"), run_id, actor="worker-2")

    assert run.status == "stopped" and run.error is not None and "in doubt" in run.error
    assert _payments(env) == [7]  # never run a second time
    kinds = [r.kind for r in journal.records(run_id)]
    assert "run.recovered" in kinds and kinds[-1] == "run.finished"
    (queued,) = journal.records_of_kind("notify.queued")
    assert "roll back or fork" in queued.payload["message"]
    with pytest.raises(RunStateError, match="nothing to recover"):
        Runner(journal).recover(_agent("pay"), run_id)


def test_a_run_interrupted_between_steps_continues_where_it_was(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    from charter import tool

    done: list[int] = []

    @tool(side_effect="write")
    def tag(order_id: int) -> int:
        """Tag."""
        done.append(order_id)
        return order_id

    script = [call("tag", order_id=1), call("tag", order_id=2), respond("tagged")]
    agent = make_agent([tag], ScriptedReasoner(script))
    run = Runner(journal).run(agent, "tag two")
    # Cut the journal back to just after step 1, as if the process died there.
    records = list(journal.records(run.run_id))
    first_observed = next(r for r in records if r.kind == "step.observed")
    copy = Journal(f"sqlite:///{tmp_path / 'copy.db'}")
    copy.append([(r.run_id, r.kind, r.payload) for r in records if r.seq <= first_observed.seq])
    done.clear()

    recovered = Runner(copy).recover(agent, run.run_id)

    assert (recovered.status, done) == ("completed", [2])
