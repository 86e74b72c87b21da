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
