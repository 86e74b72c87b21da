"""``charter report``: the HTML file, ``--json``, and a one-line error for each bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from charter import Journal
from charter.cli._report import register
from charter.cli._shared import console, open_journal
from observe.test_costs import populate

runner = CliRunner()


def _app() -> typer.Typer:
    """The CLI's ``report`` command with the CLI's own journal, console and error path."""
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, so the command keeps its name
    register(app, console, open_journal)
    return app


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHARTER_DATABASE_URL", f"sqlite:///{tmp_path / 'journal.db'}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def journal(home: Path) -> Path:
    opened = Journal(f"sqlite:///{home / 'journal.db'}")
    populate(opened)
    opened.close()
    return home


def test_report_writes_one_html_file(journal: Path) -> None:
    result = runner.invoke(_app(), ["report", "--out", "costs.html"])

    assert result.exit_code == 0, result.output
    assert "wrote costs.html: 9 run(s) of 2 agent(s)" in result.output
    html = (journal / "costs.html").read_text(encoding="utf-8")
    assert "<td>refunder</td>" in html
    assert "$0.3660" in html


def test_report_defaults_to_report_html(journal: Path) -> None:
    result = runner.invoke(_app(), ["report"])

    assert result.exit_code == 0, result.output
    assert (journal / "report.html").is_file()


def test_report_json_prints_the_figures(journal: Path) -> None:
    result = runner.invoke(_app(), ["report", "--json", "--agent", "refunder"])

    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["agent"] == "refunder"
    assert figures["overall"]["runs"] == 7
    assert figures["overall"]["cost_usd"] == pytest.approx(0.366)
    assert figures["agents"][0]["hours_saved"] == pytest.approx(54 / 60)
    assert not (journal / "report.html").exists()


def test_report_on_a_period(journal: Path) -> None:
    result = runner.invoke(
        _app(), ["report", "--json", "--since", "2020-01-01", "--until", "2020-01-31"]
    )

    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert (figures["since"], figures["until"]) == (
        "2020-01-01T00:00:00+00:00",
        "2020-02-01T00:00:00+00:00",
    )
    assert figures["overall"]["runs"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "since 'yesterday' is neither a date nor a time"),
        (["--until", "2026-13-45"], "until '2026-13-45' is neither a date nor a time"),
        (["--since", "2026-03-10", "--until", "2026-03-01"], "the period is empty"),
        (["--agent", "ghost"], "no runs of agent 'ghost'"),
    ],
)
def test_bad_input_is_a_one_line_error(journal: Path, args: list[str], message: str) -> None:
    result = runner.invoke(_app(), ["report", *args])

    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (journal / "report.html").exists()


def test_an_unwritable_out_is_a_one_line_error(journal: Path) -> None:
    result = runner.invoke(_app(), ["report", "--out", "missing/dir/report.html"])

    assert result.exit_code == 2
    assert "cannot write the report to missing/dir/report.html" in result.output


def test_an_empty_journal_gives_a_report_saying_there_were_no_runs(home: Path) -> None:
    result = runner.invoke(_app(), ["report"])

    assert result.exit_code == 0, result.output
    assert "0 run(s) of 0 agent(s)" in result.output
    assert "No runs started in this period" in (home / "report.html").read_text()


def test_an_unknown_agent_in_an_empty_journal_says_there_are_no_runs(home: Path) -> None:
    result = runner.invoke(_app(), ["report", "--agent", "ghost"])

    assert result.exit_code == 2
    assert "the journal has no runs" in result.output
