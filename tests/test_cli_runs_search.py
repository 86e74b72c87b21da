"""``charter runs`` with filters: the runs search, by agent, tool, status, outcome, text
and start time (SQLite, and PostgreSQL when ``CHARTER_TEST_POSTGRES_URL`` is set); a bad
option is one line and exit status 2."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter import Journal, Runner, tool
from charter.cli import app
from charter.cli._runs_found import since_moment
from charter.testing import ScriptedReasoner, call, make_agent, respond
from databases import fresh_url

cli = CliRunner()


@tool
def find_order(order_id: int) -> dict[str, int]:
    """Find an order."""
    return {"order_id": order_id}


@tool
def find_customer(customer_id: int) -> dict[str, int]:
    """Find a customer."""
    return {"customer_id": customer_id}


@pytest.fixture(params=["sqlite", "postgresql"])
def runner(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Runner]:
    url = fresh_url(request.param, tmp_path)
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHARTER_DATABASE_URL", url)
    journal = Journal(url)
    opened = Runner(journal)
    yield opened
    opened.close()
    journal.close()


def _run(runner: Runner, goal: str, tool_name: str = "find_order", name: str = "finder") -> str:
    arg = tool_name.split("_")[1] + "_id"
    script = [call(tool_name, **{arg: 1}), respond("ok")]
    agent = make_agent([find_order, find_customer], ScriptedReasoner(script), name=name)
    return runner.run(agent, goal, actor="ana").run_id


def _listed(*args: str) -> list[str]:
    result = cli.invoke(app, ["runs", *args])
    assert result.exit_code == 0, result.output
    return re.findall(r"^ ?([0-9a-f]{32}) ", result.output, re.MULTILINE)


def test_each_option_filters_through_the_runs_search(runner: Runner) -> None:
    order = _run(runner, "find order 12")
    other = _run(runner, "find order 13", name="other")
    customer = _run(runner, "find customer 12", "find_customer")

    assert _listed("--agent", "other") == [other]
    assert _listed("--tool", "find_customer") == [customer]
    assert _listed("--search", "order 12") == [order]
    assert _listed("--search", other[:-4]) == [other]
    assert _listed("--status", "completed", "--outcome", "succeeded", "--agent", "finder") == [
        customer,
        order,
    ]
    assert _listed("--since", "1h") == [customer, other, order]
    assert _listed("--since", (datetime.now(UTC) + timedelta(hours=1)).isoformat()) == []


def test_no_match_says_so_and_a_cut_list_says_more_match(runner: Runner) -> None:
    for n in range(3):
        _run(runner, f"find order {n}")

    none = cli.invoke(app, ["runs", "--outcome", "denied"])
    cut = cli.invoke(app, ["runs", "--tool", "find_order", "--limit", "2"])

    assert (none.exit_code, none.output.strip()) == (0, "no runs match")
    assert cut.exit_code == 0
    assert "the newest 2 shown; more match (--limit)" in cut.output


def test_without_options_the_plain_list_is_unchanged(runner: Runner) -> None:
    ids = [_run(runner, f"find order {n}") for n in range(2)]

    assert _listed() == ids[::-1]


def test_a_goal_with_markup_is_printed_as_written(runner: Runner) -> None:
    _run(runner, "find order [bold]1[/bold]")

    result = cli.invoke(app, ["runs", "--search", "order"])

    assert "find order [bold]1[/bold]" in result.output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--status", "done"], "--status 'done' is unknown: one of running, waiting,"),
        (["--outcome", "great"], "--outcome 'great' is unknown: one of succeeded,"),
        (["--since", "yesterday"], "--since: 'yesterday' is neither a time ago"),
        (["--since", "2026-13-01"], "--since: '2026-13-01' is neither"),
        (["--since", " "], "--since is blank"),
        (["--agent", ""], "--agent is blank"),
        (["--tool", "x" * 201], "--tool is longer than 200 characters"),
        (["--tool", "find_order", "--limit", "0"], "--limit must be at least 1, not 0"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_2(runner: Runner, args: list[str], said: str) -> None:
    _run(runner, "find order 1")

    result = cli.invoke(app, ["runs", *args])

    assert result.exit_code == 2
    assert result.output.startswith(f"error: {said}")
    assert len(result.output.strip().splitlines()) == 1


def test_a_bad_option_reads_no_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"not a database at all" * 100)
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHARTER_DATABASE_URL", f"sqlite:///{broken}")

    refused = cli.invoke(app, ["runs", "--status", "done"])
    damaged = cli.invoke(app, ["runs", "--status", "completed"])

    assert refused.exit_code == 2 and "--status 'done' is unknown" in refused.output
    assert damaged.exit_code == 2 and "is not a database" in damaged.output


def test_since_takes_times_ago_and_dates() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    assert since_moment("30m", now=now) == now - timedelta(minutes=30)
    assert since_moment("2h", now=now) == now - timedelta(hours=2)
    assert since_moment("3d", now=now) == now - timedelta(days=3)
    assert since_moment("1w", now=now) == now - timedelta(weeks=1)
    assert since_moment("2026-12-07") == datetime(2026, 12, 7, tzinfo=UTC)
    assert since_moment("2026-12-07T13:45+01:00") == datetime(2026, 12, 7, 12, 45, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither a time ago"):
        since_moment("2x")
    with pytest.raises(ValueError, match="neither a time ago"):
        since_moment("9999999d")  # past the calendar: refused, not a crash
