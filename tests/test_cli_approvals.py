"""The approval commands: list, show, approve, deny, and ``runs resume``."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.cli import app
from charter.journal import Journal

TOOLS_MODULE = '''
from charter import tool

REFUNDS = []

@tool(side_effect="write", targets=("order_id",))
def refund_order(order_id: int, amount_cents: int) -> dict:
    """Refund an order."""
    REFUNDS.append(order_id)
    return {"refund_id": len(REFUNDS), "order_id": order_id}
'''

AGENT = """
name: refunder
reasoner:
  kind: rules
  match: 'refund (?P<order_id>\\d+) for (?P<cents>\\d+)'
  steps:
    - id: refund
      call: refund_order
      args: {order_id: "{goal.order_id}", amount_cents: "{goal.cents}"}
    - when: "{steps.refund.result.refund_id}"
      respond: "Refunded order {goal.order_id}."
    - respond: "Not refunded: {steps.refund.error}"
toolsets:
  - ref: cli_approval_tools:refund_order
charter:
  name: refunds
  rules:
    - id: big-refunds
      effect: ask
      tools: [refund_order]
      when: context.args.amount_cents > 5000
      reason: refunds over $50 need a manager
  approvals:
    escalation: [{approvers: [dana]}]
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cli_approval_tools.py").write_text(TOOLS_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    (tmp_path / "agent.yaml").write_text(AGENT)
    return tmp_path


cli = CliRunner()


def _waiting_run(env: Path) -> str:
    result = cli.invoke(app, ["run", str(env / "agent.yaml"), "refund 7 for 9000", "--as", "sam"])
    assert result.exit_code == 3, result.output
    match = re.search(r"approval (apr-[0-9a-f]+) requested", result.output)
    assert match is not None, result.output
    return match.group(1)


def test_a_run_that_asks_waits_and_is_listed(env: Path) -> None:
    request_id = _waiting_run(env)

    listed = cli.invoke(app, ["approvals", "list"])
    runs = cli.invoke(app, ["runs"])

    assert request_id in listed.output and "refund_order" in listed.output
    assert "approvers: dana" in listed.output
    assert "waiting" in runs.output


def test_approving_resumes_the_run_to_completion(env: Path) -> None:
    request_id = _waiting_run(env)

    result = cli.invoke(app, ["approvals", "approve", request_id, "--as", "dana"])

    assert result.exit_code == 0, result.output
    assert f"approved {request_id} as dana" in result.output
    assert "Refunded order 7." in result.output and "run completed" in result.output
    assert "completed" in cli.invoke(app, ["runs"]).output
    shown = cli.invoke(app, ["approvals", "show", request_id]).output
    assert "approved by dana" in shown and "signed by key" in shown


def test_denying_resumes_the_run_with_the_denial(env: Path) -> None:
    request_id = _waiting_run(env)

    result = cli.invoke(
        app, ["approvals", "deny", request_id, "--as", "dana", "--reason", "outside policy"]
    )

    assert result.exit_code == 4, result.output  # its outcome: denied
    assert "dana denied the call: outside policy" in result.output
    assert "run completed" in result.output


def test_approve_then_resume_separately(env: Path) -> None:
    request_id = _waiting_run(env)
    cli.invoke(app, ["approvals", "approve", request_id, "--as", "dana", "--no-resume"])
    journal = Journal(f"sqlite:///{env / 'home' / 'journal.db'}")
    (run_id,) = {r.run_id for r in journal.records_of_kind("run.waiting")}

    result = cli.invoke(app, ["runs", "resume", run_id[:10], "--as", "dana"])

    assert result.exit_code == 0, result.output
    assert "run completed" in result.output


def test_approval_errors_are_one_line_and_change_nothing(env: Path) -> None:
    request_id = _waiting_run(env)

    not_eligible = cli.invoke(app, ["approvals", "approve", request_id, "--as", "mallory"])
    own = cli.invoke(app, ["approvals", "approve", request_id, "--as", "sam"])
    unknown = cli.invoke(app, ["approvals", "approve", "apr-0000", "--as", "dana"])
    journal = Journal(f"sqlite:///{env / 'home' / 'journal.db'}")
    (run_id,) = {r.run_id for r in journal.records_of_kind("run.waiting")}
    early = cli.invoke(app, ["runs", "resume", run_id])
    missing = cli.invoke(app, ["runs", "resume", "ffff"])

    assert not_eligible.exit_code == 2 and "'mallory' may not decide" in not_eligible.output
    assert own.exit_code == 2 and "'sam' started run" in own.output
    assert unknown.exit_code == 2 and "no approval request 'apr-0000'" in unknown.output
    assert early.exit_code == 2 and "waiting for approval" in early.output
    assert missing.exit_code == 2 and "no run with id 'ffff'" in missing.output
    assert request_id in cli.invoke(app, ["approvals", "list"]).output


def test_runs_list_still_works_with_options(env: Path) -> None:
    _waiting_run(env)

    result = cli.invoke(app, ["runs", "--limit", "1"])

    assert result.exit_code == 0 and "refunder" in result.output


ANOMALY_AGENT = AGENT.replace(
    "  approvals:\n",
    """  anomalies:
    - id: any-refund
      kind: tool_rate
      tools: [refund_order]
      max_calls: 1
      per_seconds: 60
      playbook: [notify]
  notifications:
    webhook_url: http://127.0.0.1:9/unreachable
    timeout_seconds: 1
  approvals:
""",
)


def test_notifications_list_and_deliver(env: Path) -> None:
    (env / "agent.yaml").write_text(ANOMALY_AGENT)
    for goal in ("refund 1 for 100", "refund 2 for 100"):
        cli.invoke(app, ["run", str(env / "agent.yaml"), goal, "--as", "sam"])

    listed = cli.invoke(app, ["notifications", "list"])
    delivered = cli.invoke(app, ["notifications", "deliver"])

    assert listed.exit_code == 0 and "anomaly any-refund" in listed.output
    assert delivered.exit_code == 0 and "failed" in delivered.output
    assert "(2 attempt(s))" in cli.invoke(app, ["notifications", "list"]).output


def test_policy_explain_shows_the_ask_the_approval_and_the_recheck(env: Path) -> None:
    request_id = _waiting_run(env)
    cli.invoke(app, ["approvals", "approve", request_id, "--as", "dana"])
    journal = Journal(f"sqlite:///{env / 'home' / 'journal.db'}")
    (run_id,) = {r.run_id for r in journal.records_of_kind("run.resumed")}

    result = cli.invoke(app, ["policy", "explain", run_id, "1"])

    assert result.exit_code == 0, result.output
    assert "verdict ask by big-refunds" in result.output
    assert "governed again when the run resumed" in result.output
    assert f"{request_id} approved by dana" in result.output
    assert "approved by dana (" in result.output  # the receipt was used


def test_runs_rollback_reports_what_cannot_be_undone(env: Path) -> None:
    cli.invoke(app, ["run", str(env / "agent.yaml"), "refund 7 for 100", "--as", "sam"])
    journal = Journal(f"sqlite:///{env / 'home' / 'journal.db'}")
    (run_id,) = {r.run_id for r in journal.records_of_kind("run.finished")}

    result = cli.invoke(app, ["runs", "rollback", run_id, "--as", "oncall"])
    again = cli.invoke(app, ["runs", "rollback", run_id, "--as", "oncall"])

    assert result.exit_code == 1, result.output
    assert "irreversible refund_order" in result.output
    assert "rollback incomplete" in result.output
    assert again.exit_code == 2 and "already rolled back" in again.output


def test_runs_replay_and_fork(env: Path) -> None:
    request_id = _waiting_run(env)
    cli.invoke(app, ["approvals", "approve", request_id, "--as", "dana"])
    journal = Journal(f"sqlite:///{env / 'home' / 'journal.db'}")
    (run_id,) = {r.run_id for r in journal.records_of_kind("run.finished")}
    (env / "loose.yaml").write_text(AGENT.replace("effect: ask", "effect: deny"))

    same = cli.invoke(app, ["runs", "replay", run_id])
    stricter = cli.invoke(app, ["runs", "replay", run_id, "--agent", str(env / "loose.yaml")])
    refused = cli.invoke(app, ["runs", "fork", run_id, "--at", "1", "--as", "kim"])
    fork = cli.invoke(
        app, ["runs", "fork", run_id, "--at", "1", "--as", "kim", "--reexecute-writes"]
    )
    bad = cli.invoke(app, ["runs", "fork", run_id, "--at", "7"])

    assert same.exit_code == 0 and "0 of 2 step(s) decided differently" in same.output
    assert stricter.exit_code == 1 and "now deny by big-refunds changed" in stricter.output
    assert refused.exit_code == 2 and "would redo 1 write(s)" in refused.output
    assert "refund_order" in refused.output and "--reexecute-writes" in refused.output
    assert fork.exit_code == 3 and "waiting for approval" in fork.output
    assert bad.exit_code == 2 and "cannot fork at step 7" in bad.output


def test_runs_recover_refuses_a_finished_run(env: Path) -> None:
    cli.invoke(app, ["run", str(env / "agent.yaml"), "refund 7 for 100", "--as", "sam"])
    journal = Journal(f"sqlite:///{env / 'home' / 'journal.db'}")
    (run_id,) = {r.run_id for r in journal.records_of_kind("run.finished")}

    result = cli.invoke(app, ["runs", "recover", run_id])

    assert result.exit_code == 2 and "is finished; nothing to recover" in result.output


def test_submit_refuses_a_bad_agent_file_before_queueing(env: Path) -> None:
    result = cli.invoke(app, ["submit", str(env / "missing.yaml"), "pay 7"])

    assert result.exit_code == 2 and "missing.yaml" in result.output
    assert not (env / "home" / "workflows.sqlite").exists()


def test_queueing_the_resume_of_a_run_that_does_not_wait_is_refused(env: Path) -> None:
    cli.invoke(app, ["run", str(env / "agent.yaml"), "refund 7 for 100", "--as", "sam"])
    journal = Journal(f"sqlite:///{env / 'home' / 'journal.db'}")
    (run_id,) = {r.run_id for r in journal.records_of_kind("run.finished")}

    result = cli.invoke(app, ["runs", "resume", run_id, "--queue"])

    assert result.exit_code == 2 and "is not waiting for an approval" in result.output
    assert not (env / "home" / "workflows.sqlite").exists()  # nothing was queued


def test_queueing_a_resume_enqueues_one_workflow_per_request(env: Path) -> None:
    request_id = _waiting_run(env)

    approved = cli.invoke(app, ["approvals", "approve", request_id, "--as", "dana", "--queue"])
    again = cli.invoke(app, ["runs", "resume", _only_run(env), "--queue", "--as", "dana"])

    assert approved.exit_code == 0, approved.output
    assert "queued the resume" in approved.output
    assert again.exit_code == 0, again.output
    with sqlite3.connect(env / "home" / "workflows.sqlite") as conn:
        queued = conn.execute("SELECT workflow_uuid, status FROM workflow_status").fetchall()
    assert queued == [(f"{_only_run(env)}:{request_id}", "ENQUEUED")]


def _only_run(env: Path) -> str:
    journal = Journal(f"sqlite:///{env / 'home' / 'journal.db'}")
    (run_id,) = {r.run_id for r in journal.records_of_kind("run.started")}
    return run_id


def test_replay_of_an_unknown_run_is_one_line_and_exit_2(env: Path) -> None:
    result = cli.invoke(app, ["runs", "replay", "nope"])

    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line == "error: no run with id 'nope'; `charter runs` lists them"
