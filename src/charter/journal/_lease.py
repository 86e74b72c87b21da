"""Run leases: at any time one process owns a run, and only its appends reach the journal.

Claiming a run (start, resume, recover, fork, a worker picking it up) is a compare-and-set
on its row of ``run_leases`` in the journal's database: it succeeds when the run has no
lease, when the lease ended (released, or not renewed within its time to live), or when
its holder is a process of this host that no longer exists. Each claim increments the
row's ``epoch``, the fencing token: every append the owner makes for the run updates the
row ``WHERE epoch = <its epoch>`` in the same transaction as the records (renewing the
lease), so once another process has claimed the run, a former owner's next append, a
write's decision above all, is refused whole (:class:`~charter.errors.LeaseLostError`)
and the write it was about to make never happens.

Expiry is measured on the database's clock (``julianday('now')`` on SQLite,
``clock_timestamp()`` on PostgreSQL), so hosts with skewed clocks agree on it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Generator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from charter.errors import JournalError, LeaseLostError, RunOwnedError

log = logging.getLogger("charter.lease")

_SHARED: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
"""Engines whose one connection every thread shares (in-memory SQLite), each with the lock
its journal appends under: lease statements take it too, or they would run inside (and
commit or roll back) another thread's append on that connection."""


def share_connection(engine: Engine, lock: threading.RLock) -> None:
    """Say that ``engine`` has one connection, used under ``lock`` by its journal."""
    _SHARED[engine] = lock


def _guard(engine: Engine) -> AbstractContextManager[object]:
    found = _SHARED.get(engine)
    return nullcontext() if found is None else found


DEFAULT_TTL = 30.0
"""Seconds a lease lasts without renewal; its owner renews it every third of that."""


def now_ms_sql(dialect: str) -> str:
    """SQL for the database's current time in ms since the epoch."""
    if dialect == "sqlite":
        return "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
    if dialect == "postgresql":
        return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
    raise JournalError(f"run leases need SQLite or PostgreSQL, not {dialect}")


@dataclass(frozen=True, slots=True)
class Fence:
    """What a fenced append checks and does to the run's lease, in its own transaction."""

    run_id: str
    epoch: int
    ttl_ms: int
    """The lease is renewed to the database's now plus this."""
    release: bool = False
    """End the lease instead (the run finished or waits)."""
    create: LeaseRow | None = None
    """Create the lease as this row instead (the run's first records: a new run is
    claimed in the transaction that journals its start); refused if it exists."""
    renew: bool = True
    """Renew the lease; False: its owner renewed it moments ago, so on SQLite the append
    only checks the epoch, in the statement that moves the journal's head, and leaves the
    lease row (and its page of the log) alone. The epoch is checked either way."""


RENEW_AFTER = 0.1
"""Share of its time to live after which an owner's next append renews its lease; an
append sooner only checks the epoch. While a run appends, its lease so keeps at least
nine tenths of its time to live; when it stops appending the keeper renews it."""


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """A run's lease as the table holds it."""

    run_id: str
    epoch: int
    owner: str
    host: str
    pid: int
    actor: str
    expires_ms: int

    def holder(self) -> str:
        """Who holds it: owner, process and actor, for messages."""
        actor = f", actor {self.actor}" if self.actor else ""
        return f"{self.owner} (pid {self.pid} on {self.host}{actor})"

    def ends(self, now_ms: int) -> str:
        """When it ends, for messages."""
        at = datetime.fromtimestamp(self.expires_ms / 1000, UTC).strftime("%H:%M:%S UTC")
        return f"{max(0.0, (self.expires_ms - now_ms) / 1000):.1f}s from now (at {at})"

    def holder_gone(self) -> bool:
        """The holding process ran on this host and no longer exists (a restart after a
        crash or a kill may claim at once). On another host only expiry can tell."""
        if self.host != socket.gethostname() or self.pid == os.getpid():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # a process of another user holds that pid
        return _zombie(self.pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` is dead but not yet reaped by its parent (Linux ``/proc``): a killed
    owner whose parent was killed too stays a zombie until someone reaps it, and still
    answers signal 0 as if alive."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rsplit(") ", 1)[-1][:1]
    except OSError:  # no /proc (another system), or the process is gone meanwhile
        return False
    return state in ("Z", "X")


_COLUMNS = "run_id, epoch, owner, host, pid, actor, expires_ms"


def _read(conn: Connection, run_id: str) -> tuple[LeaseRow | None, int]:
    now_sql = now_ms_sql(conn.dialect.name)
    now = int(conn.execute(text(f"SELECT {now_sql}")).scalar_one())
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM run_leases WHERE run_id = :run_id"), {"run_id": run_id}
    ).first()
    return (None if row is None else LeaseRow(*row)), now


def lease_of(engine: Engine, run_id: str) -> tuple[LeaseRow | None, int]:
    """The run's lease row (None if never claimed) and the database's now in ms."""
    with _guard(engine), engine.connect() as conn:
        return _read(conn, run_id)


def owned_error(row: LeaseRow, now_ms: int) -> RunOwnedError:
    """The refusal of a claim while ``row``'s holder owns the run."""
    return RunOwnedError(
        f"run {row.run_id} is owned by {row.holder()}; its lease ends "
        f"{row.ends(now_ms)} unless renewed (epoch {row.epoch}); wait for it to end, or "
        "cancel the run"
    )


def refusal(engine: Engine, fence: Fence) -> RunOwnedError | LeaseLostError:
    """Why an append under ``fence`` was refused, naming who holds the run now."""
    run_id, epoch = fence.run_id, fence.epoch
    try:
        row, now = lease_of(engine, run_id)
    except SQLAlchemyError:
        row, now = None, 0
    if fence.create is not None:
        if row is None:  # pragma: no cover - the insert was refused because it exists
            return RunOwnedError(f"run {run_id} is claimed by another process")
        return owned_error(row, now)
    now = f"; {row.holder()} holds it (epoch {row.epoch})" if row and row.epoch != epoch else ""
    return LeaseLostError(
        f"run {run_id}: this process lost its lease (epoch {epoch}){now}; it stopped "
        "driving the run without acting further"
    )


class Lease:
    """A lease this process holds on a run; see :func:`claim`."""

    def __init__(self, engine: Engine, row: LeaseRow, ttl: float) -> None:
        self.row = row
        self.ttl = ttl
        self.released = False
        """Set by whoever journaled the release with the run's last records."""
        self.renewed_at = time.monotonic()
        """When the lease was last renewed (``time.monotonic()``); fenced appends renew it."""
        self._creating = False
        self._engine = engine

    @property
    def run_id(self) -> str:
        """The leased run."""
        return self.row.run_id

    @classmethod
    def new(cls, engine: Engine, run_id: str, *, owner: str, actor: str, ttl: float) -> Lease:
        """The lease of a new run, created by its first fenced append (no round trip of
        its own); that append is refused with RunOwnedError if the run has a lease."""
        row = LeaseRow(run_id, 1, *_me(owner, actor), 0)
        lease = cls(engine, row, ttl)
        lease._creating = True
        return lease

    def fence(self, *, release: bool = False) -> Fence:
        """The fence of an append by this owner (``release``: the run finished or waits)."""
        create = self.row if self._creating else None
        renew = (
            release
            or create is not None
            or time.monotonic() - self.renewed_at >= self.ttl * RENEW_AFTER
        )
        row = self.row
        return Fence(row.run_id, row.epoch, int(self.ttl * 1000), release, create, renew)

    def appended(self, started: float, fence: Fence) -> None:
        """Note that an append under ``fence``, begun at ``started`` (monotonic), succeeded."""
        if fence.renew:
            self.renewed_at = started
        self.released, self._creating = fence.release, False

    def _update(self, expires: str, *, unreleased: bool = False) -> bool:
        held = " AND expires_ms <> 0" if unreleased else ""
        with _guard(self._engine), self._engine.begin() as conn:
            done = conn.execute(
                text(
                    f"UPDATE run_leases SET expires_ms = {expires} "
                    f"WHERE run_id = :run_id AND epoch = :epoch{held}"
                ),
                {"run_id": self.row.run_id, "epoch": self.row.epoch, "ttl": int(self.ttl * 1000)},
            )
        return done.rowcount == 1

    def renew(self) -> bool:
        """Extend the lease by its time to live; False if it was released (the run
        finished or waits) or another process claimed it."""
        started = time.monotonic()
        renewed = self._update(f"{now_ms_sql(self._engine.dialect.name)} + :ttl", unreleased=True)
        if renewed:
            self.renewed_at = started
        return renewed

    def release(self) -> None:
        """End the lease now (a no-op once another process claimed the run)."""
        self._update("0")

    def lapse(self) -> None:
        """Stop renewing the lease in the background: its run's thread is stuck (in a
        tool call past its deadline). Unless the run journals again, the lease ends after
        its time to live and recovery may take the run over, as from a process that died;
        the stuck thread, should it come back, is fenced out."""
        _keeper.remove(self)

    def keep(self) -> None:
        """Renew the lease in the background again (the stuck call returned)."""
        _keeper.add(self)

    @contextmanager
    def held(self) -> Generator[Lease]:
        """Keep the lease renewed in the background (a slow tool or model step keeps it)
        until the block ends, then release it."""
        _keeper.add(self)
        try:
            yield self
        finally:
            _keeper.remove(self)
            try:
                if not self.released:
                    self.release()
            except SQLAlchemyError as exc:  # it expires on its own
                log.warning("releasing the lease on run %s failed: %s", self.row.run_id, exc)


class _Keeper:
    """One thread per process renews every held lease not renewed for a third of its time
    to live (a run that journals often renews its lease with its own appends)."""

    def __init__(self) -> None:
        self._held: set[Lease] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._next = 0.0
        """When the thread wakes next (monotonic)."""

    def add(self, lease: Lease) -> None:
        with self._lock:
            self._held.add(lease)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="charter-leases", daemon=True
                )
                self._thread.start()
        if lease.renewed_at + lease.ttl / 3 < self._next:
            self._wake.set()  # due before the thread wakes: let it sleep less

    def remove(self, lease: Lease) -> None:
        with self._lock:
            self._held.discard(lease)

    def _run(self) -> None:
        while True:
            self._wake.clear()
            with self._lock:
                held = list(self._held)
            now = time.monotonic()
            wait = 1.0
            for lease in held:
                due = lease.renewed_at + lease.ttl / 3
                if due <= now:
                    self._renew(lease)
                    due = time.monotonic() + lease.ttl / 3
                wait = min(wait, max(0.0, due - now))
            self._next = time.monotonic() + wait
            self._wake.wait(wait)

    def _renew(self, lease: Lease) -> None:
        try:
            if lease.renew():
                return
        except SQLAlchemyError as exc:  # a database blip: the next round tries again
            log.warning("renewing the lease on run %s failed: %s", lease.run_id, exc)
            return
        self.remove(lease)  # released, or claimed by another: nothing to keep


_keeper = _Keeper()


def _me(owner: str, actor: str) -> tuple[str, str, int, str]:
    """``(owner, host, pid, actor)`` of a lease this process takes."""
    return owner[:255], socket.gethostname()[:255], os.getpid(), actor[:255]


def claim(engine: Engine, run_id: str, *, owner: str, actor: str, ttl: float) -> Lease:
    """Claim ``run_id`` for this process: a compare-and-set on its lease row.

    Raises:
        RunOwnedError: another process holds an unexpired lease on the run.
        JournalError: the database cannot be reached.
    """
    holder = dict(zip(("owner", "host", "pid", "actor"), _me(owner, actor), strict=True))
    me: dict[str, Any] = {"run_id": run_id, "ttl": int(ttl * 1000)} | holder
    try:
        with _guard(engine), engine.begin() as conn:  # a new run, the common case: one statement
            now_sql = now_ms_sql(conn.dialect.name)
            expires = conn.execute(
                text(
                    f"INSERT INTO run_leases ({_COLUMNS}) VALUES (:run_id, 1, :owner, :host, "
                    f":pid, :actor, {now_sql} + :ttl) ON CONFLICT (run_id) DO NOTHING "
                    "RETURNING expires_ms"
                ),
                me,
            ).scalar_one_or_none()
        if expires is not None:
            mine = LeaseRow(run_id, 1, me["owner"], me["host"], me["pid"], me["actor"], expires)
            return Lease(engine, mine, ttl)
        for _attempt in range(5):
            with _guard(engine), engine.begin() as conn:
                if conn.dialect.name == "sqlite":
                    # Write-locked from the start: a read snapshot upgraded to a write
                    # after another claim committed would fail instead of waiting.
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                now_sql = now_ms_sql(conn.dialect.name)
                row, now = _read(conn, run_id)
                if row is None:
                    done = conn.execute(
                        text(
                            f"INSERT INTO run_leases ({_COLUMNS}) VALUES (:run_id, 1, "
                            f":owner, :host, :pid, :actor, {now_sql} + :ttl) "
                            "ON CONFLICT (run_id) DO NOTHING"
                        ),
                        me,
                    )
                    if done.rowcount != 1:
                        continue  # another claimant inserted first: read its row
                    epoch = 1
                else:
                    if row.expires_ms > now and not row.holder_gone():
                        raise owned_error(row, now)
                    done = conn.execute(
                        text(
                            "UPDATE run_leases SET epoch = :epoch, owner = :owner, host = :host,"
                            f" pid = :pid, actor = :actor, expires_ms = {now_sql} + :ttl "
                            "WHERE run_id = :run_id AND epoch = :was"
                        ),
                        me | {"epoch": row.epoch + 1, "was": row.epoch},
                    )
                    if done.rowcount != 1:
                        continue  # another claimant won the compare-and-set
                    epoch = row.epoch + 1
            mine = LeaseRow(
                run_id, epoch, me["owner"], me["host"], me["pid"], me["actor"], now + me["ttl"]
            )
            return Lease(engine, mine, ttl)
    except SQLAlchemyError as exc:
        raise JournalError(f"cannot claim run {run_id}: {exc}") from exc
    row, now = lease_of(engine, run_id)
    if row is None:  # pragma: no cover - the row exists once an insert collided
        raise JournalError(f"cannot claim run {run_id}: its lease row keeps changing")
    raise owned_error(row, now)


def orphaned(engine: Engine) -> list[LeaseRow]:
    """Leases never released whose holder is gone: expired, or held by a process of this
    host that no longer exists. Their runs were being driven when their owner died."""
    with _guard(engine), engine.connect() as conn:
        now = int(conn.execute(text(f"SELECT {now_ms_sql(conn.dialect.name)}")).scalar_one())
        rows = [
            LeaseRow(*row)
            for row in conn.execute(
                text(f"SELECT {_COLUMNS} FROM run_leases WHERE expires_ms <> 0 ORDER BY run_id")
            )
        ]
    return [row for row in rows if row.expires_ms <= now or row.holder_gone()]
