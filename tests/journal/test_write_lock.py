"""A SQLite append takes the write lock first and chains onto the head it reads under it:
a second writer on the file costs no collisions and no pauses, a held lock is waited for
in short pauses (then refused, nothing stored), and a writer killed holding the lock or
before its commit leaves nothing behind but an intact chain."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from charter.errors import JournalContentionError
from charter.journal import Journal
from charter.journal import _store as store


def _writes(journal: Journal, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count ``journal``'s transactions (attempts included)."""
    calls: list[int] = []
    real = journal._write  # pyright: ignore[reportPrivateUsage]

    def counted(chain: Any, **options: Any) -> Any:
        calls.append(1)
        return real(chain, **options)

    monkeypatch.setattr(journal, "_write", counted)
    return calls


def test_writers_sharing_a_file_collide_once_then_never(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    first, second = Journal(url), Journal(url)
    waits: list[float] = []
    monkeypatch.setattr(store, "_sleep", waits.append)
    writes = _writes(second, monkeypatch)
    for i in range(20):
        first.append([("r1", "test.append", {"i": i})])
        second.append([("r2", "test.append", {"i": i})])  # the other wrote: its head is stale
    assert len(writes) == 21  # one collision (read again under the lock), then none
    assert waits == []
    assert [r.run_id for r in first.records()] == ["r1", "r2"] * 20
    assert first.verify().ok


def test_an_append_waits_for_a_held_write_lock_in_short_growing_pauses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.db"
    journal = Journal(f"sqlite:///{path}")
    journal._others_write = True  # pyright: ignore[reportPrivateUsage]
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    waits: list[float] = []

    def pause(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 6:
            holder.execute("COMMIT")  # the other writer is done

    monkeypatch.setattr(store, "_sleep", pause)
    (stored,) = journal.append([("r", "test.append", {})])
    assert stored.seq == 1
    assert len(waits) == 6
    assert waits[0] <= store.LOCK_FIRST_WAIT_S
    assert all(w <= store.LOCK_WAIT_CEILING_S for w in waits)
    assert waits[-1] > waits[0]
    writer = journal._connection().cursor()  # pyright: ignore[reportPrivateUsage]
    writer.execute("PRAGMA busy_timeout")  # the writer's own timeout is back, too
    assert writer.fetchone() == (10_000,)
    holder.close()


def test_a_lock_held_past_the_limit_refuses_the_append_and_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.db"
    journal = Journal(f"sqlite:///{path}")
    journal.append([("r", "test.append", {"n": 0})])
    journal._others_write = True  # pyright: ignore[reportPrivateUsage]
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr(store, "LOCK_MAX_WAIT_S", 0.05)
    with pytest.raises(JournalContentionError, match="stayed locked by another writer"):
        journal.append([("r", "test.append", {"n": 1})])
    holder.execute("ROLLBACK")
    holder.close()
    (later,) = journal.append([("r", "test.append", {"n": 2})])  # the writer still works
    assert [r.payload["n"] for r in journal.records("r")] == [0, 2]
    assert later.seq == 2
    assert journal.verify().ok


_KILLED_WRITER = """
import os, signal, sys
from charter.journal import Journal
from charter.journal._store import Journal as Store

journal = Journal(sys.argv[1])
journal.append([("before", "test.append", {})])
where = sys.argv[2]
if where == "locked":  # holding the write lock, nothing written yet
    real_lock = Store._lock_for_writing

    def lock_then_die(self, conn, cursor):
        real_lock(self, conn, cursor)
        os.kill(os.getpid(), signal.SIGKILL)

    Store._lock_for_writing = lock_then_die
else:  # every statement run, the commit not yet
    real_connection = Store._connection

    class Dying:
        def __init__(self, conn):
            self._conn = conn

        def __getattr__(self, name):
            return getattr(self._conn, name)

        def commit(self):
            os.kill(os.getpid(), signal.SIGKILL)

    Store._connection = lambda self: Dying(real_connection(self))
journal.append([("killed", "test.append", {}), ("killed", "test.more", {})])
"""


@pytest.mark.parametrize("where", ["locked", "before-commit"])
def test_a_writer_killed_mid_append_leaves_an_intact_chain_and_the_lock_free(
    tmp_path: Path, where: str
) -> None:
    url = f"sqlite:///{tmp_path / 'j.db'}"
    Journal(url).close()
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, url, where], capture_output=True, timeout=120
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    journal = Journal(url)
    journal._others_write = True  # pyright: ignore[reportPrivateUsage]
    (after,) = journal.append([("after", "test.append", {})])
    assert [r.run_id for r in journal.records()] == ["before", "after"]
    assert after.seq == 2
    assert journal.verify().ok
