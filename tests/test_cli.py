"""The command line: run, runs, show, audit verify/export, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from charter.cli import app
from charter.journal import Journal, canonical_json
from tampering import rewrite_chain_from

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
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
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

    assert result.exit_code == 4  # the step budget refused the answer: denied
    assert "run stopped (denied)" in result.output


def test_run_whose_tool_failed_exits_1_though_it_completed(env: Path) -> None:
    result = cli.invoke(app, ["run", str(env / "agent.yaml"), "Where is order 404?"])

    assert result.exit_code == 1, result.output
    assert "run completed (failed)" in result.output


def test_run_whose_call_was_denied_exits_4_and_lists_as_denied(env: Path) -> None:
    cli.invoke(app, ["tools", "revoke", "lookup_order", "--reason", "leak", "--new-name"])

    result = cli.invoke(app, ["run", str(env / "agent.yaml"), "Where is order 1042?"])
    listed = cli.invoke(app, ["runs"])
    (started,) = _journal(env).records_of_kind("run.started")
    shown = cli.invoke(app, ["show", started.run_id[:10]])

    assert result.exit_code == 4, result.output
    assert "run completed (denied)" in result.output
    assert listed.exit_code == 0
    assert "denied" in listed.output and "succeeded" not in listed.output
    assert shown.exit_code == 4
    assert "outcome denied" in shown.output


def test_show_exits_0_for_a_run_that_succeeded(env: Path) -> None:
    _run(env, "Where is order 1042?")
    (started,) = _journal(env).records_of_kind("run.started")

    shown = cli.invoke(app, ["show", started.run_id])

    assert shown.exit_code == 0, shown.output
    assert "run completed (succeeded)" in shown.output
    assert "succeeded" in cli.invoke(app, ["runs"]).output


def test_show_of_a_journal_without_outcomes_derives_them(env: Path) -> None:
    # A journal written before run.finished carried the outcome: the same rules apply.
    result = cli.invoke(app, ["run", str(env / "agent.yaml"), "Where is order 404?"])
    assert result.exit_code == 1
    journal = _journal(env)
    (finished,) = journal.records_of_kind("run.finished")
    payload = {k: v for k, v in finished.payload.items() if k != "outcome"}
    rewrite_chain_from(journal, finished.seq, canonical_json(payload))

    shown = cli.invoke(app, ["show", finished.run_id])
    listed = cli.invoke(app, ["runs"])

    assert shown.exit_code == 1
    assert "outcome failed" in shown.output
    assert "failed" in listed.output


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
    _run(env, "Where is order 1042?")

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


def test_run_signs_a_checkpoint_with_a_key_created_under_charter_home(env: Path) -> None:
    _run(env, "Where is order 1042?")

    key = env / "home" / "keys" / "journal-ed25519.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    (checkpoint,) = _journal(env).checkpoints()
    assert checkpoint.seq == len(list(_journal(env).records()))
    result = cli.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "1 checkpoint(s) checked" in result.output
    assert f"records 1\N{EN DASH}{checkpoint.seq} are covered by a signature made" in result.output


def test_audit_checkpoint_then_a_full_rewrite_fails_verify(env: Path) -> None:
    _run(env, "Where is order 1042?")
    _journal(env).append([("manual", "note", {"n": 1})])  # an unsigned head

    signed = cli.invoke(app, ["audit", "checkpoint"])
    again = cli.invoke(app, ["audit", "checkpoint"])
    rewrite_chain_from(_journal(env), 3, '{"forged":true}')
    result = cli.invoke(app, ["audit", "verify"])

    head = len(list(_journal(env).records()))
    assert signed.exit_code == 0, signed.output
    assert f"checkpoint: seq {head} hash " in signed.output
    assert "head already checkpointed" in again.output
    assert result.exit_code == 1
    assert f"rewritten at seq {head}" in result.output
    assert "journal TAMPERED" in result.output


def test_audit_verify_with_an_auditors_public_key(env: Path) -> None:
    _run(env, "Where is order 1042?")
    pem = cli.invoke(app, ["audit", "public-key"])
    (env / "auditor.pub").write_text(pem.stdout)
    rewrite_chain_from(_journal(env), 3, '{"forged":true}')
    (env / "home" / "keys" / "journal-ed25519.pem").unlink()  # the auditor has only the .pub

    result = cli.invoke(app, ["audit", "verify", "--public-key", str(env / "auditor.pub")])

    assert pem.exit_code == 0
    assert pem.stdout.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert pem.stdout == (env / "home" / "keys" / "journal-ed25519.pem.pub").read_text()
    assert result.exit_code == 1
    assert "rewritten at seq" in result.output


def test_audit_verify_with_another_key_reports_forged(env: Path) -> None:
    from charter.journal import load_or_create_signer

    _run(env, "Where is order 1042?")
    load_or_create_signer(env / "other.pem")

    result = cli.invoke(app, ["audit", "verify", "--public-key", str(env / "other.pem.pub")])

    assert result.exit_code == 1
    assert "forged at seq" in result.output


def test_audit_verify_without_a_key_says_checkpoints_were_not_checked(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(env, "Where is order 1042?")
    monkeypatch.setenv("CHARTER_SIGNING_KEY", str(env / "absent.pem"))

    result = cli.invoke(app, ["audit", "verify"])

    assert result.exit_code == 0
    assert "1 checkpoint(s) unchecked" in result.output
    assert not (env / "absent.pem").exists()


def test_corrupt_signing_key_is_a_one_line_error(env: Path) -> None:
    key = env / "home" / "keys" / "journal-ed25519.pem"
    key.parent.mkdir(parents=True)
    key.write_text("not a key\n")

    result = cli.invoke(app, ["run", str(env / "agent.yaml"), "Where is order 1042?"])

    assert result.exit_code == 2
    assert "journal-ed25519.pem is not an unencrypted PEM private key" in result.output
    assert "Traceback" not in result.output


def test_bad_public_key_file_is_a_one_line_error(env: Path) -> None:
    _run(env, "Where is order 1042?")
    (env / "bad.pub").write_text("nope\n")

    result = cli.invoke(app, ["audit", "verify", "--public-key", str(env / "bad.pub")])

    assert result.exit_code == 2
    assert "bad.pub is not a PEM public key" in result.output


CONDITIONAL_CHARTER = """
name: desk
tools: {allow: [lookup_order]}
rules:
  - id: no-big-order-ids
    effect: deny
    tools: [lookup_order]
    when: context.args.order_id > 9000
    reason: order ids above 9000 belong to another company
"""


def test_policy_check_validates_an_agent_file(env: Path) -> None:
    result = cli.invoke(app, ["policy", "check", str(env / "agent.yaml")])

    assert result.exit_code == 0
    assert "valid: charter desk" in result.output
    assert "allow (tools.allow)" in result.output


def test_policy_check_prints_compiled_cedar(env: Path) -> None:
    (env / "charter.yaml").write_text(CONDITIONAL_CHARTER)
    agent = (env / "agent.yaml").read_text().split("charter:")[0] + "charter: charter.yaml\n"
    (env / "agent.yaml").write_text(agent)

    result = cli.invoke(app, ["policy", "check", "--cedar", str(env / "agent.yaml")])

    assert result.exit_code == 0
    assert "depends on the call" in result.output
    assert '@id("no-big-order-ids")' in result.output
    assert "context.args.order_id > 9000" in result.output


def test_policy_check_of_a_bad_condition_is_a_one_line_error(env: Path) -> None:
    (env / "bad.charter.yaml").write_text(
        "name: c\nrules:\n  - {id: x, effect: deny, when: 'context.args.a >'}\n"
    )

    result = cli.invoke(app, ["policy", "check", str(env / "bad.charter.yaml")])

    assert result.exit_code == 2
    assert "rules.0.when: invalid Cedar condition" in result.output


def test_policy_explain_shows_the_matched_rule_from_the_journal(env: Path) -> None:
    (env / "charter.yaml").write_text(CONDITIONAL_CHARTER)
    agent = (env / "agent.yaml").read_text().split("charter:")[0] + "charter: charter.yaml\n"
    (env / "agent.yaml").write_text(agent)
    cli.invoke(app, ["run", str(env / "agent.yaml"), "Where is order 9999?"])
    (started,) = _journal(env).records_of_kind("run.started")
    (env / "charter.yaml").write_text("name: changed-since\n")  # the journal must suffice

    result = cli.invoke(app, ["policy", "explain", started.run_id[:10], "1"])

    assert result.exit_code == 0, result.output
    assert "verdict deny by no-big-order-ids" in result.output
    assert "when context.args.order_id > 9000" in result.output
    assert "order ids above 9000 belong to another company" in result.output


def test_policy_explain_of_a_missing_step_is_a_one_line_error(env: Path) -> None:
    _run(env, "Where is order 1042?")
    (started,) = _journal(env).records_of_kind("run.started")

    result = cli.invoke(app, ["policy", "explain", started.run_id, "99"])

    assert result.exit_code == 2
    assert "has no step 99" in result.output


def test_paused_agent_does_not_run_until_resumed(env: Path) -> None:
    agent_file = ["--agent-file", str(env / "agent.yaml")]
    paused = cli.invoke(
        app, ["agents", "pause", "order-desk", "--reason", "incident 42", *agent_file]
    )
    blocked = cli.invoke(app, ["run", str(env / "agent.yaml"), "Where is order 1042?"])
    listed = cli.invoke(app, ["controls"])
    cli.invoke(app, ["agents", "resume", "order-desk"])
    after = cli.invoke(app, ["run", str(env / "agent.yaml"), "Where is order 1042?"])

    assert paused.exit_code == 0
    assert blocked.exit_code == 5  # stopped
    assert "paused by an operator: incident 42" in blocked.output
    assert "paused agent order-desk: incident 42" in listed.output
    assert after.exit_code == 0


def test_revoked_tool_is_denied_and_the_actor_journaled(env: Path) -> None:
    revoked = cli.invoke(
        app,
        ["tools", "revoke", "lookup_order", "--reason", "leak", "--actor", "secops", "--new-name"],
    )
    result = cli.invoke(app, ["run", str(env / "agent.yaml"), "Where is order 1042?"])

    assert revoked.exit_code == 0
    assert result.exit_code == 4
    assert "deny by inventory.revoked" in result.output
    (control,) = _journal(env).records_of_kind("control.revoke")
    assert control.payload == {
        "tool": "lookup_order",
        "agent": None,
        "actor": "secops",
        "reason": "leak",
    }


def test_restored_tool_runs_again(env: Path) -> None:
    cli.invoke(app, ["tools", "revoke", "lookup_order", "--reason", "leak", "--new-name"])
    cli.invoke(app, ["tools", "restore", "lookup_order"])

    result = cli.invoke(app, ["run", str(env / "agent.yaml"), "Where is order 1042?"])

    assert "allow by tools.allow" in result.output
    assert "no agent paused or supervised, no tool revoked" in cli.invoke(app, ["controls"]).output


def test_show_exits_6_for_a_rolled_back_run_and_5_for_a_cancelled_one(env: Path) -> None:
    from charter import Charter, Runner, tool
    from charter.runtime._rollback import rollback
    from charter.testing import ScriptedReasoner, call, make_agent, respond

    tagged: list[int] = []

    def untag(*, result: object, order_id: int) -> None:
        tagged.remove(order_id)

    @tool(side_effect="write", compensate=untag)
    def tag(order_id: int) -> str:
        """Tag an order."""
        tagged.append(order_id)
        return "tagged"

    journal = _journal(env)
    asking = Charter.model_validate(
        {"name": "c", "rules": [{"id": "ask", "effect": "ask", "tools": ["tag"]}]}
    )
    runner = Runner(journal)
    try:
        done = make_agent([tag], ScriptedReasoner([call("tag", order_id=1), respond("ok")]))
        undone = runner.run(done, "tag 1")
        rollback(journal, done, undone.run_id, actor="ops")
        held = make_agent([tag], ScriptedReasoner([call("tag", order_id=2)]), charter=asking)
        waiting = runner.run(held, "tag 2")
        pending = cli.invoke(app, ["show", waiting.run_id])
        runner.cancel(waiting.run_id, actor="ops", reason="not needed")
    finally:
        runner.close()

    rolled = cli.invoke(app, ["show", undone.run_id])
    cancelled = cli.invoke(app, ["show", waiting.run_id])

    assert tagged == []
    assert pending.exit_code == 3 and "outcome" not in pending.output  # not finished
    assert rolled.exit_code == 6, rolled.output
    assert "outcome rolled_back" in rolled.output
    assert cancelled.exit_code == 5, cancelled.output
    assert "outcome cancelled" in cancelled.output
