"""``charter runs rollback`` on a run its caller's code governs (an integration's, the
governance API's): undone through its agent file's compensations when one describes it,
refused in one line naming the API to use when none does."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter import Journal
from charter.agent import Agent, load_agent
from charter.cli import app
from charter.governance import GovernedRun
from charter.runtime import rollback
from charter.testing import ScriptedReasoner, make_agent

cli = CliRunner()

TOOLS_MODULE = '''
from charter import tool

UNDONE = []

def undo_refund(result, order_id):
    UNDONE.append(result["refund_id"])

@tool(side_effect="write", compensate=undo_refund)
def refund_order(order_id: int) -> dict:
    """Refund an order."""
    return {"refund_id": order_id * 10}
'''

AGENT = """
name: framework-desk
reasoner: {kind: rules, steps: [{respond: "ok"}]}
toolsets:
  - ref: rollback_caller_tools:refund_order
charter:
  name: desk
  tools: {allow: [refund_order]}
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "rollback_caller_tools.py").write_text(TOOLS_MODULE)
    (tmp_path / "desk.agent.yaml").write_text(AGENT)
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHARTER_DATABASE_URL", f"sqlite:///{tmp_path / 'journal.db'}")
    yield tmp_path
    importlib.import_module("rollback_caller_tools").UNDONE.clear()


def _undone() -> list[int]:
    return list(importlib.import_module("rollback_caller_tools").UNDONE)


def _fileless_agent(env: Path) -> Agent:
    """The agent as an integration builds it in code: the same tools, no agent file."""
    tools = load_agent(env / "desk.agent.yaml").tools()
    return make_agent(tools, ScriptedReasoner([]), name="framework-desk")


def _refunded(env: Path, agent: Agent) -> str:
    journal = Journal(f"sqlite:///{env / 'journal.db'}")
    governed = GovernedRun.open(journal, agent, "refund order 4", actor="ana")
    verdict = governed.govern("refund_order", {"order_id": 4})
    assert verdict.runs, verdict
    governed.record(verdict, result={"refund_id": 40})
    governed.finish("refunded")
    journal.close()
    return governed.run_id


def _kinds(env: Path, run_id: str) -> list[str]:
    journal = Journal(f"sqlite:///{env / 'journal.db'}")
    try:
        return [r.kind for r in journal.records(run_id)]
    finally:
        journal.close()


def test_a_fileless_caller_run_is_refused_naming_the_api(env: Path) -> None:
    run_id = _refunded(env, _fileless_agent(env))

    result = cli.invoke(app, ["runs", "rollback", run_id, "--as", "oncall"])

    assert result.exit_code == 2
    line = " ".join(result.output.split())
    assert line.startswith(f"error: run {run_id} is governed by its caller's code")
    assert "charter.runtime.rollback(journal, agent, run_id, actor=...)" in line
    assert "governed.rollback(run_id, actor=...)" in line
    assert line.endswith(
        "or pass --charter FILE whose compensations: name the undo functions, or --agent FILE"
    )
    assert "Traceback" not in result.output
    assert not any(kind.startswith("rollback.") for kind in _kinds(env, run_id))
    assert _undone() == []


def test_the_named_api_undoes_it_with_the_callers_compensations(env: Path) -> None:
    agent = _fileless_agent(env)
    run_id = _refunded(env, agent)
    journal = Journal(f"sqlite:///{env / 'journal.db'}")

    report = rollback(journal, agent, run_id, actor="oncall")
    journal.close()

    assert report.complete and [i.outcome for i in report.items] == ["compensated"]
    assert _undone() == [40]


def test_an_agent_file_given_undoes_a_fileless_run(env: Path) -> None:
    run_id = _refunded(env, _fileless_agent(env))

    result = cli.invoke(
        app, ["runs", "rollback", run_id, "--agent", str(env / "desk.agent.yaml"), "--as", "oncall"]
    )

    assert result.exit_code == 0, result.output
    assert _undone() == [40]
    assert "rollback.finished" in _kinds(env, run_id)


def test_a_caller_run_of_an_agent_file_is_undone_from_that_file(env: Path) -> None:
    run_id = _refunded(env, load_agent(env / "desk.agent.yaml"))

    result = cli.invoke(app, ["runs", "rollback", run_id, "--as", "oncall"])
    again = cli.invoke(app, ["runs", "rollback", run_id, "--as", "oncall"])

    assert result.exit_code == 0, result.output
    assert _undone() == [40]
    assert again.exit_code == 2 and "already rolled back" in again.output
    assert _undone() == [40]  # never compensated twice


def test_a_caller_run_whose_agent_file_is_gone_is_refused_naming_the_api(env: Path) -> None:
    run_id = _refunded(env, load_agent(env / "desk.agent.yaml"))
    (env / "desk.agent.yaml").unlink()

    result = cli.invoke(app, ["runs", "rollback", run_id, "--as", "oncall"])

    assert result.exit_code == 2
    assert "charter.runtime.rollback(journal, agent, run_id" in " ".join(result.output.split())
    assert _undone() == []


def test_a_native_run_without_its_file_keeps_its_own_refusal(env: Path) -> None:
    result = cli.invoke(app, ["run", str(env / "desk.agent.yaml"), "hello"])
    assert result.exit_code == 0, result.output
    journal = Journal(f"sqlite:///{env / 'journal.db'}")
    (run_id,) = {r.run_id for r in journal.records_of_kind("run.finished")}
    journal.close()
    (env / "desk.agent.yaml").unlink()

    refused = cli.invoke(app, ["runs", "rollback", run_id])

    assert refused.exit_code == 2
    assert "is gone; pass --agent FILE" in " ".join(refused.output.split())
    assert "caller's code" not in refused.output
