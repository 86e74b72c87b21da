"""The journal store: appends, chaining, reading back, bad URLs."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from charter.errors import JournalError
from charter.journal import GENESIS_HASH, Journal, record_hash


@pytest.fixture
def journal(journal_url: str) -> Journal:
    return Journal(journal_url)


def test_append_assigns_contiguous_seqs_and_chains_hashes(journal: Journal) -> None:
    first = journal.append([("r1", "a", {"n": 1}), ("r1", "b", {"n": 2})])
    second = journal.append([("r2", "c", {"n": 3})])

    records = first + second
    assert [r.seq for r in records] == [1, 2, 3]
    assert records[0].prev_hash == GENESIS_HASH
    assert records[1].prev_hash == records[0].hash
    assert records[2].prev_hash == records[1].hash


def test_record_hash_covers_the_stored_fields(journal: Journal) -> None:
    (stored,) = journal.append([("r1", "step.proposed", {"tool": "x"})])

    expected = record_hash(
        stored.seq, stored.run_id, stored.kind, stored.ts, stored.prev_hash, stored.payload_json
    )
    assert stored.hash == expected


def test_records_are_read_back_per_run_in_order(journal: Journal) -> None:
    journal.append([("r1", "a", {}), ("r2", "b", {}), ("r1", "c", {"k": [1, 2]})])

    assert [(r.kind, r.payload) for r in journal.records("r1")] == [("a", {}), ("c", {"k": [1, 2]})]


def test_reopening_continues_the_chain(journal_url: str) -> None:
    url = journal_url
    Journal(url).append([("r1", "a", {})])
    (later,) = Journal(url).append([("r1", "b", {})])

    assert later.seq == 2
    assert Journal(url).verify().ok


def test_two_writers_on_one_database_keep_one_valid_chain(journal_url: str) -> None:
    url = journal_url
    first, second = Journal(url), Journal(url)
    for i in range(5):
        first.append([("r1", "a", {"i": i})])
        second.append([("r2", "b", {"i": i})])  # its cached head is stale every time

    report = first.verify()
    assert report.ok
    assert report.checked == 10


def test_in_memory_url_keeps_records_across_calls() -> None:
    journal = Journal("sqlite://")
    journal.append([("r1", "a", {})])

    assert [r.kind for r in journal.records()] == ["a"]


def test_run_ids_with_prefix_finds_started_runs(journal: Journal) -> None:
    journal.append([("abc123", "run.started", {}), ("abd999", "run.started", {})])

    assert journal.run_ids_with_prefix("abc") == ["abc123"]
    assert sorted(journal.run_ids_with_prefix("ab")) == ["abc123", "abd999"]


def test_malformed_url_is_a_clear_error() -> None:
    with pytest.raises(JournalError, match="invalid database URL"):
        Journal("not a url")


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(JournalError, match="cannot open journal"):
        Journal(f"sqlite:///{blocker / 'sub' / 'journal.db'}")


def test_unknown_driver_is_a_clear_error() -> None:
    with pytest.raises(JournalError, match="cannot use database URL"):
        Journal("nosuchdb://user:secret@localhost/x")


def test_password_is_hidden_in_errors() -> None:
    with pytest.raises(JournalError) as caught:
        Journal("nosuchdb://user:secret@localhost/x")
    assert "secret" not in str(caught.value)


def test_latest_seq_of_kinds_tracks_new_records(journal: Journal) -> None:
    assert journal.latest_seq(["control.pause"]) == 0
    journal.append([("r1", "a", {}), ("control", "control.pause", {}), ("r1", "b", {})])
    journal.append([("r2", "c", {})])

    assert journal.latest_seq(["control.pause", "control.resume"]) == 2
    journal.append([("control", "control.resume", {})])
    assert journal.latest_seq(["control.pause", "control.resume"]) == 5


def test_latest_seq_sees_records_another_handle_appended(journal_url: str) -> None:
    journal = Journal(journal_url)
    assert journal.latest_seq(["control.pause"]) == 0  # on SQLite, kept until a change
    journal.append([("r1", "a", {})])

    Journal(journal_url).append([("control", "control.pause", {})])  # as another process

    assert journal.latest_seq(["control.pause"]) == 2
    journal.append([("control", "control.pause", {}), ("r1", "b", {})])
    assert journal.latest_seq(["control.pause"]) == 3
    assert journal.latest_seq(["control.pause", "b"]) == 4


def test_a_large_batch_is_appended_whole(journal: Journal) -> None:
    journal.append([("r1", "a", {})])

    stored = journal.append([("r2", "b", {"n": n}) for n in range(1500)])

    assert [r.seq for r in stored] == list(range(2, 1502))
    assert journal.stored_head() == (1501, stored[-1].hash)
    assert journal.verify().ok


def test_appends_through_stale_handles_chain_after_each_other(journal_url: str) -> None:
    first, second = Journal(journal_url), Journal(journal_url)
    first.append([("r1", "a", {"n": 1})])

    second.append([("r2", "b", {"n": 2}), ("r2", "c", {"n": 3})])  # its head was stale
    first.append([("r1", "d", {"n": 4})])  # and now this one's

    records = list(Journal(journal_url).records())
    assert [(r.seq, r.kind) for r in records] == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]
    assert [r.payload["n"] for r in records] == [1, 2, 3, 4]
    assert Journal(journal_url).verify().ok


def test_a_failed_append_raises_journal_error_and_the_next_one_reconnects(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.db"
    journal = Journal(f"sqlite:///{path}")
    journal.append([("r1", "a", {})])
    other = sqlite3.connect(path)
    other.execute("ALTER TABLE journal_records RENAME TO moved")
    other.commit()

    with pytest.raises(JournalError, match="no such table: journal_records"):
        journal.append([("r1", "b", {})])

    other.execute("ALTER TABLE moved RENAME TO journal_records")
    other.commit()
    journal.append([("r1", "c", {})])
    assert [r.kind for r in journal.records()] == ["a", "c"]
    assert journal.verify().ok


def test_records_of_kinds_are_oldest_first(journal: Journal) -> None:
    journal.append([("x", "k2", {}), ("x", "k1", {}), ("x", "other", {}), ("x", "k2", {"n": 1})])

    assert [(r.seq, r.kind) for r in journal.records_of_kinds(["k1", "k2"])] == [
        (1, "k2"),
        (2, "k1"),
        (4, "k2"),
    ]


def test_records_since_reads_a_time_window_newest_first(journal: Journal) -> None:
    journal.append([("x", "k", {"n": 1}), ("x", "other", {}), ("x", "k", {"n": 2})])
    first = next(journal.records())
    later = datetime.fromisoformat(first.ts) + timedelta(hours=1)

    recent = journal.records_since("k", datetime.fromisoformat(first.ts))

    assert [r.payload["n"] for r in recent] == [2, 1]
    assert journal.records_since("k", later) == []
    assert [r.seq for r in journal.records_of_kind("k", limit=1)] == [3]


def test_records_of_kinds_can_filter_on_payload_text(journal: Journal) -> None:
    journal.append(
        [
            ("x", "k", {"request_id": "apr-1"}),
            ("x", "k", {"request_id": "apr-12"}),
            ("x", "k", {"request_id": "a%_1"}),
            ("x", "other", {"request_id": "apr-1"}),
        ]
    )

    exact = journal.records_of_kinds(["k"], payload_contains='"request_id":"apr-1"')
    wild = journal.records_of_kinds(["k"], payload_contains="%_")

    assert [r.seq for r in exact] == [1]
    assert [r.seq for r in wild] == [3]  # LIKE wildcards are matched literally


@pytest.mark.parametrize("size", [1, 64, 65, 200])
def test_a_batch_of_any_size_is_stored_as_given(journal: Journal, size: int) -> None:
    journal.append([("r0", "a", {})])
    entries = [("r1", f"k{n % 3}", {"n": n, "text": f"record {n} ✓"}) for n in range(size)]

    stored = journal.append(entries)

    read = list(journal.records("r1"))
    assert [(r.kind, r.payload) for r in read] == [(k, p) for _, k, p in entries]
    assert [r.hash for r in read] == [r.hash for r in stored]
    assert journal.stored_head() == (size + 1, stored[-1].hash)
    assert journal.verify().ok


def test_a_batch_that_collides_is_stored_whole_after_the_winner(journal_url: str) -> None:
    first, stale = Journal(journal_url), Journal(journal_url)
    first.append([("r1", "a", {})])
    stale.append([("r2", "b", {})])  # chained after r1 once its seq 1 collided
    first.append([("r1", "c", {"n": n}) for n in range(5)])  # seq 2 collides: retried whole

    kinds = [r.kind for r in Journal(journal_url).records_of_kinds(["a", "b", "c"])]
    assert kinds == ["a", "b", "c", "c", "c", "c", "c"]
    assert Journal(journal_url).verify().ok


def test_an_in_memory_journal_sees_a_record_another_thread_appended() -> None:
    journal = Journal("sqlite://")
    assert journal.latest_seq(["control.pause"]) == 0  # kept from here on
    journal.append([("r1", "a", {})])

    writer = threading.Thread(target=journal.append, args=([("control", "control.pause", {})],))
    writer.start()
    writer.join()

    assert journal.latest_seq(["control.pause"]) == 2
