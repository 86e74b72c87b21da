"""A journal opened read-only: nothing created, migrated or written; verification that
starts after a checkpoint verified earlier; what the signatures leave uncovered."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, inspect, text

from charter.errors import JournalError
from charter.journal import Journal, JournalSigner
from tampering import rewrite_chain_from


@pytest.fixture
def signer() -> JournalSigner:
    return JournalSigner(Ed25519PrivateKey.generate())


def _tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_database_without_a_journal_is_refused_and_left_as_it_was(journal_url: str) -> None:
    before = _tables(journal_url) if not journal_url.startswith("sqlite") else None

    with pytest.raises(JournalError, match="no journal at"):
        Journal(journal_url, read_only=True)

    if before is None:
        assert not Path(journal_url.removeprefix("sqlite:///")).exists()
    else:
        assert _tables(journal_url) == before == []


def test_a_read_only_journal_reads_and_verifies_but_refuses_to_write(
    journal_url: str, signer: JournalSigner
) -> None:
    writer = Journal(journal_url, signer)
    writer.append([("r1", "run.started", {"agent": "a", "goal": "g"})], checkpoint=True)

    reader = Journal(journal_url, read_only=True)

    assert [r.kind for r in reader.records()] == ["run.started"]
    assert reader.verify(signer.verifier).ok
    with pytest.raises(JournalError):
        reader.append([("r1", "note", {})])
    assert [r.seq for r in writer.records()] == [1]
    reader.close()
    writer.close()


def test_a_journal_of_a_newer_charter_is_refused_read_only(journal_url: str) -> None:
    Journal(journal_url).close()
    engine = create_engine(journal_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f999_future'"))
    engine.dispose()

    with pytest.raises(JournalError, match="f999_future"):
        Journal(journal_url, read_only=True)


def _runs(journal: Journal, count: int, first: int = 0) -> None:
    for n in range(first, first + count):
        journal.append([(f"run{n}", "run.started", {"agent": "a", "goal": f"g{n}"})])
        journal.append(
            [(f"run{n}", "run.finished", {"status": "completed", "steps": 1, "tokens": 0})],
            checkpoint=True,
        )


def test_unsigned_runs_of_runs_are_named_after_checkpoints_are_deleted(
    journal_url: str, signer: JournalSigner
) -> None:
    journal = Journal(journal_url, signer)
    _runs(journal, 3)
    journal.append([("run9", "run.started", {"agent": "a", "goal": "still running"})])
    rewrite_chain_from(journal, 3, '{"agent":"a","goal":"forged"}')
    with journal.engine.begin() as conn:
        conn.execute(text("DELETE FROM journal_checkpoints WHERE seq > 2"))

    report = journal.verify()

    assert report.ok  # the chain alone cannot tell
    assert (report.signed_through, report.head_seq, report.unsigned) == (2, 7, 5)
    assert [(e.seq, e.run_id, e.kind) for e in report.unsigned_runs] == [
        (4, "run1", "run.finished"),
        (6, "run2", "run.finished"),
    ]
    assert "records 3\N{EN DASH}7 (5) are protected by the chain alone" in report.coverage()


def test_verifying_after_a_checkpoint_checks_only_what_follows(
    journal_url: str, signer: JournalSigner
) -> None:
    journal = Journal(journal_url, signer)
    _runs(journal, 2)
    base = journal.checkpoints()[-1]
    _runs(journal, 2, first=2)
    with journal.engine.begin() as conn:  # an edit before the base is not walked again
        conn.execute(text("UPDATE journal_records SET payload = '{}' WHERE seq = 1"))

    after = journal.verify(after=base)
    full = journal.verify()

    assert after.ok and (after.checked, after.verified_from) == (4, base.seq + 1)
    assert after.signed_through == 8 and after.unsigned == 0
    assert [(p.kind, p.seq) for p in full.problems][:1] == [("edited", 1)]


def test_verifying_after_a_checkpoint_finds_its_record_rewritten(
    journal_url: str, signer: JournalSigner
) -> None:
    journal = Journal(journal_url, signer)
    _runs(journal, 3)
    base = journal.checkpoints()[1]  # seq 4, verified by this process earlier
    rewrite_chain_from(journal, 2, '{"status":"failed","steps":1,"tokens":0}')
    with journal.engine.begin() as conn:
        conn.execute(text("DELETE FROM journal_checkpoints"))

    report = journal.verify(after=base)

    assert not report.ok
    assert [(p.kind, p.seq) for p in report.problems][:1] == [("rewritten", base.seq)]


def test_verifying_after_a_checkpoint_at_the_head_finds_the_head_replaced(
    journal_url: str, signer: JournalSigner
) -> None:
    journal = Journal(journal_url, signer)
    _runs(journal, 2)
    base = journal.checkpoints()[-1]
    rewrite_chain_from(journal, 1, '{"agent":"b","goal":"forged"}')

    report = journal.verify(after=base)

    assert [p.kind for p in report.problems][:1] == ["rewritten"]
