"""Tampering with a stored journal is detected and the bad record named."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from charter.journal import Journal, record_hash


@pytest.fixture
def journal(journal_url: str) -> Journal:
    j = Journal(journal_url)
    for i in range(1, 11):
        j.append([(f"run{i % 3}", "step.proposed", {"i": i, "tool": "refund_order"})])
    return j


def _sql(journal: Journal, statement: str, **params: object) -> None:
    with journal.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_untouched_journal_verifies(journal: Journal) -> None:
    report = journal.verify()

    assert report.ok
    assert report.checked == 10


def test_edited_payload_is_named(journal: Journal) -> None:
    _sql(
        journal,
        "UPDATE journal_records SET payload = :p WHERE seq = 4",
        p='{"i":4,"tool":"send_email"}',
    )

    problems = journal.verify().problems
    assert [(p.kind, p.seq) for p in problems] == [("edited", 4)]


def test_edited_kind_is_named(journal: Journal) -> None:
    _sql(journal, "UPDATE journal_records SET kind = 'step.observed' WHERE seq = 7")

    assert [(p.kind, p.seq) for p in journal.verify().problems] == [("edited", 7)]


def test_deleted_record_is_named(journal: Journal) -> None:
    _sql(journal, "DELETE FROM journal_records WHERE seq = 5")

    problems = journal.verify().problems
    assert problems[0].kind == "deleted"
    assert "record 5 deleted" in problems[0].message


def test_deleted_range_is_named(journal: Journal) -> None:
    _sql(journal, "DELETE FROM journal_records WHERE seq IN (3, 4, 5)")

    assert "records 3..5 deleted" in journal.verify().problems[0].message


def test_reordered_records_are_named(journal: Journal) -> None:
    _sql(journal, "UPDATE journal_records SET seq = -1 WHERE seq = 3")
    _sql(journal, "UPDATE journal_records SET seq = 3 WHERE seq = 4")
    _sql(journal, "UPDATE journal_records SET seq = 4 WHERE seq = -1")

    problems = journal.verify().problems
    assert {(p.kind, p.seq) for p in problems} == {("reordered", 3), ("reordered", 4)}
    assert "written as seq 4" in problems[0].message


def test_truncated_tail_is_detected(journal: Journal) -> None:
    _sql(journal, "DELETE FROM journal_records WHERE seq > 8")

    problems = journal.verify().problems
    assert [(p.kind, p.seq) for p in problems] == [("truncated", 9)]
    assert "records 9..10 missing" in problems[0].message


def _rewrite_and_rehash(journal: Journal, seq: int, payload: str) -> None:
    """Edit one record's payload and recompute its own hash, as a careful attacker would."""
    (old,) = [r for r in journal.records() if r.seq == seq]
    new_hash = record_hash(old.seq, old.run_id, old.kind, old.ts, old.prev_hash, payload)
    _sql(
        journal,
        "UPDATE journal_records SET payload = :p, hash = :h WHERE seq = :s",
        p=payload,
        h=new_hash,
        s=seq,
    )


def test_rehashed_edit_breaks_the_link_to_the_next_record(journal: Journal) -> None:
    _rewrite_and_rehash(journal, 4, '{"i":4,"tool":"send_email"}')

    assert [(p.kind, p.seq) for p in journal.verify().problems] == [("relinked", 5)]


def test_replaced_head_is_detected(journal: Journal) -> None:
    _rewrite_and_rehash(journal, 10, '{"i":10,"tool":"send_email"}')

    assert [(p.kind, p.seq) for p in journal.verify().problems] == [("edited", 10)]
