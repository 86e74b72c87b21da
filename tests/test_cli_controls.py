"""The control commands refuse names nothing knows, and show supervised mode."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.cli import app
from charter.journal import Journal
from charter.runtime import Controls

TOOLS_MODULE = '''
from charter import tool

@tool
def lookup_order(order_id: int) -> dict:
    """Look up an order."""
    return {"id": order_id, "status": "delivered"}
'''

AGENT = """
name: order-desk
reasoner:
  kind: rules
  steps:
    - id: order
      call: lookup_order
      args: {order_id: 1}
    - respond: "done"
toolsets:
  - ref: cli_control_tools:lookup_order
charter:
  name: desk
  tools: {allow: [lookup_order]}
"""

cli = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cli_control_tools.py").write_text(TOOLS_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    (tmp_path / "agent.yaml").write_text(AGENT)
    return tmp_path


def _journal(env: Path) -> Journal:
    return Journal(f"sqlite:///{env / 'home' / 'journal.db'}")


def _controls(env: Path) -> list[str]:
    return [r.kind for r in _journal(env).records("control")]


@pytest.fixture
def ran(env: Path) -> Path:
    result = cli.invoke(app, ["run", str(env / "agent.yaml"), "look"])
    assert result.exit_code == 0, result.output
    return env


def test_pausing_a_misspelt_agent_is_refused_with_a_suggestion(ran: Path) -> None:
    result = cli.invoke(app, ["agents", "pause", "order-dsk", "--reason", "incident"])

    assert result.exit_code == 2
    assert "no known agent is named 'order-dsk'" in result.output
    assert "did you mean 'order-desk'" in result.output
    assert _controls(ran) == []


def test_revoking_a_misspelt_tool_is_refused_with_a_suggestion(ran: Path) -> None:
    result = cli.invoke(app, ["tools", "revoke", "lookup_ordr", "--reason", "leak"])

    assert result.exit_code == 2
    assert "did you mean 'lookup_order'" in result.output
    assert _controls(ran) == []


def test_a_revocation_scoped_to_a_misspelt_agent_is_refused(ran: Path) -> None:
    result = cli.invoke(
        app, ["tools", "revoke", "lookup_order", "--reason", "leak", "--agent", "order-dsk"]
    )

    assert result.exit_code == 2
    assert "did you mean 'order-desk'" in result.output
    assert _controls(ran) == []


@pytest.mark.parametrize(
    "command",
    [
        ["agents", "supervise", "nosuch", "--reason", "r"],
        ["agents", "resume", "nosuch"],
        ["agents", "unsupervise", "nosuch"],
        ["tools", "restore", "nosuch"],
    ],
)
def test_every_control_refuses_an_unknown_name(ran: Path, command: list[str]) -> None:
    result = cli.invoke(app, command)

    assert result.exit_code == 2
    assert "no known" in result.output
    assert _controls(ran) == []


def test_names_seen_in_runs_are_accepted(ran: Path) -> None:
    paused = cli.invoke(app, ["agents", "pause", "order-desk", "--reason", "incident"])
    revoked = cli.invoke(app, ["tools", "revoke", "lookup_order", "--reason", "leak"])

    assert paused.exit_code == 0, paused.output
    assert revoked.exit_code == 0, revoked.output
    assert _controls(ran) == ["control.pause", "control.revoke"]


def test_an_agent_file_makes_its_names_known_before_any_run(env: Path) -> None:
    files = ["--agent-file", str(env / "agent.yaml")]
    paused = cli.invoke(app, ["agents", "pause", "order-desk", "--reason", "r", *files])
    revoked = cli.invoke(app, ["tools", "revoke", "lookup_order", "--reason", "r", *files])

    assert paused.exit_code == 0, paused.output
    assert revoked.exit_code == 0, revoked.output


def test_new_name_controls_a_name_not_seen_yet_and_it_is_known_from_then_on(env: Path) -> None:
    paused = cli.invoke(app, ["agents", "pause", "future-bot", "--reason", "r", "--new-name"])
    resumed = cli.invoke(app, ["agents", "resume", "future-bot"])

    assert paused.exit_code == 0, paused.output
    assert resumed.exit_code == 0, resumed.output
    assert _controls(env) == ["control.pause", "control.resume"]


def test_controls_lists_supervised_agents(ran: Path) -> None:
    Controls(_journal(ran)).supervise("order-desk", actor="drift-watch", reason="fraud drift")

    listed = cli.invoke(app, ["controls"])

    assert listed.exit_code == 0
    assert "supervised agent order-desk" in listed.output
    assert "fraud drift" in listed.output
