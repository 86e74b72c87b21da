"""``charter eval`` and ``charter agents rollout|promote|demote`` from the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.cli import app
from evals._support import ADVERSARIAL, GATED_AGENT, NORMAL, SUPPORT_AGENT, UNDEFENDED

runner = CliRunner()


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path / "home"


def _eval_id(output: str) -> str:
    found = re.search(r"eval (eval-[0-9]{8}-[0-9]{6}-[0-9a-f]{6})", output)
    assert found is not None, output
    return found.group(1)


def test_eval_runs_a_suite_records_it_and_lists_shows_and_compares(tmp_path: Path) -> None:
    args = ["eval", str(ADVERSARIAL), "--agent", str(SUPPORT_AGENT), "--reasoner", "script"]
    defended = runner.invoke(app, [*args, "--only", "kb-|erasure"])
    assert defended.exit_code == 0, defended.output
    assert "defended" in defended.output and "attack_successes 0" in defended.output
    strong = _eval_id(defended.output)

    undefended = tmp_path / "undefended.agent.yaml"
    undefended.write_text(UNDEFENDED, encoding="utf-8")
    attacked = runner.invoke(
        app,
        [
            *["eval", "run", str(ADVERSARIAL), "--agent", str(undefended)],
            "--reasoner",
            "script",
            "--only",
            "kb-|erasure",
        ],
    )
    assert attacked.exit_code == 1, attacked.output  # attacks succeeded
    assert "attacked" in attacked.output
    weak = _eval_id(attacked.output)

    listed = runner.invoke(app, ["eval", "list", "--suite", "support-adversarial"])
    assert listed.exit_code == 0 and listed.output.index(weak) < listed.output.index(strong)
    shown = runner.invoke(app, ["eval", "show", strong, "--json"])
    assert json.loads(shown.output)["kpis"]["attack_successes"] == 0
    compared = runner.invoke(app, ["eval", "compare", weak, strong])
    assert compared.exit_code == 0 and "now defended: kb-exfiltration" in compared.output


def test_eval_failures_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.suite.yaml"
    bad.write_text("suite: s\n", encoding="utf-8")
    result = runner.invoke(app, ["eval", str(bad), "--agent", str(SUPPORT_AGENT)])
    assert result.exit_code == 2 and "field world" in result.output

    result = runner.invoke(
        app, ["eval", str(NORMAL), "--agent", str(SUPPORT_AGENT), "--reasoner", "magic"]
    )
    assert result.exit_code == 2 and "--reasoner must be agent or script" in result.output
    result = runner.invoke(app, ["eval", "show", "eval-missing"])
    assert result.exit_code == 2 and "no recorded eval" in result.output


def test_eval_json_without_recording(home: Path) -> None:
    result = runner.invoke(
        app,
        [
            "eval",
            str(NORMAL),
            "--agent",
            str(SUPPORT_AGENT),
            "--reasoner",
            "script",
            "--only",
            "^order-status$",
            "--json",
            "--no-record",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["kpis"]["success_rate"] == 1.0 and data["cases"][0]["name"] == "order-status"
    assert "no recorded evals" in runner.invoke(app, ["eval", "list"]).output


def test_rollout_promote_and_demote(tmp_path: Path) -> None:
    agent = tmp_path / "rollout.agent.yaml"
    agent.write_text(GATED_AGENT.replace("WORLD", str(tmp_path / "world.db")), encoding="utf-8")

    status = runner.invoke(app, ["agents", "rollout", str(agent)])
    assert status.exit_code == 0 and ": shadow" in status.output and "unmet" in status.output
    refused = runner.invoke(app, ["agents", "promote", str(agent), "--actor", "lee"])
    assert refused.exit_code == 2 and "stays shadow" in refused.output

    evaluated = runner.invoke(
        app, ["eval", str(NORMAL), "--agent", str(agent), "--reasoner", "script"]
    )
    # No rules in this charter: the two writes a human should approve just run. The eval
    # says so (exit 1), and 11 of 13 still clears the 0.8 gate.
    assert evaluated.exit_code == 1 and "success_rate 84.6%" in evaluated.output
    promoted = runner.invoke(app, ["agents", "promote", str(agent), "--actor", "lee"])
    assert promoted.exit_code == 0 and "shadow → supervised" in promoted.output
    assert "success_rate = 0.846" in promoted.output

    wrong = runner.invoke(app, ["agents", "demote", str(agent), "--to", "limbo", "--reason", "x"])
    assert wrong.exit_code == 2 and "--to must be one of" in wrong.output
    demoted = runner.invoke(
        app, ["agents", "demote", str(agent), "--to", "shadow", "--reason", "incident 9"]
    )
    assert demoted.exit_code == 0 and "supervised → shadow" in demoted.output
