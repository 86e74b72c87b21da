"""Redaction from the command line: a run, its transcript, policy explain, audit verify,
and a charter whose redaction rules do not load."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.cli import app
from charter.demo.world import connect, create_world, default_world_path
from charter.journal import Journal

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "redact.agent.yaml"
cli = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    create_world(default_world_path())
    return tmp_path


def _email(customer_id: int) -> str:
    with connect(default_world_path()) as conn:
        row = conn.execute("SELECT email FROM customers WHERE id = ?", (customer_id,)).fetchone()
    return str(row[0])


def test_a_redacted_run_explains_each_masked_value_and_verifies(home: Path) -> None:
    ran = cli.invoke(app, ["run", str(EXAMPLE), "Answer ticket 88"])
    (started,) = Journal(f"sqlite:///{home / 'journal.db'}").records_of_kind("run.started")

    masked = cli.invoke(app, ["policy", "explain", started.run_id[:10], "2"])
    restored = cli.invoke(app, ["policy", "explain", started.run_id[:10], "3"])
    shown = cli.invoke(app, ["show", started.run_id[:10]])
    verified = cli.invoke(app, ["audit", "verify"])
    checked = cli.invoke(app, ["policy", "check", str(EXAMPLE)])

    assert ran.exit_code == 0, ran.output
    assert (
        "masked email [redacted:email#" in ran.output and "(redact.customer-record)" in ran.output
    )
    assert "restored body [redacted:email#" in ran.output
    assert "masked email of the output: [redacted:email#" in masked.output
    assert "(rule redact.customer-record, hmac " in masked.output
    assert "restored [redacted:email#" in restored.output and "into body" in restored.output
    assert verified.exit_code == 0, verified.output
    assert checked.exit_code == 0 and "redact.customer-record:" in checked.output
    email = _email(17)
    for output in (ran.output, masked.output, restored.output, shown.output):
        assert email not in output


def test_a_bad_regex_in_a_charter_is_one_line_and_exit_2(home: Path) -> None:
    bad = home / "bad.agent.yaml"
    bad.write_text(
        EXAMPLE.read_text().replace(
            "patterns: [email, phone]", "patterns: [{name: ref, regex: 'TK-(\\d+'}]"
        )
    )

    checked = cli.invoke(app, ["policy", "check", str(bad)])
    ran = cli.invoke(app, ["run", str(bad), "Answer ticket 88"])

    for result in (checked, ran):
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, lines
        assert "redact.1.patterns: pattern 0 (ref): invalid regular expression" in lines[0]


def test_a_restore_into_an_argument_a_tool_lacks_is_one_line_and_exit_2(home: Path) -> None:
    bad = home / "bad.agent.yaml"
    bad.write_text(
        EXAMPLE.read_text().replace("restore: [reply_ticket.body]", "restore: [reply_ticket.to]", 1)
    )

    ran = cli.invoke(app, ["run", str(bad), "Answer ticket 88"])

    assert ran.exit_code == 2, ran.output
    assert "redact.0.restore.0: 'reply_ticket' has no 'to'" in ran.output
    assert len(ran.output.strip().splitlines()) == 1
