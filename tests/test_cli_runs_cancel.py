"""``charter runs cancel``: a waiting run ends at once and its request leaves the inbox; a
run a live process drives, cancelled from another process, stops before its next step;
bad input (no reason, no such run, a finished run) is refused and journals nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from tests.test_cli_approvals import AGENT, TOOLS_MODULE
from typer.testing import CliRunner

from charter import Journal, Runner, tool
from charter.cli import app
from charter.testing import ScriptedReasoner, call, make_agent, respond

cli = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cli_approval_tools.py").write_text(TOOLS_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHARTER_DATABASE_URL", f"sqlite:///{tmp_path / 'journal.db'}")
    (tmp_path / "agent.yaml").write_text(AGENT)
    return tmp_path


def _journal(env: Path) -> Journal:
    return Journal(f"sqlite:///{env / 'journal.db'}")


def _waiting_run(env: Path) -> tuple[str, str]:
    result = cli.invoke(app, ["run", str(env / "agent.yaml"), "refund 7 for 9000", "--as", "sam"])
    assert result.exit_code == 3, result.output
    request = re.search(r"approval (apr-[0-9a-f]+) requested", result.output)
    assert request is not None, result.output
    run_id = _journal(env).records_of_kind("run.started")[-1].run_id
    return run_id, request.group(1)


def test_a_waiting_run_cancelled_ends_and_its_request_can_no_longer_approve_it(env: Path) -> None:
    run_id, request_id = _waiting_run(env)

    cancelled = cli.invoke(
        app, ["runs", "cancel", run_id[:12], "--reason", "duplicate order", "--as", "sam"]
    )
    approved = cli.invoke(app, ["approvals", "approve", request_id, "--as", "dana"])

    assert cancelled.exit_code == 0, cancelled.output
    assert "was waiting for an approval and has ended" in cancelled.output
    assert approved.exit_code != 0
    kinds = [r.kind for r in _journal(env).records(run_id)]
    assert "run.cancelled" in kinds and "step.effect" not in kinds  # never refunded
    finished = [r.payload for r in _journal(env).records(run_id) if r.kind == "run.finished"]
    assert [(f["status"], f["error"]) for f in finished] == [
        ("stopped", "cancelled by sam: duplicate order")
    ]
    assert request_id not in cli.invoke(app, ["approvals", "list"]).output
    assert _journal(env).verify().ok


def test_cancelling_a_finished_run_is_refused(env: Path) -> None:
    run_id, _ = _waiting_run(env)
    assert cli.invoke(app, ["runs", "cancel", run_id, "--reason", "first"]).exit_code == 0

    again = cli.invoke(app, ["runs", "cancel", run_id, "--reason", "second"])

    assert again.exit_code == 2
    assert "already finished; nothing to cancel" in again.output
    assert len(_journal(env).records_of_kind("control.cancel")) == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--reason", "   "], "needs a reason"),
        ([], "--reason"),
    ],
)
def test_a_cancel_without_a_reason_is_refused_and_journals_nothing(
    env: Path, args: list[str], says: str
) -> None:
    run_id, _ = _waiting_run(env)
    before = len(list(_journal(env).records(run_id)))

    result = cli.invoke(app, ["runs", "cancel", run_id, *args])

    assert result.exit_code == 2
    assert says in result.output
    assert len(list(_journal(env).records(run_id))) == before
    assert not _journal(env).records_of_kind("control.cancel")


def test_cancelling_an_unknown_run_is_refused(env: Path) -> None:
    _waiting_run(env)

    result = cli.invoke(app, ["runs", "cancel", "r-no-such-run", "--reason", "x"])

    assert result.exit_code == 2
    assert "r-no-such-run" in result.output


entered = threading.Event()
let_go = threading.Event()
looked_up: list[int] = []


@tool
def look_up(order_id: int) -> dict[str, int]:
    """Look up an order; the first lookup waits for the test."""
    looked_up.append(order_id)
    if len(looked_up) == 1:
        entered.set()
        let_go.wait(30)
    return {"order_id": order_id}


def test_a_run_driven_by_a_live_process_stops_before_its_next_step(env: Path) -> None:
    entered.clear()
    let_go.clear()
    looked_up.clear()
    journal = _journal(env)
    runner = Runner(journal)
    script = [call("look_up", order_id=1), call("look_up", order_id=2), respond("done")]
    agent = make_agent([look_up], ScriptedReasoner(script))
    runs: list[object] = []
    driver = threading.Thread(target=lambda: runs.append(runner.run(agent, "g", run_id="r-live")))
    driver.start()
    try:
        assert entered.wait(10)
        other = subprocess.run(  # another process, as an operator's shell would be
            [sys.executable, "-m", "charter", "runs", "cancel", "r-live", "--reason", "stop it"],
            capture_output=True,
            text=True,
            timeout=120,
            env=os.environ.copy(),
        )
    finally:
        let_go.set()
        driver.join(30)
        runner.close()

    assert other.returncode == 0, other.stdout + other.stderr
    assert "stops before its next step" in other.stdout
    assert looked_up == [1]  # the second lookup never ran
    finished = [r.payload for r in journal.records("r-live") if r.kind == "run.finished"]
    assert [f["status"] for f in finished] == ["stopped"]
    assert journal.verify().ok
