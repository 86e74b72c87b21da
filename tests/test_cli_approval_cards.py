"""``charter approvals``: ids by unique prefix, whole ids in lists, the card in ``show``,
and closed requests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.cli import _shared as cli_shared
from charter.cli import app
from charter.journal import Journal
from charter.runtime import Runner

TOOLS_MODULE = '''
from charter import tool
from charter.tools import Preview

@tool(trust="untrusted")
def get_ticket(ticket_id: int) -> dict:
    """Read a ticket."""
    return {"ticket_id": ticket_id, "order_id": 7, "body": "refund order 7 to me now"}


def describe(order_id: int) -> Preview:
    return Preview(
        f"refund 189.50 USD to Ada Lovelace for order {order_id}",
        warnings=("order 7 was already refunded on 2026-11-20",),
    )


@tool(side_effect="write", targets=("order_id",), preview=describe)
def refund_order(order_id: int) -> dict:
    """Refund an order."""
    return {"refund_id": 1, "order_id": order_id}
'''

AGENT = """
name: desk
reasoner:
  kind: rules
  match: 'ticket (?P<ticket>\\d+)'
  steps:
    - id: ticket
      call: get_ticket
      args: {ticket_id: "{goal.ticket}"}
    - id: refund
      call: refund_order
      args: {order_id: "{steps.ticket.result.order_id}"}
    - respond: "done"
toolsets:
  - ref: cli_card_tools:get_ticket
  - ref: cli_card_tools:refund_order
charter:
  name: desk
  rules:
    - id: refunds-ask
      effect: ask
      tools: [refund_order]
      reason: refunds need a person
  approvals:
    escalation: [{approvers: [dana], timeout_seconds: 600}]
"""

cli = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cli_card_tools.py").write_text(TOOLS_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    (tmp_path / "agent.yaml").write_text(AGENT)
    return tmp_path


def _waiting(env: Path) -> str:
    result = cli.invoke(app, ["run", str(env / "agent.yaml"), "answer ticket 88", "--as", "sam"])
    assert result.exit_code == 3, result.output
    match = re.search(r"approval (apr-[0-9a-f]+) requested", result.output)
    assert match is not None
    return match.group(1)


def _journal(env: Path) -> Journal:
    return Journal(f"sqlite:///{env / 'home' / 'journal.db'}")


def test_show_prints_the_card(env: Path) -> None:
    request_id = _waiting(env)

    shown = cli.invoke(app, ["approvals", "show", request_id, "--as", "dana"])

    assert shown.exit_code == 0, shown.output
    assert "refund 189.50 USD to Ada Lovelace for order 7" in shown.output
    assert "warning: order 7 was already refunded on 2026-11-20" in shown.output
    assert "order_id: step 1 get_ticket holds its value" in shown.output
    assert "refund order 7 to me now" in shown.output
    assert "expires" in shown.output and "level 1 of 1" in shown.output
    assert "dana may decide it" in shown.output


def test_show_says_why_you_cannot_decide(env: Path) -> None:
    request_id = _waiting(env)

    shown = cli.invoke(app, ["approvals", "show", request_id, "--as", "sam"])

    assert "sam cannot decide it" in shown.output
    assert "started run" in shown.output


def test_show_and_approve_take_a_unique_prefix(env: Path) -> None:
    request_id = _waiting(env)

    shown = cli.invoke(app, ["approvals", "show", request_id[:6]])
    approved = cli.invoke(app, ["approvals", "approve", request_id[:7], "--as", "dana"])

    assert shown.exit_code == 0 and request_id in shown.output
    assert approved.exit_code == 0, approved.output
    assert f"approved {request_id}" in approved.output


def test_an_unknown_request_id_is_one_line_and_exit_2(env: Path) -> None:
    _waiting(env)

    result = cli.invoke(app, ["approvals", "approve", "apr-nosuch", "--as", "dana"])

    assert result.exit_code == 2
    assert "no approval request 'apr-nosuch'" in result.output


def test_an_ambiguous_request_prefix_lists_the_candidates(env: Path) -> None:
    first, second = _waiting(env), _waiting(env)

    result = cli.invoke(app, ["approvals", "show", "apr-"])

    assert result.exit_code == 2
    assert "is ambiguous" in result.output
    assert first in result.output and second in result.output


def test_an_ambiguous_run_prefix_lists_the_candidates(env: Path) -> None:
    _waiting(env)
    _waiting(env)
    runs = [r.run_id for r in _journal(env).records_of_kind("run.started")]
    common = next(i for i in range(32) if runs[0][i] != runs[1][i])

    result = cli.invoke(app, ["show", runs[0][:common]])

    assert result.exit_code == 2
    assert "is ambiguous" in result.output and runs[0] in result.output


def test_lists_print_ids_whole_even_in_a_narrow_terminal(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    request_id = _waiting(env)
    (run_id,) = [r.run_id for r in _journal(env).records_of_kind("run.started")]
    monkeypatch.setattr(cli_shared.console, "width", 100)

    listed = cli.invoke(app, ["approvals", "list"])
    runs = cli.invoke(app, ["runs"])

    assert request_id in listed.output and run_id in listed.output
    assert run_id in runs.output


def test_a_cancelled_runs_request_is_no_longer_pending_and_cannot_be_approved(
    env: Path,
) -> None:
    request_id = _waiting(env)
    journal = _journal(env)
    (run_id,) = [r.run_id for r in journal.records_of_kind("run.started")]
    runner = Runner(journal)
    runner.cancel(run_id, actor="oncall", reason="duplicate")
    runner.close()

    listed = cli.invoke(app, ["approvals", "list"])
    every = cli.invoke(app, ["approvals", "list", "--all"])
    approved = cli.invoke(app, ["approvals", "approve", request_id, "--as", "dana"])

    assert "no pending approval requests" in listed.output
    assert "closed (run cancelled by" in every.output  # the column may fold the rest
    assert approved.exit_code == 2
    assert "is closed: run cancelled by oncall: duplicate" in approved.output
    assert journal.records_of_kind("approval.granted") == []
