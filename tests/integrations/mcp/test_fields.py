"""Output field labels of MCP tools: set per server and per tool in the agent file, checked
against the output schemas a real SDK server gives, and labelling structured outputs as a
native contract's fields do."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from charter import settings
from charter.agent import Agent, load_agent
from charter.errors import ConfigError
from charter.integrations.mcp._fields import path_problem
from charter.integrations.mcp._spec import ContractSpec, McpServerSpec
from charter.integrations.mcp._toolset import check_default_fields
from charter.journal import Journal
from charter.runtime import Runner
from charter.testing import ScriptedReasoner, call, respond

SERVER = Path(__file__).with_name("inbox_server.py")
TRUSTED_SENDERS = {"messages[].sender": "trusted", "messages[].id": "trusted"}


def write_agent(tmp_path: Path, **entry: Any) -> Path:
    server: dict[str, Any] = {
        "server": "inbox",
        "command": sys.executable,
        "args": [str(SERVER)],
        "pin": False,
        "defaults": {"side_effect": "read"},
        "tools": {"send_email": {"side_effect": "external", "targets": ["to"]}},
    } | entry
    path = tmp_path / "inbox.agent.yaml"
    body = {
        "name": "inbox-agent",
        "toolsets": [{"mcp": server}],
        "reasoner": {"kind": "rules", "steps": [{"respond": "done"}]},
        "charter": {"name": "inbox-charter"},
    }
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def with_tools(**tools: dict[str, Any]) -> dict[str, Any]:
    return {"send_email": {"side_effect": "external", "targets": ["to"]}} | tools


def scripted(agent: Agent, *script: Any) -> Agent:
    return dataclasses.replace(agent, reasoner=ScriptedReasoner(script))


@pytest.fixture
def journal(charter_env: dict[str, str]) -> Journal:
    return Journal(settings.database_url())


def decisions(journal: Journal, run_id: str) -> list[tuple[str, str, list[str]]]:
    return [
        (str(r.payload["tool"]), str(r.payload["verdict"]), list(r.payload["rules"]))
        for r in journal.records(run_id)
        if r.kind == "step.decided"
    ]


def test_a_trusted_field_of_a_structured_output_may_choose_a_recipient(
    tmp_path: Path, journal: Journal
) -> None:
    tools = with_tools(read_inbox={"fields": TRUSTED_SENDERS})
    agent = load_agent(write_agent(tmp_path, tools=tools))
    assert dict(agent.inventory.get("read_inbox").contract.fields) == TRUSTED_SENDERS
    agent = scripted(
        agent,
        call("read_inbox", folder="inbox"),
        call("send_email", to="alice@example.com", body="Seen it."),
        call("send_email", to="boss@evil.example", body="Paid."),
        respond("done"),
    )

    run = Runner(journal).run(agent, "Acknowledge the newest mail")

    decided = decisions(journal, run.run_id)
    assert [(tool, verdict) for tool, verdict, _ in decided] == [
        ("read_inbox", "allow"),
        ("send_email", "allow"),  # the sender field is the server's word
        ("send_email", "ask"),  # the address in the body is anyone's
    ]
    assert decided[2][2] == ["flow.untrusted-target"]


def test_without_fields_the_whole_output_carries_the_servers_trust(
    tmp_path: Path, journal: Journal
) -> None:
    agent = scripted(
        load_agent(write_agent(tmp_path)),
        call("read_inbox", folder="inbox"),
        call("send_email", to="alice@example.com", body="Seen it."),
        respond("done"),
    )

    run = Runner(journal).run(agent, "Acknowledge the newest mail")

    assert decisions(journal, run.run_id)[1] == ("send_email", "ask", ["flow.untrusted-target"])


def test_a_tools_field_its_output_schema_lacks_is_refused_naming_it(
    tmp_path: Path, charter_env: dict[str, str]
) -> None:
    tools = with_tools(read_inbox={"fields": {"messages[].sendr": "trusted"}})

    with pytest.raises(ConfigError) as refused:
        load_agent(write_agent(tmp_path, tools=tools))

    message = str(refused.value)
    assert "tool 'read_inbox'" in message and "'messages[].sendr'" in message
    assert "messages[] has: body, id, sender" in message


def test_a_list_step_into_a_field_that_is_no_list_is_refused(
    tmp_path: Path, charter_env: dict[str, str]
) -> None:
    tools = with_tools(read_inbox={"fields": {"folder[].name": "trusted"}})

    with pytest.raises(ConfigError, match=r"folder is not a list"):
        load_agent(write_agent(tmp_path, tools=tools))


def test_a_bad_label_is_refused_naming_the_field(
    tmp_path: Path, charter_env: dict[str, str]
) -> None:
    tools = with_tools(read_inbox={"fields": {"folder": "secretive"}})

    with pytest.raises(ConfigError, match=r"output field 'folder': label 'secretive'"):
        load_agent(write_agent(tmp_path, tools=tools))


def test_server_defaults_label_the_tools_whose_output_has_the_field(
    tmp_path: Path, charter_env: dict[str, str]
) -> None:
    defaults = {"side_effect": "read", "fields": {"folder": "trusted"}}

    agent = load_agent(write_agent(tmp_path, defaults=defaults))

    assert agent.inventory.get("read_inbox").contract.fields == (("folder", "trusted"),)
    assert agent.inventory.get("send_email").contract.fields == ()  # its output has no folder
    assert agent.inventory.get("whoami").contract.fields == (("folder", "trusted"),)  # open


def test_a_defaults_field_only_an_open_output_may_have_labels_that_tool_alone(
    tmp_path: Path, charter_env: dict[str, str]
) -> None:
    defaults = {"side_effect": "read", "fields": {"nope": "pii"}}

    loaded = load_agent(write_agent(tmp_path, defaults=defaults))

    assert loaded.inventory.get("whoami").contract.fields == (("nope", "pii"),)
    assert loaded.inventory.get("read_inbox").contract.fields == ()


def test_a_defaults_field_no_tools_output_schema_has_is_refused() -> None:
    spec = McpServerSpec(server="inbox", command="x", defaults=ContractSpec(fields={"nope": "pii"}))
    listed: list[dict[str, Any]] = [
        {"name": "a", "outputSchema": {"type": "object", "properties": {"x": {}}}},
        {"name": "b", "outputSchema": {"type": "object", "properties": {"y": {}}}},
    ]

    with pytest.raises(ConfigError, match=r"defaults output field 'nope' is in no tool's"):
        check_default_fields(spec, listed, "agent.yaml")
    check_default_fields(spec, [*listed, {"name": "c"}], "agent.yaml")  # c: no schema


OUTPUT = {
    "type": "object",
    "properties": {
        "folder": {"type": "string"},
        "messages": {"type": "array", "items": {"$ref": "#/$defs/Message"}},
        "meta": {"anyOf": [{"type": "null"}, {"type": "object", "additionalProperties": True}]},
    },
    "$defs": {
        "Message": {
            "type": "object",
            "properties": {"sender": {"type": "string"}, "to": {"$ref": "#/$defs/Message"}},
        }
    },
}


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("folder", None),
        ("messages[].sender", None),
        ("messages[].to.to.sender", None),  # a recursive reference
        ("meta.anything.below", None),  # an open object
        ("messages", None),
        ("messages.sender", "messages.sender is not in the tool's output schema"),
        ("messages[].subject", "messages[].subject is not in the tool's output schema"),
        ("folder[]", "folder is not a list in the tool's output schema"),
        ("[]", "the output is not a list in the tool's output schema"),
        ("nope", "nope is not in the tool's output schema (the output has: folder, "),
    ],
)
def test_a_path_is_walked_through_references_lists_and_combinations(
    path: str, problem: str | None
) -> None:
    found = path_problem(OUTPUT, path)

    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)
