"""An in-memory journal stores its appends in batches: whoever reads, by whatever path,
sees every record appended before, chained as always; fences hold; a failed store loses
nothing appended and blocks no one."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from charter.errors import JournalError, LeaseLostError
from charter.journal import Journal, JournalSigner, _store
from charter.journal._deferred import BATCH_ROWS, DeferredRows
from charter.journal._lease import claim, lease_of
from charter.journal._record import canonical_json, record_hash


@pytest.fixture
def journal() -> Iterator[Journal]:
    opened = Journal("sqlite://")
    yield opened
    opened.close()


def _waiting(journal: Journal) -> int:
    deferred: DeferredRows | None = journal._deferred  # pyright: ignore[reportPrivateUsage]
    assert deferred is not None
    return deferred.rows


def _no_wait(_seconds: float) -> None:
    return None


def _count(journal: Journal) -> int:
    with journal.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM journal_records")).scalar_one())


def test_every_reader_sees_the_records_appended_before(journal: Journal) -> None:
    for i in range(3):
        journal.append([("r1", "step.proposed", {"i": i}), ("r1", "step.decided", {"i": i})])
    assert _waiting(journal) == 6

    assert [r.payload["i"] for r in journal.records("r1")] == [0, 0, 1, 1, 2, 2]
    assert _waiting(journal) == 0
    journal.append([("r1", "step.effect", {"i": 3})])
    assert journal.latest_seq(["step.effect"]) == 7
    journal.append([("r1", "step.observed", {"i": 4})])
    assert journal.stored_head() == (8, list(journal.records("r1"))[-1].hash)
    assert journal.verify().ok and journal.verify().head_seq == 8


def test_two_in_memory_journals_share_nothing(journal: Journal) -> None:
    other = Journal("sqlite://")
    try:
        journal.append([("r1", "step", {})])
        other.append([("r2", "step", {}), ("r2", "step", {})])

        assert [r.run_id for r in journal.records()] == ["r1"]
        assert [r.run_id for r in other.records()] == ["r2", "r2"]
    finally:
        other.close()


def test_a_record_written_through_the_engine_is_chained_after(journal: Journal) -> None:
    journal.append([("r1", "step", {"by": "journal"})] * 2)
    (head_seq, head_hash) = (2, list(journal.records())[-1].hash)
    body = canonical_json({"by": "engine"})
    ts = "2026-01-01T00:00:00+00:00"
    digest = record_hash(head_seq + 1, "r2", "step", ts, head_hash, body)
    with journal.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO journal_records VALUES (:s, 'r2', 'step', :ts, :p, :prev, :h)"),
            {"s": head_seq + 1, "ts": ts, "p": body, "prev": head_hash, "h": digest},
        )
        conn.execute(
            text("UPDATE journal_meta SET value = :v WHERE key = 'head'"),
            {"v": f"{head_seq + 1}:{digest}"},
        )

    (after,) = journal.append([("r1", "step", {"by": "journal"})])

    assert after.seq == 4 and after.prev_hash == digest
    assert [r.seq for r in journal.records()] == [1, 2, 3, 4]
    assert journal.verify().ok


def test_an_owner_superseded_through_the_engine_is_fenced_out(journal: Journal) -> None:
    old = claim(journal.engine, "r1", owner="old", actor="", ttl=60)
    journal.append([("r1", "step", {"n": 1})], fence=old.fence())  # checked by the database
    journal.append([("r1", "step", {"n": 2})], fence=old.fence())  # by the journal alone
    assert _waiting(journal) == 1
    with journal.engine.begin() as conn:
        conn.execute(text("UPDATE run_leases SET expires_ms = 1 WHERE run_id = 'r1'"))
    claim(journal.engine, "r1", owner="new", actor="", ttl=60)
    fence = old.fence()

    with pytest.raises(LeaseLostError, match="lost its lease"):
        journal.append([("r1", "step", {"n": 3})], fence=fence)

    assert not fence.renew
    assert [r.payload["n"] for r in journal.records("r1")] == [1, 2]
    row, _ = lease_of(journal.engine, "r1")
    assert row is not None and row.owner == "new"
    assert journal.verify().ok


def test_an_append_inside_a_checkout_is_stored_before_it_returns(journal: Journal) -> None:
    journal.append([("r1", "step", {})])
    with journal.engine.connect() as conn:
        journal.append([("r1", "step", {}), ("r1", "step", {})])
        assert _waiting(journal) == 0
        stored = conn.execute(text("SELECT count(*) FROM journal_records")).scalar_one()
    assert stored == 3


def test_a_signed_append_stores_the_waiting_records_first(journal: Journal) -> None:
    journal.signer = JournalSigner(Ed25519PrivateKey.generate())
    journal.append([("r1", "step", {"n": 1})] * 3)

    journal.append([("r1", "run.finished", {})], checkpoint=True)

    assert _waiting(journal) == 0
    report = journal.verify()  # with the signer's own public key
    assert report.ok and report.signed_through == 4 == report.head_seq


def test_a_full_batch_is_stored_without_a_reader(journal: Journal) -> None:
    for _ in range(BATCH_ROWS // 4 + 3):
        journal.append([("r1", "step", {"n": 1})] * 4)
        assert _waiting(journal) <= BATCH_ROWS

    assert _waiting(journal) < BATCH_ROWS
    assert _count(journal) == BATCH_ROWS + 12 and journal.verify().ok


def test_a_failed_store_keeps_what_was_appended_and_refuses_the_next_append(
    journal: Journal, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(BATCH_ROWS):
        journal.append([("r1", "step", {"i": i})])
    real = DeferredRows.store

    def refused(*_: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(DeferredRows, "store", refused)

    with pytest.raises(JournalError, match="disk is full"):
        journal.append([("r1", "step", {"i": "refused"})])
    # A reader is not refused (the pool would close the database with the connection):
    # the failure is logged, and the connection released for other threads.
    counted: list[int] = []
    reader = threading.Thread(target=lambda: counted.append(_count(journal)))
    reader.start()
    reader.join(30)
    assert counted == [0] and _waiting(journal) == BATCH_ROWS
    assert "disk is full" in caplog.text and f"{BATCH_ROWS} records wait" in caplog.text
    monkeypatch.setattr(DeferredRows, "store", real)

    assert [r.payload["i"] for r in journal.records("r1")] == list(range(BATCH_ROWS))
    assert journal.verify().ok


def test_an_entry_sqlite_would_refuse_is_refused_at_its_append(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_store, "_sleep", _no_wait)  # its retries need not wait
    journal.append([("r1", "step", {})])

    with pytest.raises(JournalError):
        journal.append([(None, "step", {})])  # type: ignore[list-item]  # pyright: ignore[reportArgumentType]

    assert [r.seq for r in journal.records()] == [1] and journal.verify().ok


def test_threads_appending_and_reading_together_lose_nothing(journal: Journal) -> None:
    done = threading.Event()
    seen: list[int] = []

    def append(run: str) -> None:
        for i in range(60):
            journal.append([(run, "step.proposed", {"i": i}), (run, "step.decided", {"i": i})])

    def read() -> None:
        while not done.is_set():
            seen.append(_count(journal))
            time.sleep(0.001)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=append, args=(f"r{n}",)) for n in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    done.set()
    reader.join(30)

    assert seen == sorted(seen) and all(count % 2 == 0 for count in seen)  # whole appends
    assert _count(journal) == 480 and journal.verify().ok
    for n in range(4):
        assert [r.payload["i"] for r in journal.records(f"r{n}")][::2] == list(range(60))
