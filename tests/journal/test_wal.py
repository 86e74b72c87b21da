"""A SQLite journal's log is checkpointed on a thread of its own, never by an append, and
no commit is lost to it: not when the process is killed mid-checkpoint, not with two
processes appending and checkpointing at once."""

from __future__ import annotations

import gc
import multiprocessing
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from charter.journal import Journal
from charter.journal import _wal as wal
from charter.journal._lease import Lease
from charter.journal._wal import WRITER_AUTOCHECKPOINT_PAGES, WalCheckpoints


def _wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _checkpointer(journal: Journal) -> WalCheckpoints:
    found = journal._wal  # pyright: ignore[reportPrivateUsage]
    assert found is not None
    return found


def test_appends_leave_the_log_to_the_checkpoint_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal, "CHECKPOINT_EVERY", 5)
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    checkpoints = _checkpointer(journal)
    for i in range(4):
        journal.append([("r", "test.append", {"i": i})])
    assert checkpoints.done == 0  # not due yet
    journal.append([("r", "test.append", {"i": 4})])
    _wait_for(lambda: checkpoints.done == 1)
    # The database file alone (the log left behind) holds the five records now.
    shutil.copy(tmp_path / "j.db", tmp_path / "alone.db")
    alone = sqlite3.connect(tmp_path / "alone.db")
    assert alone.execute("SELECT count(*) FROM journal_records").fetchone() == (5,)
    alone.close()
    journal.close()


def test_the_writer_checkpoints_only_as_a_safety_net(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    journal.append([("r", "test.append", {})])
    with journal.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert pages == WRITER_AUTOCHECKPOINT_PAGES > 1000  # SQLite's own default: 1000
    journal.close()


def test_in_memory_and_read_only_journals_have_no_checkpoint_thread(tmp_path: Path) -> None:
    assert Journal("sqlite://")._wal is None  # pyright: ignore[reportPrivateUsage]
    Journal(f"sqlite:///{tmp_path / 'j.db'}").append([("r", "test.append", {})])
    reader = Journal(f"sqlite:///{tmp_path / 'j.db'}", read_only=True)
    assert reader._wal is None  # pyright: ignore[reportPrivateUsage]


def test_close_stops_the_thread_and_no_checkpoint_follows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal, "CHECKPOINT_EVERY", 1)
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    checkpoints = _checkpointer(journal)
    journal.append([("r", "test.append", {})])
    _wait_for(lambda: checkpoints.done == 1)
    thread = checkpoints._thread  # pyright: ignore[reportPrivateUsage]
    assert thread is not None and thread.is_alive()
    journal.close()
    assert not thread.is_alive()
    assert checkpoints.checkpoint() is None  # closed: refused, nothing reopened
    checkpoints.committed()
    assert checkpoints._thread is thread  # pyright: ignore[reportPrivateUsage]


def test_a_journal_collected_unclosed_stops_its_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal, "CHECKPOINT_EVERY", 1)
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    checkpoints = _checkpointer(journal)
    journal.append([("r", "test.append", {})])
    _wait_for(lambda: checkpoints.done == 1)
    thread = checkpoints._thread  # pyright: ignore[reportPrivateUsage]
    assert thread is not None
    del journal
    gc.collect()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_failing_checkpoint_is_logged_and_the_next_one_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'j.db'}")
    checkpoints = _checkpointer(journal)
    journal.append([("r", "test.append", {})])
    engine = journal.engine
    real = engine.raw_connection
    monkeypatch.setattr(engine, "raw_connection", lambda: (_ for _ in ()).throw(OSError("gone")))
    assert checkpoints.checkpoint() is None
    assert "checkpoint could not connect: gone" in caplog.text
    monkeypatch.setattr(engine, "raw_connection", real)
    found = checkpoints.checkpoint()
    assert found is not None and found[0] == 0  # not busy: it ran
    journal.close()


def test_a_checkpoint_beside_a_reader_and_appends_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal, "CHECKPOINT_EVERY", 3)
    url = f"sqlite:///{tmp_path / 'j.db'}"
    journal = Journal(url)
    reader = Journal(url, read_only=True)
    stop = threading.Event()
    seen: list[int] = []

    def read() -> None:
        while not stop.is_set():
            seen.append(sum(1 for _ in reader.records()))

    thread = threading.Thread(target=read)
    thread.start()
    for i in range(200):
        journal.append([("r", "test.append", {"i": i}), ("r", "test.more", {"i": i})])
    stop.set()
    thread.join()
    deadline = time.monotonic() + 20  # the last checkpoint woken may still be finishing
    while _checkpointer(journal).done == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _checkpointer(journal).done > 0
    assert seen == sorted(seen)  # a reader never saw the journal shrink
    assert [r.payload["i"] for r in journal.records("r")][::2] == list(range(200))
    assert journal.verify().ok
    journal.close()


_APPENDER = """
import sys
from charter.journal import Journal
from charter.journal import _wal
_wal.CHECKPOINT_EVERY = 1  # a checkpoint after every commit: the kill lands in one
journal = Journal(sys.argv[1])
i = 0
while True:
    (record,) = journal.append([(sys.argv[2], "test.append", {"i": i, "pad": "x" * 2000})])
    print(record.seq, flush=True)  # acknowledged: committed
    i += 1
"""


def test_sigkill_mid_checkpoint_loses_no_acknowledged_commit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    Journal(url).close()
    acknowledged: list[int] = []
    for attempt in range(3):  # killed at three different moments
        child = subprocess.Popen(
            [sys.executable, "-c", _APPENDER, url, f"r{attempt}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        for _ in range(50 + 37 * attempt):
            acknowledged.append(int(child.stdout.readline()))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
    journal = Journal(url)
    stored = {r.seq for r in journal.records()}
    assert set(acknowledged) <= stored
    report = journal.verify()
    assert report.ok, report
    journal.close()


def _append_many(url: str, writer: int, start: object) -> None:
    wal.CHECKPOINT_EVERY = 2
    journal = Journal(url)
    start.wait()  # type: ignore[attr-defined]
    for i in range(150):
        journal.append([(f"w{writer}", "test.append", {"i": i, "pad": "y" * 500})])
    journal.close()


def test_two_processes_appending_and_checkpointing_keep_one_chain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    Journal(url).close()
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_append_many, args=(url, n, start)) for n in range(2)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=300)
    assert [w.exitcode for w in workers] == [0, 0]
    journal = Journal(url)
    for n in range(2):
        assert [r.payload["i"] for r in journal.records(f"w{n}")] == list(range(150))
    assert journal.verify().ok
    journal.close()


def test_the_log_starts_over_under_a_steady_stream_of_step_appends(tmp_path: Path) -> None:
    # Only a wholly copied log starts over, and checkpoints beside a busy writer did not
    # copy all of it: the log grew by every commit's pages (to 10,000 pages here) up to
    # the writer's safety net. The last pass, under the append lock, ends that.
    path = tmp_path / "j.db"
    journal = Journal(f"sqlite:///{path}")
    step = [
        ("step.proposed", 100),
        ("step.decided", 200),
        ("step.effect", 80),
        ("step.observed", 30),
    ]
    for run in range(300):
        lease = Lease.new(journal.engine, f"run-{run}", owner="test", actor="", ttl=30)
        fence = lease.fence()
        journal.append([(lease.run_id, "run.started", {})], fence=fence)
        lease.appended(0.0, fence)
        for _ in range(5):
            entries = [(lease.run_id, kind, {"x": "x" * size}) for kind, size in step]
            journal.append(entries, fence=lease.fence())
    pages = (tmp_path / "j.db-wal").stat().st_size // 4096
    assert pages < 5000, pages
    assert journal.verify().ok
    journal.close()
