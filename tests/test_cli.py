"""The command line: run, runs, show, audit verify/export, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from charter.cli import app
from charter.journal import Journal

TOOLS_MODULE = '''
from charter import tool

@tool
def lookup_order(order_id: int) -> dict:
    """Look up an order."""
    if order_id == 404:
        raise LookupError(f"no order {order_id}")
    return {"id": order_id, "status": "delivered"}
'''

AGENT = """
name: order-desk
reasoner:
  kind: rules
  match: 'order (?P<order_id>\\d+)'
  steps:
    - id: order
      call: lookup_order
      args: {order_id: "{goal.order_id}"}
    - respond: "Order {goal.order_id} is {steps.order.result.status}."
toolsets:
  - ref: cli_test_tools:lookup_order
charter:
  name: desk
  tools: {allow: [lookup_order]}
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cli_test_tools.py").write_text(TOOLS_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    (tmp_path / "agent.yaml").write_text(AGENT)
    return tmp_path


cli = CliRunner()


def _run(env: Path, goal: str) -> str:
    result = cli.invoke(app, ["run", str(env / "agent.yaml"), goal])
    assert result.exit_code == 0, result.output
    return result.output


def _journal(env: Path) -> Journal:
    return Journal(f"sqlite:///{env / 'home' / 'journal.db'}")


def test_run_prints_the_governed_transcript(env: Path) -> None:
    output = _run(env, "Where is order 1042?")

    assert "propose lookup_order" in output
    assert "allow by tools.allow" in output
    assert "Order 1042 is delivered." in output
    assert "run completed" in output


def test_run_that_does_not_complete_exits_nonzero(env: Path) -> None:
    agent = (
        (env / "agent.yaml")
        .read_text()
        .replace("name: desk", "name: desk\n  budgets: {max_steps: 1}")
    )
    (env / "agent.yaml").write_text(agent)

    result = cli.invoke(app, ["run", str(env / "agent.yaml"), "Where is order 7?"])

    assert result.exit_code == 1
    assert "run stopped" in result.output


def test_runs_lists_finished_runs(env: Path) -> None:
    _run(env, "Where is order 1042?")

    result = cli.invoke(app, ["runs"])

    assert result.exit_code == 0
    assert "order-desk" in result.output
    assert "completed" in result.output


def test_show_renders_a_run_from_the_journal_by_short_id(env: Path) -> None:
    _run(env, "Where is order 1042?")
    (started,) = _journal(env).records_of_kind("run.started")

    result = cli.invoke(app, ["show", started.run_id[:8]])

    assert result.exit_code == 0
    assert "Order 1042 is delivered." in result.output


def test_show_unknown_run_is_a_one_line_error(env: Path) -> None:
    result = cli.invoke(app, ["show", "nope"])

    assert result.exit_code == 2
    assert "no run with id 'nope'" in result.output


def test_audit_verify_passes_on_an_intact_journal(env: Path) -> None:
    _run(env, "Where is order 1042?")

    result = cli.invoke(app, ["audit", "verify"])

    assert result.exit_code == 0
    assert "journal intact" in result.output


def test_audit_verify_names_the_edited_record(env: Path) -> None:
    _run(env, "Where is order 1042?")
    journal = _journal(env)
    with journal.engine.begin() as conn:
        conn.execute(text("UPDATE journal_records SET payload = '{}' WHERE seq = 3"))

    result = cli.invoke(app, ["audit", "verify"])

    assert result.exit_code == 1
    assert "edited at seq 3" in result.output


def test_audit_export_writes_json_lines(env: Path) -> None:
    _run(env, "Where is order 1042?")

    result = cli.invoke(app, ["audit", "export"])

    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert lines[0]["kind"] == "run.started"


def test_malformed_agent_yaml_is_a_one_line_error(env: Path) -> None:
    (env / "bad.yaml").write_text("name: [unclosed\n")

    result = cli.invoke(app, ["run", str(env / "bad.yaml"), "goal"])

    assert result.exit_code == 2
    assert "bad.yaml" in result.output
    assert "invalid YAML" in result.output
    assert "Traceback" not in result.output


def test_agent_file_naming_an_unknown_tool_is_a_one_line_error(env: Path) -> None:
    agent = (env / "agent.yaml").read_text() + "tools: [lookup_order, refund_everything]\n"
    (env / "agent.yaml").write_text(agent)

    result = cli.invoke(app, ["run", str(env / "agent.yaml"), "goal"])

    assert result.exit_code == 2
    assert "field tools: unknown tool(s) refund_everything" in result.output


def test_missing_agent_file_is_a_one_line_error(env: Path) -> None:
    result = cli.invoke(app, ["run", str(env / "missing.yaml"), "goal"])

    assert result.exit_code == 2
    assert "missing.yaml: file not found" in result.output


def test_bad_input_loses_nothing_already_journaled(env: Path) -> None:
    _run(env, "Where is order 1042?")
    before = [r.hash for r in _journal(env).records()]
    (env / "bad.yaml").write_text("name: x\n")

    cli.invoke(app, ["run", str(env / "bad.yaml"), "goal"])

    assert [r.hash for r in _journal(env).records()] == before
    assert _journal(env).verify().ok


def test_unreachable_database_is_a_one_line_error(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = env / "blocker"
    blocker.write_text("")
    monkeypatch.setenv("CHARTER_DATABASE_URL", f"sqlite:///{blocker}/sub/journal.db")

    result = cli.invoke(app, ["runs"])

    assert result.exit_code == 2
    assert "cannot open journal" in result.output


def test_unreachable_llm_endpoint_fails_the_run_with_one_clear_line(env: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    agent = AGENT.split("reasoner:")[0] + (
        "reasoner:\n"
        "  kind: llm\n"
        f"  base_url: http://127.0.0.1:{port}/v1\n"
        "  model: any\n"
        "  timeout_s: 2\n"
        "toolsets:\n  - ref: cli_test_tools:lookup_order\n"
        "charter: {name: desk}\n"
    )
    (env / "llm.yaml").write_text(agent)

    result = cli.invoke(app, ["run", str(env / "llm.yaml"), "Where is order 1?"])

    assert result.exit_code == 1
    assert f"cannot reach http://127.0.0.1:{port}/v1" in result.output
    (finished,) = _journal(env).records_of_kind("run.finished")
    assert finished.payload["status"] == "failed"
    assert _journal(env).verify().ok
