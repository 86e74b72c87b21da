"""`charter runs` on a SQLite journal file reads it through sqlite3 alone: the table is the
one the read model gives, and whatever sqlite3 cannot read is read (or refused, in one
line) the general way."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter import Journal, Runner, tool
from charter.cli import app
from charter.journal._file_reads import FileReads
from charter.testing import ScriptedReasoner, call, make_agent, respond

cli = CliRunner()


@tool
def lookup_order(order_id: int) -> dict[str, int]:
    """Look up an order."""
    return {"order_id": order_id}


@pytest.fixture
def path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default journal of a CHARTER_HOME, with three runs (one damaged)."""
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    path = tmp_path / "home" / "journal.db"
    journal = Journal(f"sqlite:///{path}")
    runner = Runner(journal)
    for order in range(3):
        script = ScriptedReasoner([call("lookup_order", order_id=order), respond("ok")])
        runner.run(make_agent([lookup_order], script), f"Where is order {order}?")
    runner.close()
    last = journal.records_of_kind("run.finished")[-1]
    journal.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE journal_records SET payload = '[]' WHERE seq = ?", [last.seq])
    return path


def _listed(*argv: str) -> str:
    result = cli.invoke(app, ["runs", *argv])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_table_is_the_one_the_read_model_gives(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _listed()
    monkeypatch.setenv("CHARTER_DATABASE_URL", f"sqlite+pysqlite:///{path}")  # the general way
    general = _listed()

    assert fast == general
    assert fast.count("Where is order") == 2 and "damaged" in fast
    assert _listed("--limit", "1") != fast


def test_a_read_sqlite3_fails_is_read_again_the_general_way(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = _listed()

    def malformed(*args: object, **kwargs: object) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(FileReads, "started_page", malformed)

    assert _listed() == fast


def test_a_directory_instead_of_the_journal_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "home" / "journal.db").mkdir(parents=True)
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)

    result = cli.invoke(app, ["runs"])

    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: no journal at {tmp_path / 'home' / 'journal.db'}: it is a directory; check "
        "CHARTER_HOME or CHARTER_DATABASE_URL (`charter run` or `charter demo` creates it)"
    ]


def test_a_file_that_is_not_a_database_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "journal.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4080)
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)

    result = cli.invoke(app, ["runs"])

    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot open journal at"), lines
