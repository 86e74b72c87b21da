"""``charter runs resolve``: settling a write in doubt from the command line."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter import Journal, Runner, settings, tool
from charter.cli import app
from charter.testing import ScriptedReasoner, call, make_agent, respond

release = threading.Event()


@tool(side_effect="write", timeout_s=0.05)
def wire(account: str) -> dict[str, str]:
    """Wire money; hangs past its timeout until released."""
    release.wait(5)
    return {"wired": account}


@pytest.fixture
def in_doubt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The id of a run whose step 1 (a wire) timed out and is in doubt."""
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    release.clear()
    runner = Runner(Journal(settings.database_url()))
    agent = make_agent([wire], ScriptedReasoner([call("wire", account="A-1"), respond("done")]))
    run = runner.run(agent, "wire A-1")
    yield run.run_id
    release.set()
    runner.close()


def _resolutions(run_id: str) -> list[dict[str, object]]:
    journal = Journal(settings.database_url())
    return [r.payload for r in journal.records(run_id) if r.kind == "effect.resolved"]


def test_runs_resolve_journals_the_outcome_with_the_actor(in_doubt: str) -> None:
    command = ["runs", "resolve", in_doubt[:12], "1", "--did-not-happen"]
    result = CliRunner().invoke(app, [*command, "--as", "kim", "--note", "bank"])

    assert result.exit_code == 0, result.output
    assert "did not happen" in result.output
    (resolved,) = _resolutions(in_doubt)
    assert (resolved["outcome"], resolved["actor"], resolved["note"]) == (
        "did_not_happen",
        "kim",
        "bank",
    )
    shown = CliRunner().invoke(app, ["show", in_doubt])
    assert "in-doubt wire did not happen (resolved by kim)" in shown.output


def test_runs_resolve_needs_an_outcome(in_doubt: str) -> None:
    result = CliRunner().invoke(app, ["runs", "resolve", in_doubt, "1"])

    assert result.exit_code == 2
    assert "--happened or --did-not-happen" in result.output
    assert _resolutions(in_doubt) == []


def test_runs_resolve_refuses_a_step_not_in_doubt_and_a_second_resolution(in_doubt: str) -> None:
    cli = CliRunner()
    wrong_step = cli.invoke(app, ["runs", "resolve", in_doubt, "2", "--happened"])
    first = cli.invoke(app, ["runs", "resolve", in_doubt, "1", "--happened", "--as", "kim"])
    second = cli.invoke(app, ["runs", "resolve", in_doubt, "1", "--did-not-happen"])

    assert wrong_step.exit_code == 2 and "no step 2" in wrong_step.output
    assert first.exit_code == 0
    assert second.exit_code == 2 and "already resolved by kim" in second.output
    assert [r["outcome"] for r in _resolutions(in_doubt)] == ["happened"]


TOOLS_MODULE = '''
from charter import tool

@tool(side_effect="write", targets=("order_id",))
def pay(order_id: int) -> dict:
    """Pay an order."""
    return {"paid": order_id}
'''

AGENT = """
name: payer
reasoner:
  kind: rules
  match: 'pay (?P<order_id>\\d+)'
  steps:
    - id: pay
      call: pay
      args: {order_id: "{goal.order_id}"}
    - respond: "Paid order {goal.order_id}."
toolsets:
  - ref: cli_start_key_tools:pay
charter:
  name: payments
"""


@pytest.fixture
def agent_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cli_start_key_tools.py").write_text(TOOLS_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    path = tmp_path / "payer.agent.yaml"
    path.write_text(AGENT)
    return path


def test_charter_run_twice_with_one_key_runs_once(agent_file: Path) -> None:
    cli = CliRunner()
    command = ["run", str(agent_file), "pay 7", "--idempotency-key", "k-7", "--as", "sam"]
    first = cli.invoke(app, command)
    second = cli.invoke(app, command)
    other_goal = cli.invoke(app, ["run", str(agent_file), "pay 8", "--idempotency-key", "k-7"])
    other_goal_sam = cli.invoke(
        app, ["run", str(agent_file), "pay 8", "--idempotency-key", "k-7", "--as", "sam"]
    )

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "already started with this idempotency key; it is completed" in second.output
    assert other_goal.exit_code == 0  # another actor's key space
    assert other_goal_sam.exit_code == 2 and "another goal" in other_goal_sam.output
    journal = Journal(settings.database_url())
    assert len(journal.records_of_kind("run.started")) == 2
    paid = [r.payload["result"] for r in journal.records_of_kind("step.effect")]
    assert sorted(p["paid"] for p in paid) == [7, 8]


def test_charter_run_refuses_an_unusable_key(agent_file: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(agent_file), "pay 7", "--idempotency-key", ""])

    assert result.exit_code == 2 and "idempotency key" in result.output
    assert Journal(settings.database_url()).records_of_kind("run.started") == []


def test_charter_submit_twice_with_one_key_queues_one_run(agent_file: Path) -> None:
    from dbos import DBOSClient

    from charter.runtime._worker import system_database_url

    cli = CliRunner()
    command = ["submit", str(agent_file), "pay 7", "--idempotency-key", "q-7", "--as", "sam"]
    first = cli.invoke(app, command)
    second = cli.invoke(app, command)
    other = cli.invoke(
        app, ["submit", str(agent_file), "pay 8", "--idempotency-key", "q-7", "--as", "sam"]
    )

    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert first.output.split()[-1] == second.output.split()[-1]
    assert other.exit_code == 2 and "another goal" in other.output
    client = DBOSClient(system_database_url=system_database_url())
    try:
        assert [w.workflow_id for w in client.list_workflows()] == [first.output.split()[-1]]
    finally:
        client.destroy()
