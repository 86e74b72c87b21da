"""``charter mcp lock|diff|approve``: poisoning flags, streamable HTTP with secret headers,
one-line errors with exit status 2, and a journal that verifies afterwards."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from charter import settings
from charter.agent import load_agent
from charter.cli import app
from charter.errors import ConfigError
from charter.journal import Journal
from charter.runtime import Runner
from charter.testing import ScriptedReasoner, call, respond

runner_cli = CliRunner()


def charter_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "charter", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_poisoned_description_is_flagged_and_pinned_only_when_accepted(
    write_agent: Any, charter_env: dict[str, str]
) -> None:
    agent_file = write_agent(env={"MCP_TEST_POISON": "1"}, tools={"send_email": {}})
    held = runner_cli.invoke(app, ["mcp", "lock", str(agent_file)])
    assert held.exit_code == 1
    assert "add (unlocked)" in held.output and "hidden tag" in held.output
    assert "asks for secrets or files" in held.output and "addresses the model" in held.output
    lockfile = json.loads(agent_file.with_name("mail.agent.mcp.lock").read_text())
    assert "add" not in lockfile["servers"]["mail"]
    assert "lookup_customer" in lockfile["servers"]["mail"]  # the others are pinned
    accepted = runner_cli.invoke(app, ["mcp", "lock", str(agent_file), "--accept-flagged"])
    assert accepted.exit_code == 0, accepted.output
    lockfile = json.loads(agent_file.with_name("mail.agent.mcp.lock").read_text())
    assert "add" in lockfile["servers"]["mail"]


def test_lock_leaves_a_changed_tool_to_approve(
    write_agent: Any, charter_env: dict[str, str]
) -> None:
    assert runner_cli.invoke(app, ["mcp", "lock", str(write_agent())]).exit_code == 0
    changed = write_agent(env={"MCP_TEST_RUGPULL": "1"})
    result = runner_cli.invoke(app, ["mcp", "lock", str(changed), "--accept-flagged"])
    assert "send_email changed since pinned" in result.output
    assert runner_cli.invoke(app, ["mcp", "diff", str(changed)]).exit_code == 1


def http_agent(tmp_path: Path, url: str, **entry: Any) -> Path:
    server = {
        "server": "mail",
        "url": url,
        "headers": {"Authorization": {"env": "MAIL_MCP_TOKEN"}},
        "defaults": {"side_effect": "read"},
        "tools": {"send_email": {"side_effect": "write", "targets": ["to"]}},
    } | entry
    path = tmp_path / "http.agent.yaml"
    body = {
        "name": "http-agent",
        "toolsets": [{"mcp": server}],
        "reasoner": {"kind": "rules", "steps": [{"respond": "done"}]},
        "charter": {"name": "c"},
    }
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def test_http_headers_come_from_the_environment_and_are_never_journaled(
    tmp_path: Path,
    http_server: tuple[str, str],
    charter_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, token = http_server
    monkeypatch.setenv("MAIL_MCP_TOKEN", f"Bearer {token}")
    agent_file = http_agent(tmp_path, url)
    locked = runner_cli.invoke(app, ["mcp", "lock", str(agent_file)])
    assert locked.exit_code == 0, locked.output
    journal = Journal(settings.database_url())
    agent = load_agent(agent_file)
    agent = dataclasses.replace(
        agent, reasoner=ScriptedReasoner([call("lookup_customer", customer_id=4), respond("ok")])
    )
    run = Runner(journal).run(agent, "look up customer 4")
    assert run.status == "completed", run.error
    journal.engine.dispose()
    stored = b"".join(p.read_bytes() for p in (tmp_path / "home").rglob("*") if p.is_file())
    assert token.encode() not in stored
    assert token not in agent_file.with_name("http.agent.mcp.lock").read_text()
    assert token not in json.dumps([t.parameters_schema() for t in agent.tools()])
    verified = charter_cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_wrong_token_is_one_line_that_does_not_show_it(
    tmp_path: Path,
    http_server: tuple[str, str],
    charter_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, _ = http_server
    monkeypatch.setenv("MAIL_MCP_TOKEN", "Bearer wrong-secret-value")
    agent_file = http_agent(tmp_path, url)
    with pytest.raises(ConfigError) as raised:
        load_agent(agent_file)
    assert "wrong-secret-value" not in str(raised.value)
    assert "cannot connect" in str(raised.value) and "\n" not in str(raised.value)
    result = charter_cli("mcp", "lock", str(agent_file))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "wrong-secret-value" not in result.stderr + result.stdout


def test_a_missing_header_variable_is_named(
    tmp_path: Path, charter_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MAIL_MCP_TOKEN", raising=False)
    agent_file = http_agent(tmp_path, "http://127.0.0.1:9/mcp")
    result = charter_cli("mcp", "lock", str(agent_file))
    assert result.returncode == 2
    assert "MAIL_MCP_TOKEN is not set" in result.stderr


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"command": "/nonexistent/mcp-server"}, "cannot connect"),
        ({"url": "ftp://example.com/mcp"}, "url"),
        ({"url": "http://127.0.0.1:9/mcp"}, "cannot connect"),
        ({"command": "x", "url": "http://127.0.0.1:9/mcp"}, "either command"),
    ],
)
def test_a_server_that_cannot_be_reached_is_one_line_and_exit_2(
    tmp_path: Path, charter_env: dict[str, str], entry: dict[str, Any], expected: str
) -> None:
    path = tmp_path / "bad.agent.yaml"
    server = {"server": "mail"} | entry
    path.write_text(yaml.safe_dump({"name": "a", "toolsets": [{"mcp": server}]}))
    result = charter_cli("mcp", "lock", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert expected in result.stderr


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"version": 7, "servers": {}}',
        '{"version": 1, "servers": {"mail": {"x": {"sha256": "00", "definition": {"name": "x"}}}}}',
    ],
)
def test_a_malformed_lockfile_is_one_line_and_exit_2(
    write_agent: Any, charter_env: dict[str, str], text: str
) -> None:
    agent_file = write_agent()
    agent_file.with_name("mail.agent.mcp.lock").write_text(text)
    result = charter_cli("mcp", "diff", str(agent_file))
    assert result.returncode == 2
    assert "malformed lockfile" in result.stderr or "not a readable lockfile" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    with pytest.raises(ConfigError):
        load_agent(agent_file)


def test_an_agent_file_without_mcp_servers_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.agent.yaml"
    path.write_text(
        yaml.safe_dump({"name": "a", "toolsets": [{"ref": "charter.demo.tools:toolset"}]})
    )
    result = runner_cli.invoke(app, ["mcp", "diff", str(path)])
    assert result.exit_code == 2


def test_approve_of_a_tool_the_server_does_not_offer_is_refused(
    write_agent: Any, charter_env: dict[str, str]
) -> None:
    result = runner_cli.invoke(app, ["mcp", "approve", str(write_agent()), "--tool", "nope"])
    assert result.exit_code == 2
    assert "not offered" in result.output


def test_a_server_offering_a_tool_name_that_is_no_identifier_is_refused(
    write_agent: Any, charter_env: dict[str, str]
) -> None:
    agent_file = write_agent(env={"MCP_TEST_BAD_NAME": "1"})
    with pytest.raises(ConfigError, match="offers a tool named 'send email; then <b>'"):
        load_agent(agent_file)
    result = charter_cli("mcp", "lock", str(agent_file))
    assert result.returncode == 2 and "tool names must be unique" in result.stderr


def test_a_password_in_the_url_is_not_shown_in_errors(
    tmp_path: Path, charter_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAIL_MCP_TOKEN", "Bearer header-secret-1234")
    agent_file = http_agent(tmp_path, "http://ops:url-secret-5678@127.0.0.1:9/mcp")
    with pytest.raises(ConfigError) as raised:
        load_agent(agent_file)
    assert "url-secret-5678" not in str(raised.value)
    assert "header-secret-1234" not in str(raised.value)
    assert "cannot connect" in str(raised.value)


def test_charter_run_shows_which_tools_are_refused(
    write_agent: Any, charter_env: dict[str, str]
) -> None:
    assert runner_cli.invoke(app, ["mcp", "lock", str(write_agent())]).exit_code == 0
    changed = write_agent(env={"MCP_TEST_RUGPULL": "1", "MCP_TEST_NEW_TOOL": "1"})
    result = runner_cli.invoke(app, ["run", str(changed), "anything"])
    assert result.exit_code == 0, result.output
    assert "refused delete_all (mcp.unpinned), send_email (mcp.changed)" in result.output
