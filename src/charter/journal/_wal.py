"""Checkpointing a SQLite journal's write-ahead log on a thread of its own.

In WAL mode each commit appends its pages to the ``-wal`` file; a *checkpoint* copies
them back into the database file so the log can start over. SQLite runs one itself in
whichever commit takes the log past ``wal_autocheckpoint`` pages, and with
``synchronous=NORMAL`` that checkpoint syncs the log and then the database file: two
fsyncs, milliseconds to tens of milliseconds on a busy disk, paid by the append that
happened to cross the line (a run's step, waiting). Every other commit syncs nothing.

So a journal's appends leave the log to :class:`WalCheckpoints`: every
:data:`CHECKPOINT_EVERY` commits it wakes a thread that runs passive checkpoints on a
connection of its own (SQLite lets them run beside the writer, which only appends to the
log meanwhile). The log starts over only once every page in it was copied, which a
checkpoint racing the writer never achieves (the log grew to the safety net below and
each commit cost a fifth more CPU): so once what is left is small, a last checkpoint
runs under the journal's append lock, and copies and syncs only that little while this
process's appends wait. Nothing about durability changes: a commit is durable against a process
crash once it is in the log, checkpointed or not, and a checkpoint interrupted by a crash
is finished by the next connection to open the file. The writer's own automatic
checkpoint stays as a safety net at :data:`WRITER_AUTOCHECKPOINT_PAGES`, should the
thread fall behind.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a file read through sqlite3 alone (charter._sqlite) loads no SQLAlchemy
    from sqlalchemy import Engine

log = logging.getLogger("charter.journal")

CHECKPOINT_EVERY = 100
"""Commits between two background checkpoints (a step's commit logs about ten pages, so
about SQLite's default of 1,000 pages)."""

WRITER_AUTOCHECKPOINT_PAGES = 20_000
"""The log's size (pages) at which a writer's commit checkpoints by itself after all."""

LEFT_FOR_THE_LOCK = 64
"""Most pages left uncopied by the checkpoints beside the writer before the last one
runs under the append lock (about six commits' worth)."""
PASSES = 4
"""Most checkpoints beside the writer before the last one, whatever is left."""


class WalCheckpoints:
    """Checkpoints one SQLite file journal's log in the background, every
    :data:`CHECKPOINT_EVERY` commits its appends report with :meth:`committed`."""

    def __init__(self, engine: Engine, append_lock: threading.RLock) -> None:
        self._engine = engine
        self._append_lock = append_lock
        self._commits = 0
        self._due = threading.Event()
        self._lock = threading.Lock()
        """Held while a checkpoint runs, so :meth:`close` waits for it to end."""
        self._closed = False
        self._thread: threading.Thread | None = None
        self.done = 0
        """Checkpoints run so far (for tests and benchmarks)."""

    def committed(self) -> None:
        """Count a commit; every :data:`CHECKPOINT_EVERY`-th wakes the thread."""
        self._commits += 1
        if self._commits < CHECKPOINT_EVERY or self._closed:
            return
        self._commits = 0
        thread = self._thread
        if thread is None or not thread.is_alive():  # first use, or a forked child
            thread = self._thread = threading.Thread(
                target=self._run, name="charter-wal-checkpoints", daemon=True
            )
            thread.start()
        self._due.set()

    def _run(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            if self._closed:
                return
            self.checkpoint()

    def checkpoint(self) -> tuple[int, int, int] | None:
        """Run one passive checkpoint now; its ``(busy, log pages, checkpointed pages)``,
        or None when closed or the database refused (logged: the next one tries again,
        and the writer's safety net remains)."""
        with self._lock:
            if self._closed:
                return None
            try:
                conn = self._engine.raw_connection()
            except Exception as exc:  # never let the thread die of it
                log.warning("journal log checkpoint could not connect: %s", exc)
                return None
            try:
                cursor = conn.cursor()
                row = None
                for _pass in range(PASSES):
                    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    row = cursor.fetchone()
                    if row is None or int(row[1]) - int(row[2]) <= LEFT_FOR_THE_LOCK:
                        break
                with self._append_lock:  # the rest, with this process's appends waiting
                    cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    row = cursor.fetchone()
                cursor.close()
            except Exception as exc:  # a locked or failing file: next time
                log.warning("journal log checkpoint failed: %s", exc)
                return None
            finally:
                conn.close()
            self.done += 1
            return None if row is None else (int(row[0]), int(row[1]), int(row[2]))

    def close(self) -> None:
        """Stop the thread, after the checkpoint it is running if any."""
        self.stop()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    def stop(self) -> None:
        """Stop the thread without waiting for it (also when the journal is collected
        unclosed, so no lock: a collection may run on the thread, mid-checkpoint)."""
        self._closed = True
        self._due.set()
