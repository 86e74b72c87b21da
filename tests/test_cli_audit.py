"""The read-only commands (audit verify, runs, show, audit export): never create, migrate
or write a journal; refuse a missing, empty or damaged one in one line; say what the
signatures cover."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from charter.cli import app
from charter.journal import Journal
from tampering import rewrite_chain_from
from test_cli import AGENT, TOOLS_MODULE

cli = CliRunner()
READERS = [["audit", "verify"], ["runs"], ["show", "abc"], ["audit", "export"], ["trace", "abc"]]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cli_test_tools.py").write_text(TOOLS_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)
    (tmp_path / "agent.yaml").write_text(AGENT)
    return tmp_path


def _run(env: Path, goal: str = "Where is order 1042?") -> None:
    result = cli.invoke(app, ["run", str(env / "agent.yaml"), goal])
    assert result.exit_code == 0, result.output


def _db(env: Path) -> Path:
    return env / "home" / "journal.db"


def _journal(env: Path) -> Journal:
    return Journal(f"sqlite:///{_db(env)}")


def _one_line_error(output: str) -> str:
    assert "Traceback" not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_a_reader_on_a_missing_journal_refuses_and_creates_nothing(
    env: Path, command: list[str]
) -> None:
    result = cli.invoke(app, command)

    assert result.exit_code == 2
    assert "no journal at" in _one_line_error(result.output)
    assert not (env / "home").exists()


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_a_reader_on_an_empty_file_refuses_and_leaves_it_empty(
    env: Path, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = env / "empty.db"
    empty.touch()
    monkeypatch.setenv("CHARTER_DATABASE_URL", f"sqlite:///{empty}")

    result = cli.invoke(app, command)

    assert result.exit_code == 2
    assert "the file is empty" in _one_line_error(result.output)
    assert empty.stat().st_size == 0
    assert sorted(p.name for p in env.iterdir() if p.name.startswith("empty")) == ["empty.db"]


def test_verify_refuses_a_journal_without_records(env: Path) -> None:
    _journal(env).close()  # the schema, no records

    result = cli.invoke(app, ["audit", "verify"])

    assert result.exit_code == 2
    assert "holds no records: nothing to verify" in _one_line_error(result.output)


def test_verify_does_not_write_to_the_journal_or_create_a_key(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc
    import sqlite3

    _run(env)
    monkeypatch.setenv("CHARTER_SIGNING_KEY", str(env / "absent.pem"))
    gc.collect()  # the run's own connections close (and checkpoint the WAL) now, not later
    with sqlite3.connect(_db(env)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = _contents(env)

    result = cli.invoke(app, ["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert _contents(env) == before
    assert not (env / "absent.pem").exists()


def _contents(env: Path) -> str:
    """A digest of the journal and its WAL (where a write would land first)."""
    wal = env / "home" / "journal.db-wal"
    data = _db(env).read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    return hashlib.sha256(data).hexdigest()


def test_verify_of_a_database_of_another_application_is_one_line(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    other = env / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    monkeypatch.setenv("CHARTER_DATABASE_URL", f"sqlite:///{other}")

    result = cli.invoke(app, ["audit", "verify"])

    assert result.exit_code == 2
    assert "holds no charter journal" in _one_line_error(result.output)


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_random_bytes_instead_of_a_journal_are_one_line(env: Path, command: list[str]) -> None:
    _db(env).parent.mkdir(parents=True)
    _db(env).write_bytes(os.urandom(8192))

    result = cli.invoke(app, command)

    assert result.exit_code == 2
    assert "file is not a database" in _one_line_error(result.output)


@pytest.mark.parametrize("command", READERS, ids=" ".join)
def test_a_truncated_journal_file_is_one_line(env: Path, command: list[str]) -> None:
    import sqlite3

    for n in range(12):
        _run(env, f"Where is order {n}?")
    with sqlite3.connect(_db(env)) as conn:  # everything into the main file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = _db(env).read_bytes()
    assert len(data) > 8 * 4096, "the journal spans pages to cut"
    _db(env).write_bytes(data[: len(data) // 2])
    for side in ("journal.db-wal", "journal.db-shm"):
        (env / "home" / side).unlink(missing_ok=True)

    result = cli.invoke(app, command)

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


@pytest.mark.parametrize("command", [["audit", "verify"], ["audit", "export"]], ids=" ".join)
def test_a_journal_with_damaged_pages_is_one_line(env: Path, command: list[str]) -> None:
    import gc
    import sqlite3

    for n in range(12):
        _run(env, f"Where is order {n}?")
    gc.collect()
    with sqlite3.connect(_db(env)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(_db(env).read_bytes())
    data[10 * 4096 : 14 * 4096] = os.urandom(4 * 4096)  # pages in the middle: opening works
    _db(env).write_bytes(bytes(data))

    result = cli.invoke(app, command)

    assert result.exit_code == 2, result.output
    assert "database file" in _one_line_error(result.output)
    assert "is damaged" in result.output


def test_a_read_the_database_fails_midway_is_one_line(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from sqlalchemy.exc import DatabaseError

    from charter.journal._file_reads import FileReads
    from charter.views import _runs as _queries

    _run(env)

    def malformed(*args: object, **kwargs: object) -> None:
        raise DatabaseError("SELECT", {}, sqlite3.DatabaseError("database disk image is malformed"))

    def malformed_file(*args: object, **kwargs: object) -> None:
        raise sqlite3.DatabaseError("database disk image is malformed")

    # Both reads fail: the one through sqlite3 alone gives way to the read model's.
    monkeypatch.setattr(FileReads, "kind_counts", malformed_file)
    monkeypatch.setattr(_queries, "list_runs", malformed)

    result = cli.invoke(app, ["runs"])

    assert result.exit_code == 2
    line = _one_line_error(result.output)
    assert "cannot read journal at" in line and "database disk image is malformed" in line


def test_verify_says_what_the_signatures_cover(env: Path) -> None:
    _run(env)
    head = len(list(_journal(env).records()))

    result = cli.invoke(app, ["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert f"records 1\N{EN DASH}{head} are covered by a signature made " in result.output
    assert "every record is signed" in result.output
    assert "journal intact" in result.output


def test_a_rewrite_whose_later_checkpoints_were_deleted_is_named(env: Path) -> None:
    _run(env, "Where is order 1?")
    (first,) = _journal(env).checkpoints()
    _run(env, "Where is order 2?")
    _run(env, "Where is order 3?")
    journal = _journal(env)
    head = len(list(journal.records()))
    ends = [r for r in journal.records_of_kind("run.finished") if r.seq > first.seq]
    # Edit a record after the first signature, recompute the chain, drop the later
    # checkpoints: the chain verifies, and only the signatures' coverage can tell.
    rewrite_chain_from(journal, first.seq + 3, '{"forged":true}')
    with journal.engine.begin() as conn:
        conn.execute(text("DELETE FROM journal_checkpoints WHERE seq > :s"), {"s": first.seq})

    plain = cli.invoke(app, ["audit", "verify"])
    expected = cli.invoke(app, ["audit", "verify", "--expect-signed-through", str(head)])

    assert plain.exit_code == 0, plain.output
    assert "journal intact" not in plain.output
    assert (
        f"records 1\N{EN DASH}{first.seq} are covered by a signature made "
        f"{first.ts[:10]} {first.ts[11:16]} UTC; records {first.seq + 1}\N{EN DASH}{head} "
        f"({head - first.seq}) are protected by the chain alone"
    ) in " ".join(plain.output.split())
    assert f"suspicious: {len(ends)} finished or waiting run(s) have records" in plain.output
    for end in ends:
        assert f"{end.run_id[:12]} (run.finished at seq {end.seq})" in plain.output
    assert expected.exit_code == 1
    assert f"signatures cover records up to seq {first.seq}, but you expected at least" in (
        " ".join(expected.output.split())
    )


def test_expect_signed_through_passes_when_the_signatures_reach_it(env: Path) -> None:
    _run(env)
    head = len(list(_journal(env).records()))

    result = cli.invoke(app, ["audit", "verify", "--expect-signed-through", str(head)])

    assert result.exit_code == 0, result.output


def test_a_malformed_payload_with_a_recomputed_chain_fails_verify(env: Path) -> None:
    _run(env)
    journal = _journal(env)
    rewrite_chain_from(journal, 2, "not json")
    with journal.engine.begin() as conn:  # else the signature reports the rewrite
        conn.execute(text("DELETE FROM journal_checkpoints"))

    result = cli.invoke(app, ["audit", "verify", "--public-key", str(_pub(env))])

    assert result.exit_code == 1
    assert "malformed at seq 2" in result.output


def _pub(env: Path) -> Path:
    return env / "home" / "keys" / "journal-ed25519.pem.pub"


def test_runs_and_show_name_a_damaged_record_and_show_the_rest(env: Path) -> None:
    from tampering import damage_record

    _run(env, "Where is order 1?")
    _run(env, "Where is order 2?")
    journal = _journal(env)
    first, bad = (r.run_id for r in journal.records() if r.kind == "run.started")
    seq = damage_record(journal, "run.finished", '{"status":"completed"}', run_id=bad)
    decided = damage_record(journal, "step.decided", "{oops", run_id=first)

    runs = cli.invoke(app, ["runs"])
    show = cli.invoke(app, ["show", first])

    assert runs.exit_code == 0, runs.output
    assert "completed" in runs.output
    assert "damaged" in runs.output and f"record {seq} (run.finished)" in runs.output
    assert show.exit_code == 7
    assert "Order 1 is delivered." in show.output
    assert f"damaged journal record {decided} (step.decided, run {first})" in " ".join(
        show.output.split()
    )
    assert "Traceback" not in show.output


def test_export_keeps_a_damaged_record_as_it_is_stored(env: Path) -> None:
    import json

    from tampering import damage_record

    _run(env)
    seq = damage_record(_journal(env), "step.decided", "{oops")

    result = cli.invoke(app, ["audit", "export"])

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    damaged = lines[seq - 1]
    assert (damaged["payload"], damaged["payload_json"]) == (None, "{oops")
    assert damaged["damaged"].startswith("its payload is not JSON")
    assert "payload_json" not in lines[0]
