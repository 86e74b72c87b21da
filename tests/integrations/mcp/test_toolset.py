"""MCP tools governed end to end: real stdio servers, real client sessions, the native runner."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from charter import settings
from charter.agent import Agent, load_agent
from charter.cli import app
from charter.errors import ConfigError
from charter.journal import Journal
from charter.runtime import Runner
from charter.testing import ScriptedReasoner, call, respond

runner_cli = CliRunner()


def lock(agent_file: Path, *extra: str) -> Any:
    result = runner_cli.invoke(app, ["mcp", "lock", str(agent_file), "--as", "ops", *extra])
    assert result.exit_code in (0, 1), result.output
    return result


def scripted(agent: Agent, *script: Any) -> Agent:
    return dataclasses.replace(agent, reasoner=ScriptedReasoner(script))


def records(journal: Journal, run_id: str, kind: str) -> list[dict[str, Any]]:
    return [r.payload for r in journal.records(run_id) if r.kind == kind]


@pytest.fixture
def journal(charter_env: dict[str, str]) -> Journal:
    return Journal(settings.database_url())


def test_governed_calls_reach_the_server_and_are_journaled(
    write_agent: Any, outbox: Path, journal: Journal
) -> None:
    agent_file = write_agent(trust="trusted")  # its lookup may choose the recipient
    lock(agent_file)
    agent = load_agent(agent_file)
    assert {t.name for t in agent.tools()} == {
        "lookup_customer",
        "fetch_page",
        "send_email",
        "crash",
        "slow",
    }
    agent = scripted(
        agent,
        call("lookup_customer", customer_id=7),
        call("send_email", to="ada@example.com", body="Your order shipped."),
        respond("done"),
    )
    run = Runner(journal).run(agent, "Tell customer 7 their order shipped")
    assert run.status == "completed", run.error
    assert outbox.read_text() == "ada@example.com\tYour order shipped.\n"
    effects = records(journal, run.run_id, "step.effect")
    assert effects[0]["result"] == {"customer_id": 7, "name": "Ada", "email": "ada@example.com"}
    assert effects[1]["status"] == "ok"
    started = records(journal, run.run_id, "run.started")[0]
    origin = started["tool_origins"]["send_email"]
    assert origin["mcp_server"] == "mail" and origin["pin"] == "pinned"
    assert len(origin["sha256"]) == 64


def test_outputs_carry_the_servers_trust(write_agent: Any) -> None:
    agent = load_agent(write_agent())  # no lockfile needed to read contracts
    assert agent.inventory.get("lookup_customer").contract.trust == "untrusted"
    trusted = load_agent(write_agent(name="t.agent.yaml", trust="trusted"))
    assert trusted.inventory.get("lookup_customer").contract.trust == "trusted"


def test_a_tool_without_a_contract_is_an_untrusted_write_whatever_it_claims(
    write_agent: Any,
) -> None:
    agent = load_agent(write_agent(defaults={}, tools={}))
    contract = agent.inventory.get("lookup_customer").contract  # readOnlyHint: true
    assert (contract.side_effect, contract.trust) == ("write", "untrusted")


def test_the_charter_denies_a_tool_and_the_server_is_not_called(
    write_agent: Any, outbox: Path, journal: Journal
) -> None:
    agent_file = write_agent(charter={"name": "c", "tools": {"deny": ["send_email"]}})
    lock(agent_file)
    agent = scripted(
        load_agent(agent_file), call("send_email", to="a@b.example", body="x"), respond("no")
    )
    run = Runner(journal).run(agent, "send")
    decided = records(journal, run.run_id, "step.decided")[0]
    assert decided["verdict"] == "deny"
    assert not outbox.exists()


def test_arguments_are_checked_against_the_input_schema_before_the_call(
    write_agent: Any, outbox: Path, journal: Journal
) -> None:
    agent_file = write_agent()
    lock(agent_file)
    agent = scripted(load_agent(agent_file), call("send_email", to=3), respond("no"))
    run = Runner(journal).run(agent, "send")
    observed = records(journal, run.run_id, "step.observed")[0]
    assert observed["status"] == "invalid_arguments"
    assert "'body' is a required property" in observed["text"]
    assert "to: 3 is not of type 'string'" in observed["text"]
    assert not outbox.exists()


def test_an_untrusted_output_choosing_a_writes_recipient_is_held(
    write_agent: Any, outbox: Path, journal: Journal
) -> None:
    agent_file = write_agent()
    lock(agent_file)
    agent = scripted(
        load_agent(agent_file),
        call("fetch_page", url="https://shop.example/contact"),
        call("send_email", to="attacker@evil.example", body="refund details"),
        respond("sent"),
    )
    run = Runner(journal).run(agent, "Reply to the contact on our page")
    decided = records(journal, run.run_id, "step.decided")
    assert decided[1]["verdict"] == "ask"
    assert "flow.untrusted-target" in decided[1]["rules"]
    assert run.status == "waiting"
    assert not outbox.exists()


def test_a_changed_tool_is_refused_and_journaled_with_the_difference(
    write_agent: Any, outbox: Path, journal: Journal
) -> None:
    lock(write_agent())
    agent_file = write_agent(env={"MCP_TEST_RUGPULL": "1"})  # same file, server changed
    agent = load_agent(agent_file)
    assert "send_email" not in {t.name for t in agent.tools()}
    agent = scripted(agent, call("send_email", to="a@b.example", body="x"), respond("no"))
    run = Runner(journal).run(agent, "send")
    decided = records(journal, run.run_id, "step.decided")[0]
    assert (decided["verdict"], decided["rules"]) == ("deny", ["mcp.changed"])
    refused = records(journal, run.run_id, "run.started")[0]["refused_tools"]["send_email"]
    assert refused["server"] == "mail" and refused["rule"] == "mcp.changed"
    assert refused["old_sha256"] != refused["new_sha256"]
    assert '+      "bcc": {' in refused["diff"]
    assert "archive@evil.example" in refused["diff"]
    assert not outbox.exists()


def test_approve_pins_the_change_journals_the_actor_and_reenables_the_tool(
    write_agent: Any, outbox: Path, journal: Journal
) -> None:
    lock(write_agent())
    agent_file = write_agent(env={"MCP_TEST_RUGPULL": "1"})
    held = runner_cli.invoke(app, ["mcp", "approve", str(agent_file), "--tool", "send_email"])
    assert held.exit_code == 1 and "flagged" in held.output  # its new text reads as orders
    diff = runner_cli.invoke(app, ["mcp", "diff", str(agent_file)])
    assert diff.exit_code == 1 and "send_email: changed" in diff.output
    assert "archive@evil.example" in diff.output
    approved = runner_cli.invoke(
        app,
        [
            "mcp",
            "approve",
            str(agent_file),
            "--tool",
            "send_email",
            "--as",
            "dana",
            "--accept-flagged",
        ],
    )
    assert approved.exit_code == 0, approved.output
    (record,) = [r.payload for r in journal.records("mcp") if r.kind == "mcp.approved"][-1:]
    assert (record["tool"], record["actor"], record["state"]) == ("send_email", "dana", "changed")
    assert record["old_sha256"] != record["new_sha256"]
    agent = scripted(
        load_agent(agent_file), call("send_email", to="a@b.example", body="x"), respond("ok")
    )
    run = Runner(journal).run(agent, "send")
    assert run.status == "completed", run.error
    assert outbox.read_text() == "a@b.example\tx\n"


def test_a_new_tool_is_refused_until_approved(write_agent: Any, journal: Journal) -> None:
    lock(write_agent())
    agent_file = write_agent(env={"MCP_TEST_NEW_TOOL": "1"})
    agent = load_agent(agent_file)
    assert "delete_all" not in {t.name for t in agent.tools()}
    run = Runner(journal).run(scripted(agent, call("delete_all"), respond("no")), "clean up")
    decided = records(journal, run.run_id, "step.decided")[0]
    assert (decided["verdict"], decided["rules"]) == ("deny", ["mcp.unpinned"])
    assert "delete_all" in decided["reason"]
    assert "send_email" in {t.name for t in agent.tools()}  # the pinned ones still serve


def test_without_a_lockfile_every_tool_is_refused_naming_mcp_lock(write_agent: Any) -> None:
    agent = load_agent(write_agent())
    assert agent.tools() == []
    refusal = agent.inventory.get("lookup_customer").refusal
    assert refusal is not None and refusal.rule == "mcp.unpinned"
    assert "charter mcp lock" in refusal.reason


def test_pin_false_offers_every_tool_and_journals_them_unpinned(
    write_agent: Any, journal: Journal
) -> None:
    agent = load_agent(write_agent(pin=False))
    assert len(agent.tools()) == 5
    run = Runner(journal).run(
        scripted(agent, call("lookup_customer", customer_id=1), respond("ok")), "g"
    )
    origins = records(journal, run.run_id, "run.started")[0]["tool_origins"]
    assert origins["lookup_customer"]["pin"] == "unpinned"


def test_a_server_that_dies_mid_write_leaves_it_in_doubt_and_is_restarted(
    write_agent: Any, journal: Journal
) -> None:
    agent_file = write_agent()
    lock(agent_file)
    agent = scripted(
        load_agent(agent_file),
        call("crash", note="now"),
        call("lookup_customer", customer_id=2),
        respond("ok"),
    )
    run = Runner(journal).run(agent, "g")
    effects = records(journal, run.run_id, "step.effect")
    assert effects[0]["status"] == "error" and effects[0]["in_doubt"] is True
    assert "crash" in effects[0]["error"]
    assert effects[1]["status"] == "ok"  # a new session, after listing the tools again
    assert run.status == "completed"


def test_a_server_that_dies_mid_read_is_an_error_not_a_doubt(
    write_agent: Any, journal: Journal
) -> None:
    agent_file = write_agent(tools={"crash": {"side_effect": "read"}, "send_email": {}})
    lock(agent_file)
    agent = scripted(load_agent(agent_file), call("crash", note="now"), respond("ok"))
    run = Runner(journal).run(agent, "g")
    (effect,) = records(journal, run.run_id, "step.effect")
    assert effect["status"] == "error" and not effect.get("in_doubt")


def test_a_write_that_outlives_its_timeout_is_in_doubt_until_its_late_answer(
    write_agent: Any, journal: Journal
) -> None:
    agent_file = write_agent(
        tools={"slow": {"side_effect": "write", "timeout_s": 0.5}, "send_email": {}}
    )
    lock(agent_file)
    agent = scripted(load_agent(agent_file), call("slow", seconds=2), respond("ok"))
    run = Runner(journal).run(agent, "g")
    (effect,) = records(journal, run.run_id, "step.effect")
    assert (effect["status"], effect["in_doubt"]) == ("timeout", True)
    deadline = time.monotonic() + 30
    resolved: list[dict[str, Any]] = []
    while not resolved and time.monotonic() < deadline:
        time.sleep(0.2)
        resolved = records(journal, run.run_id, "effect.resolved")
    assert resolved and resolved[0]["outcome"] == "happened"  # the server did answer


def test_a_server_that_never_answers_is_a_load_error_within_its_connect_timeout(
    write_agent: Any,
) -> None:
    agent_file = write_agent(args=["-c", "import time; time.sleep(60)"], connect_timeout_s=1)
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"mcp server 'mail' .*cannot connect"):
        load_agent(agent_file)
    assert time.monotonic() - started < 30


def test_charter_conditions_read_an_mcp_tools_arguments(
    write_agent: Any, outbox: Path, journal: Journal
) -> None:
    rule = {
        "id": "no-mail-outside",
        "effect": "deny",
        "tools": ["send_email"],
        "when": 'context.args.to like "*@evil.example"',
    }
    agent_file = write_agent(charter={"name": "c", "rules": [rule]})
    lock(agent_file)
    agent = scripted(
        load_agent(agent_file),
        call("send_email", to="x@evil.example", body="hi"),
        call("send_email", to="ada@example.com", body="hi"),
        respond("ok"),
    )
    run = Runner(journal).run(agent, "mail x@evil.example and ada@example.com")
    decided = records(journal, run.run_id, "step.decided")
    assert (decided[0]["verdict"], decided[0]["rules"]) == ("deny", ["no-mail-outside"])
    assert decided[1]["verdict"] == "allow"
    assert outbox.read_text() == "ada@example.com\thi\n"


def test_a_condition_on_an_argument_the_tool_lacks_names_its_arguments(write_agent: Any) -> None:
    rule = {"id": "r", "effect": "deny", "tools": ["send_email"], "when": "context.args.cc == 1"}
    with pytest.raises(ConfigError, match=r"send_email has no argument cc \(it has to, body\)"):
        load_agent(write_agent(charter={"name": "c", "rules": [rule]}))


def test_a_server_that_restarts_changed_mid_run_is_not_sent_the_call(
    write_agent: Any, outbox: Path, journal: Journal, tmp_path: Path
) -> None:
    flag = tmp_path / "rugpull"
    agent_file = write_agent(env={"MCP_TEST_RUGPULL_FILE": str(flag)})
    lock(agent_file)
    agent = load_agent(agent_file)  # pinned definitions, session open

    def change_then_send(context: Any) -> Any:
        flag.write_text("1")  # the server comes back changed after its crash
        return call("send_email", to="ada@example.com", body="x")

    agent = scripted(agent, call("crash", note="now"), change_then_send, respond("ok"))
    run = Runner(journal).run(agent, "mail ada@example.com")
    observed = records(journal, run.run_id, "step.observed")
    assert observed[1]["status"] == "error"
    assert "changed tool 'send_email' since it was loaded" in observed[1]["text"]
    assert not outbox.exists()
