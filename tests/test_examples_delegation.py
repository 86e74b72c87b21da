"""The delegation example runs as documented: a front desk hands a refund to billing."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter import Journal, Runner, load_agent
from charter.demo.world import connect, create_world, default_world_path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "delegation"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path))
    return create_world(default_world_path())


def _refunded_cents(world: Path, order_id: int) -> int:
    with connect(world) as conn:
        row = conn.execute(
            "SELECT COALESCE(-SUM(amount_cents), 0) FROM payments "
            "WHERE order_id = ? AND kind = 'refund'",
            (order_id,),
        ).fetchone()
    return int(row[0])


def test_the_front_desk_waits_for_its_approvers_then_billing_refunds(world: Path) -> None:
    agent = load_agent(EXAMPLES / "front-desk.agent.yaml")
    journal = Journal("sqlite://")
    runner = Runner(journal)

    run = runner.run(agent, "Refund order 1042: item arrived damaged", actor="sam")
    assert (run.status, _refunded_cents(world, 1042)) == ("waiting", 0)
    request = runner.approvals.get(str(run.waiting_for)).request
    assert request.agent == "billing" and request.approvers_at(0) == ["dana", "lee"]
    runner.approvals.approve(request.request_id, "dana", "photos attached")
    resumed = runner.resume(agent, run.run_id)

    assert resumed.status == "completed", resumed.error
    assert resumed.answer is not None and "Refunded order 1042" in resumed.answer
    assert _refunded_cents(world, 1042) == 18950
    assert journal.verify().ok


def test_resuming_billings_run_by_its_own_id_resumes_the_front_desk(world: Path) -> None:
    agent = load_agent(EXAMPLES / "front-desk.agent.yaml")
    runner = Runner(Journal("sqlite://"))
    run = runner.run(agent, "Refund order 1042: item arrived damaged", actor="sam")
    request = runner.approvals.get(str(run.waiting_for)).request
    runner.approvals.approve(request.request_id, "lee", "ok")

    resumed = runner.resume(agent.delegates["ask_billing"].agent, request.run_id)

    assert resumed.run_id == run.run_id and resumed.status == "completed"
    assert _refunded_cents(world, 1042) == 18950


def test_the_front_desks_charter_denies_billing_an_email(world: Path) -> None:
    agent = load_agent(EXAMPLES / "front-desk.agent.yaml")
    billing = agent.delegates["ask_billing"].agent
    send_email = billing.inventory.get("send_email")
    from charter.runtime._controls import ControlState
    from charter.runtime._decide import CallState, ProposedCall, decide

    args = {"to": "maya@example.com", "subject": "hi", "body": "hello"}
    args = send_email.validate_args(args).model_dump(mode="json")
    verdict = decide(
        ProposedCall(1, send_email, args, {}),
        CallState(billing, "run", billing.version_id, ControlState(), ancestors=(agent,)),
    )
    assert verdict.decision.verdict == "deny"
    assert "front-desk:tools.deny" in verdict.decision.rules


def test_approvals_show_names_the_chain_of_agents(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from charter.cli import app

    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    cli = CliRunner()
    started = cli.invoke(
        app,
        ["run", str(EXAMPLES / "front-desk.agent.yaml"), "Refund order 1042: damaged"],
    )
    assert started.exit_code == 3, started.output
    listed = cli.invoke(app, ["approvals", "list"])
    request_id = next(w for w in listed.output.split() if w.startswith("apr-"))
    shown = cli.invoke(app, ["approvals", "show", request_id])
    assert "asked through: front-desk -> billing" in shown.output


def test_policy_explain_names_the_charter_above_a_childs_decision(
    world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from charter.cli import app

    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    cli = CliRunner()
    cli.invoke(app, ["run", str(EXAMPLES / "front-desk.agent.yaml"), "Refund order 1042: x"])
    listed = cli.invoke(app, ["approvals", "list"])
    child_id = next(w for w in listed.output.split() if len(w) == 32)
    explained = cli.invoke(app, ["policy", "explain", child_id, "2"])
    assert explained.exit_code == 0, explained.output
    assert "front-desk:tools.allow" in explained.output
    assert "the charter of front-desk, which delegated this run" in explained.output
