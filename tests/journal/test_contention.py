"""Journal appends under contention: several processes appending at once to one database
all succeed, each record stored once, the chain intact."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import threading
from collections import Counter

import pytest

from charter.errors import JournalContentionError
from charter.journal import Journal
from charter.journal import _store as store

PROCESSES = 6
APPENDS = 100


def _append_many(url: str, writer: int, start: multiprocessing.synchronize.Event) -> None:
    journal = Journal(url)
    start.wait()
    for i in range(APPENDS):
        journal.append([(f"w{writer}", "test.append", {"writer": writer, "i": i})])
    journal.close()


def test_concurrent_processes_append_without_failure_or_duplicate_seq(journal_url: str) -> None:
    Journal(journal_url).close()  # migrated once, before the writers race
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [
        context.Process(target=_append_many, args=(journal_url, n, start)) for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=300)
    assert [w.exitcode for w in workers] == [0] * PROCESSES

    journal = Journal(journal_url)
    records = list(journal.records())
    seqs = [r.seq for r in records]
    assert seqs == list(range(1, PROCESSES * APPENDS + 1))
    per_writer = Counter(r.run_id for r in records)
    assert per_writer == {f"w{n}": APPENDS for n in range(PROCESSES)}
    for n in range(PROCESSES):
        mine = [r.payload["i"] for r in records if r.run_id == f"w{n}"]
        assert mine == list(range(APPENDS))  # each once, in the writer's order
    assert journal.verify().ok


def test_collisions_back_off_with_growing_jittered_waits(
    journal_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(journal_url)
    other = Journal(journal_url)
    waits: list[float] = []
    collisions = iter(range(3))

    real_write = journal._write  # pyright: ignore[reportPrivateUsage]

    def colliding_write(chain: object, *, sign: bool = False, fence: object = None) -> object:
        if next(collisions, None) is not None:
            other.append([("other", "test.append", {})])  # another writer takes the seq
        return real_write(chain, sign=sign, fence=fence)  # pyright: ignore[reportArgumentType]

    monkeypatch.setattr(journal, "_write", colliding_write)
    monkeypatch.setattr(store, "_sleep", waits.append)
    journal.append([("r", "test.append", {})])  # its head is stale: collides first
    if journal_url.startswith("sqlite"):
        # It held the write lock when it collided: it read the head under the lock and
        # chained again at once, and from then on checks the head before each append.
        assert waits == []
        assert next(collisions, None) == 2  # the other wrote twice; the re-read absorbed it
    else:
        assert len(waits) == 3
    assert all(w > 0 for w in waits)
    assert sum(waits) <= store.APPEND_MAX_WAIT_S
    assert journal.verify().ok


def test_an_append_that_keeps_colliding_raises_contention_after_bounded_waits(
    journal_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(journal_url)
    other = Journal(journal_url)
    waits: list[float] = []

    def always_colliding(chain: object, *, sign: bool = False, fence: object = None) -> None:
        other.append([("other", "test.append", {})])
        raise store._SeqCollision  # pyright: ignore[reportPrivateUsage]

    monkeypatch.setattr(journal, "_write", always_colliding)
    monkeypatch.setattr(store, "_sleep", waits.append)
    with pytest.raises(JournalContentionError, match="kept colliding"):
        journal.append([("r", "test.append", {})])
    assert waits
    assert sum(waits) <= store.APPEND_MAX_WAIT_S


def test_threads_reading_while_others_append_to_an_in_memory_journal_lose_nothing() -> None:
    # One connection serves every thread of an in-memory journal: a read ending (which rolls
    # back on that connection) once undid another thread's append half-way, and two threads
    # inside SQLite at once could crash the process.
    journal = Journal("sqlite://")
    stop = threading.Event()
    failures: list[BaseException] = []

    def read() -> None:
        while not stop.is_set():
            try:
                journal.records_of_kind("test.append", limit=3)
                journal.latest_seq(["test.append"])
            except BaseException as exc:
                failures.append(exc)

    def append(writer: int) -> None:
        for i in range(300):
            journal.append([(f"w{writer}", "test.append", {"i": i}), (f"w{writer}", "t.b", {})])

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=append, args=(w,)) for w in range(3)]
    for thread in [*readers, *writers]:
        thread.start()
    for thread in writers:
        thread.join(120)
    stop.set()
    for thread in readers:
        thread.join(120)

    assert failures == []
    stored = list(journal.records())
    assert len(stored) == 3 * 300 * 2
    assert [r.seq for r in stored] == list(range(1, len(stored) + 1))
    assert Counter(r.run_id for r in stored) == {"w0": 600, "w1": 600, "w2": 600}
    assert journal.verify().ok


def test_a_retry_chains_after_the_head_as_it_is_after_the_pause(
    journal_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A busy writer in another process goes on appending while this one pauses: a head
    # read before the pause would be stale again at every retry, until the append gave up.
    journal = Journal(journal_url)
    other = Journal(journal_url)
    waits: list[float] = []

    def busy_other_writer(pause: float) -> None:
        waits.append(pause)
        other.append([("other", "test.append", {"n": len(waits)})])

    monkeypatch.setattr(store, "_sleep", busy_other_writer)
    other.append([("other", "test.append", {"n": 0})])  # this journal's head is now stale
    stored = journal.append([("r", "test.append", {})])

    if journal_url.startswith("sqlite"):  # re-read under the write lock: no pause at all
        assert waits == []
        assert [r.run_id for r in journal.records()] == ["other", "r"]
        return
    assert len(waits) == 1  # one collision, then the retry after the pause succeeded
    assert [r.seq for r in stored] == [3]
    assert [r.run_id for r in journal.records()] == ["other", "other", "r"]
    assert journal.verify().ok
