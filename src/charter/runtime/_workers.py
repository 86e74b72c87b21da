"""Worker liveness, so the live workers take over the runs of a dead one.

Every ``charter worker`` beats in the ``charter_workers`` table of the journal's database.
A worker silent for longer than ``dead_after`` is dead: the first live worker to claim it
(a compare-and-set on its last beat, so exactly one wins) hands its unfinished runs back to
the queue, where any worker picks them up and recovers them from the journal. The takeover
is journaled (``worker.taken_over``).

A worker that was only stalled (paused, swapped out) past ``dead_after`` finds at its next
beat that it was taken over and exits at once, so its runs are not driven by two workers
for longer than one beat. Choose ``dead_after`` well above the longest pause expected.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from charter.errors import ConfigError
from charter.journal import Journal
from charter.journal._kinds_platform import WorkerTakenOver

WORKERS_RUN = "workers"
"""``run_id`` of worker records in the journal."""

workers_table = Table(
    "charter_workers",
    MetaData(),
    Column("worker_id", String(128), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_ms", BigInteger, nullable=False),
    Column("beat_ms", BigInteger, nullable=False),
    Column("taken_over_by", String(128)),
)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """One worker as the table knows it."""

    worker_id: str
    host: str
    pid: int
    started_ms: int
    beat_ms: int
    taken_over_by: str | None

    def state(self, now_ms: int, dead_after: float) -> str:
        """``alive``, ``silent`` (past ``dead_after``, not yet taken over) or
        ``taken over by <id>``."""
        if self.taken_over_by is not None:
            return f"taken over by {self.taken_over_by}"
        return "alive" if now_ms - self.beat_ms <= dead_after * 1000 else "silent"


def _running_elsewhere(row: WorkerRow) -> bool:
    """Whether the process that last beat as ``row`` may still run (and is not us).

    On this host the answer is exact; on another one, only silence can tell.
    """
    if row.host != socket.gethostname():
        return True
    if row.pid == os.getpid():
        return False
    try:
        os.kill(row.pid, 0)
    except ProcessLookupError:
        return False  # it died: this is its restart
    except PermissionError:
        return True  # a process of another user holds that pid
    return True


class WorkerRegistry:
    """This worker's row in ``charter_workers``, and the takeover of silent peers.

    Args:
        journal: the journal whose database holds the table.
        worker_id: this worker's id.
        dead_after: seconds of silence after which a worker counts as dead.
        now_ms: the current time in ms (replaceable in tests).
    """

    def __init__(
        self,
        journal: Journal,
        worker_id: str,
        *,
        dead_after: float,
        now_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self.journal = journal
        self.worker_id = worker_id
        self.dead_after = dead_after
        self._now_ms = now_ms

    def register(self) -> None:
        """Start beating as ``worker_id``; a restarted worker takes its old row back.

        Raises:
            ConfigError: another process beats under this id: one still running on this
                host, or one on another host that beat within ``dead_after``.
        """
        now = self._now_ms()
        me = {"host": socket.gethostname(), "pid": os.getpid()}
        row = {"started_ms": now, "beat_ms": now, "taken_over_by": None} | me
        with self.journal.engine.begin() as conn:
            found = conn.execute(
                select(workers_table).where(workers_table.c.worker_id == self.worker_id)
            ).first()
            if found is None:
                try:
                    conn.execute(insert(workers_table).values(worker_id=self.worker_id, **row))
                    return
                except IntegrityError:
                    raise ConfigError(
                        f"worker id {self.worker_id!r} was just registered by another process"
                    ) from None
            current = WorkerRow(*found)
            if current.state(now, self.dead_after) == "alive" and _running_elsewhere(current):
                raise ConfigError(
                    f"worker id {self.worker_id!r} is in use by pid {current.pid} on "
                    f"{current.host} (last beat {(now - current.beat_ms) / 1000:.1f}s ago); "
                    "give this worker another --id"
                )
            conn.execute(
                update(workers_table).where(workers_table.c.worker_id == self.worker_id),
                row,
            )

    def beat(self) -> bool:
        """Record that this worker is alive; False if it was taken over meanwhile."""
        with self.journal.engine.begin() as conn:
            done = conn.execute(
                update(workers_table)
                .where(workers_table.c.worker_id == self.worker_id)
                .where(workers_table.c.taken_over_by.is_(None))
                .values(beat_ms=self._now_ms())
            )
        return done.rowcount == 1

    def workers(self) -> list[WorkerRow]:
        """Every worker the table knows, by id."""
        with self.journal.engine.connect() as conn:
            rows = conn.execute(select(workers_table).order_by(workers_table.c.worker_id))
            return [WorkerRow(*row) for row in rows]

    def silent_peers(self) -> list[WorkerRow]:
        """Other workers silent past ``dead_after`` and not taken over yet."""
        now = self._now_ms()
        return [
            row
            for row in self.workers()
            if row.worker_id != self.worker_id and row.state(now, self.dead_after) == "silent"
        ]

    def claim(self, peer: WorkerRow) -> bool:
        """Take ``peer`` over unless it beat again or another worker claimed it first."""
        with self.journal.engine.begin() as conn:
            done = conn.execute(
                update(workers_table)
                .where(
                    and_(
                        workers_table.c.worker_id == peer.worker_id,
                        workers_table.c.beat_ms == peer.beat_ms,
                        workers_table.c.taken_over_by.is_(None),
                    )
                )
                .values(taken_over_by=self.worker_id)
            )
        return done.rowcount == 1

    def record_takeover(self, peer: WorkerRow, runs: list[str]) -> None:
        """Journal that this worker took ``peer`` over and requeued ``runs``."""
        silent = (self._now_ms() - peer.beat_ms) / 1000
        payload: WorkerTakenOver = {
            "worker": peer.worker_id,
            "host": peer.host,
            "pid": peer.pid,
            "by": self.worker_id,
            "silent_seconds": round(silent, 3),
            "runs": runs,
        }
        self.journal.append([(WORKERS_RUN, "worker.taken_over", payload)])
