"""The journal store: an append-only, hash-chained table on SQLAlchemy.

One global chain: every record's ``prev_hash`` is the previous record's ``hash``. Appends
are optimistic: the next ``seq`` is the cached head plus one, and the primary key rejects a
concurrent writer. On SQLite an append holds the database's write lock from its first
statement (``BEGIN IMMEDIATE``), so a rejected one re-reads the head under that lock and
chains again at once; from then on the handle, knowing it shares the file, checks the head
under the lock before each append (``PRAGMA data_version``) and never collides again.
Elsewhere the head is re-read and the batch retried after a short random pause
(exponential backoff with jitter, bounded in total). The head is also kept in
``journal_meta`` so a truncated tail is detected. An in-memory journal stores its
appends in batches, before anyone can read them (:mod:`charter.journal._deferred`).

Signed checkpoints (``journal_checkpoints``) are written only by explicit
:meth:`Journal.checkpoint` calls (:mod:`charter.journal._audit`, with verification) or
in the transaction of an append that asks for one; reads of the records are
:mod:`charter.journal._lookup`'s.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, SQLAlchemyError
from sqlalchemy.pool import PoolProxiedConnection, StaticPool

from charter._permissions import private_directory, private_file
from charter.errors import JournalContentionError, JournalError
from charter.journal._audit import SIGNED_KINDS, JournalAudit
from charter.journal._checkpoint import JournalSigner
from charter.journal._deferred import BATCH_ROWS, DeferredRows
from charter.journal._kinds import Entry
from charter.journal._lease import Fence, now_ms_sql, refusal, share_connection
from charter.journal._record import (
    Record,
    canonical_json,
    chained_hash,
    utc_stamp,
)
from charter.journal._schema import check_readable, migrate
from charter.journal._sqlite import (  # safe_url is imported from this module too
    BUSY_TIMEOUT_MS,
    read_only_file,
    safe_url,
    sqlite_pragmas,
    sqlite_read_only_pragmas,
)
from charter.journal._tables import (  # the tables are imported from this module too
    checkpoints_table,
    meta_table,
    metadata,
    newest_record,
    read_head,
    records_table,
)
from charter.journal._tables import driver_reason as _reason
from charter.journal._wal import WalCheckpoints

log = logging.getLogger("charter.journal")

_ONE_STATEMENT_ROWS = 1000
"""Most records one PostgreSQL append statement carries (7 parameters each, of at most
65,535); a larger batch goes as a transaction of several statements."""
_ONE_INSERT_ROWS = 64
"""Most records one INSERT carries elsewhere (7 parameters each: 448, under the 999 an
older SQLite allows); a larger batch is inserted row by row."""


APPEND_FIRST_WAIT_S = 0.002
"""Longest pause before the first retry of an append another writer beat (each pause is
drawn at random up to a ceiling that doubles per collision)."""
APPEND_WAIT_CEILING_S = 0.25
"""The ceiling's cap."""
APPEND_MAX_WAIT_S = 10.0
"""Most time one append spends waiting between collisions before it gives up."""

LOCK_FIRST_WAIT_S = 0.00005
"""Longest first pause of a SQLite append waiting for the write lock another connection
holds (doubling up to ``LOCK_WAIT_CEILING_S``): the holder's transaction takes about a
tenth of a millisecond, where SQLite's own busy handler would first sleep a whole one."""
LOCK_WAIT_CEILING_S = 0.001
"""Longest pause between two attempts at the write lock."""
LOCK_MAX_WAIT_S = 10.0
"""Most time a SQLite append waits for the write lock before it gives up (as long as the
busy timeout every connection has)."""

_sleep = time.sleep
"""How an append waits between collisions (replaceable in tests)."""


class _SeqCollision(Exception):
    """Another writer took the next seq first."""


class _Fenced(Exception):
    """The run's lease is no longer held at the fence's epoch."""


_DIVISION_BY_ZERO = "22012"
"""SQLSTATE of the one-statement append whose fence matched no lease row."""


class Journal(JournalAudit):
    """Append-only hash-chained journal. Safe to share between threads of one process."""

    def __init__(
        self, url: str, signer: JournalSigner | None = None, *, read_only: bool = False
    ) -> None:
        """Open (and create if needed) the journal at SQLAlchemy ``url``.

        Args:
            url: SQLAlchemy database URL.
            signer: signs checkpoints of the head (:meth:`checkpoint`); without one,
                checkpoints are not written.
            read_only: open an existing journal only to read it: nothing is created,
                migrated or written (SQLite opens the file with ``mode=ro``, PostgreSQL
                sessions are read-only), so reading or verifying a journal never alters
                it and a wrong path is an error instead of a new, empty journal.

        Raises:
            JournalError: the URL is malformed, the database unreachable or not a
                database, its schema belongs to another version of charter, or (read-only)
                there is no journal there.
        """
        self.url = url
        self.signer = signer
        self.read_only = read_only
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise JournalError(f"invalid database URL {url!r}: {exc}") from exc
        options: dict[str, Any] = {}
        engine_url: str = url
        if read_only and parsed.get_backend_name() == "sqlite":
            engine_url = read_only_file(url, parsed.database)
        elif read_only and parsed.get_backend_name() == "postgresql":
            options = {"connect_args": {"options": "-c default_transaction_read_only=on"}}
        elif parsed.get_backend_name() == "sqlite":
            if parsed.database in (None, "", ":memory:"):
                # One shared connection, or every checkout would see a different empty DB.
                options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
            else:
                try:
                    # It holds customer data: readable by its owner alone, like the key.
                    private_directory(Path(parsed.database).parent)
                    private_file(Path(parsed.database))
                except OSError as exc:
                    raise JournalError(
                        f"cannot open journal at {safe_url(url)}: "
                        f"cannot create it or its directory: {exc}"
                    ) from exc
        try:
            self._engine: Engine = create_engine(engine_url, **options)
        except (ArgumentError, ImportError) as exc:
            raise JournalError(f"cannot use database URL {safe_url(url)}: {exc}") from exc
        self._lock = threading.RLock()
        self._wal: WalCheckpoints | None = None
        """Checkpoints a SQLite file's log off the append path (see :mod:`._wal`)."""
        if parsed.get_backend_name() == "sqlite":
            pragmas = sqlite_read_only_pragmas if read_only else sqlite_pragmas
            event.listen(self._engine, "connect", pragmas)
            if not read_only and parsed.database not in (None, "", ":memory:"):
                self._wal = WalCheckpoints(self._engine, self._lock)
                weakref.finalize(self, self._wal.stop)  # a journal collected unclosed
        self._shared: DBAPIConnection | None = None
        """The one connection of an in-memory journal, which every thread uses in turn."""
        self._deferred: DeferredRows | None = None
        """An in-memory journal's records appended but not yet stored (see :mod:`._deferred`)."""
        if options.get("poolclass") is StaticPool:  # one connection shared by every thread
            self._share_connection()
        self._writer: PoolProxiedConnection | None = None
        self._newest: dict[tuple[str, ...], int] = {}
        """:meth:`latest_seq` answers by kinds (SQLite), kept current by this handle's own
        appends and valid while no other connection has written."""
        self._data_version: int | None = None
        """The writer connection's ``PRAGMA data_version`` when ``_newest`` was last valid."""
        self._head_version: int | None = None
        """The writer connection's ``PRAGMA data_version`` when the cached head was last
        known to be the journal's (SQLite): while it holds, no other connection wrote."""
        self._others_write = False
        """Another connection was seen appending to this SQLite journal (a collision):
        from then on each append checks the head under the write lock."""
        dbapi: Any = self._engine.dialect.dbapi
        self._integrity_errors: type[Exception] = dbapi.IntegrityError
        self._dbapi_error: type[Exception] = dbapi.Error
        style = self._engine.dialect.paramstyle
        if style not in ("qmark", "format", "pyformat"):
            raise JournalError(
                f"database driver of {safe_url(url)} uses unsupported paramstyle {style}"
            )
        mark = "?" if style == "qmark" else "%s"
        self._mark = mark
        self._sqlite = parsed.get_backend_name() == "sqlite"
        self._one_statement = self._engine.dialect.driver == "psycopg"
        """PostgreSQL through psycopg 3 (the driver charter[postgres] installs and tests;
        others keep transactions): an append is one statement and a read one query,
        each run in autocommit (atomic as any statement), so each costs one round trip
        instead of BEGIN, the statements and COMMIT."""
        self._append_sql: dict[tuple[int, bool, str | None], str] = {}
        self._insert_rows_sql: dict[int, str] = {}
        self._lease_sql: tuple[str, str, str] | None = None
        """The statements that create, release and renew a run's lease in an append."""
        self._insert_sql = (
            "INSERT INTO journal_records (seq, run_id, kind, ts, payload, prev_hash, hash) "
            f"VALUES ({', '.join([mark] * 7)})"
        )
        self._head_sql = f"UPDATE journal_meta SET value = {mark} WHERE key = 'head'"
        self._head_insert_sql = f"INSERT INTO journal_meta (key, value) VALUES ('head', {mark})"
        lease = f"SELECT 1 FROM run_leases WHERE run_id = {mark} AND epoch = {mark}"
        self._head_fenced_sql = f"{self._head_sql} AND EXISTS ({lease})"
        """The head moved by an append that checks its fence without renewing the lease."""
        self._epoch_sql = lease
        self._checkpoint_sql = (
            "INSERT INTO journal_checkpoints (seq, hash, key_id, signature, ts) "
            f"VALUES ({', '.join([mark] * 5)})"
        )
        try:
            if read_only:
                check_readable(self._engine, safe_url(url))
            else:
                migrate(self._engine)
            with self._engine.connect() as conn:
                self._head_seq, self._head_hash = self._read_head(conn)
        except DatabaseError as exc:  # unreachable, or not a database (a corrupt file)
            self._engine.dispose()
            raise JournalError(f"cannot open journal at {safe_url(url)}: {_reason(exc)}") from exc
        except JournalError:
            self._engine.dispose()
            raise

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tools that share the database)."""
        return self._engine

    def close(self) -> None:
        """Release the connection pool."""
        if self._wal is not None:
            self._wal.close()
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        self._engine.dispose()

    _read_head = staticmethod(read_head)

    def _share_connection(self) -> None:
        """Serialise every use of an in-memory journal's one connection under the lock
        appends take: each checkout takes it until checkin, and lease statements take it.

        Without this, one thread's read ended (and so rolled back) another thread's
        append half-way on the shared connection, losing the lease row or records it had
        written, and two threads inside SQLite on one connection could crash the process.
        """
        lock = self._lock
        deferred = self._deferred = DeferredRows()

        def checkout(*_: object) -> None:
            lock.acquire()
            deferred.sessions += 1
            try:
                self._store_deferred()  # whoever checks it out may read at once
            except JournalError as exc:
                # Raised here, the pool would close the connection, and with it the whole
                # database: the records stay waiting, for the next append (which fails
                # while they cannot be stored) or checkout to store.
                log.error("%s; %d records wait to be stored", exc, deferred.rows)

        def returned(*_: object) -> None:
            deferred.sessions -= 1
            lock.release()

        # Paired per checkout: "checkin" is not (StaticPool's one pool record keeps only
        # the newest checkout, so a second concurrent one would never be checked in).
        event.listen(self._engine, "checkout", checkout)
        event.listen(self._engine, "reset", returned)
        share_connection(self._engine, lock)
        with self._engine.raw_connection() as proxy:  # the writer uses it under the lock
            driver = proxy.dbapi_connection
        assert driver is not None, "a checked-out connection has its DBAPI connection"
        self._shared = driver

    def _connection(self) -> DBAPIConnection:
        """The held writer connection (opened on first use, or after a failure), as the
        driver's own connection: the hot path skips the pool proxy's indirection."""
        if self._shared is not None:
            return self._shared
        if self._writer is None:
            self._writer = self._engine.raw_connection()
            self._data_version = self._head_version = None  # per-connection counters
        driver = self._writer.dbapi_connection
        assert driver is not None, "a checked-out connection has its DBAPI connection"
        return driver

    def _store_deferred(self) -> None:
        """Store an in-memory journal's waiting records (under the lock), in one
        transaction: all of them or, on an error, none (they stay waiting).

        Raises:
            JournalError: the database refused them.
        """
        deferred, conn = self._deferred, self._shared
        if deferred is None or conn is None or not deferred.values:
            return
        cursor = conn.cursor()
        try:
            deferred.store(cursor, self._rows_sql, self._head_sql, self._head_insert_sql)
            conn.commit()
        except self._dbapi_error as exc:
            conn.rollback()
            raise JournalError(f"cannot append to journal at {safe_url(self.url)}: {exc}") from exc
        finally:
            cursor.close()
        deferred.values = []
        deferred.changes = cast(Any, conn).total_changes

    def _defer(
        self,
        deferred: DeferredRows,
        entries: Sequence[Entry],
        fence: Fence | None,
        chain: Callable[[], tuple[list[Record], list[Any]]],
    ) -> list[Record] | None:
        """Chain an in-memory journal's append onto the head and keep its records to store
        later; None when it must be stored at once (see :mod:`._deferred`)."""
        conn = cast(Any, self._shared)
        if conn.total_changes != deferred.changes:  # written by something else meanwhile
            self._store_deferred()
            cursor = conn.cursor()
            try:
                self._head_seq, self._head_hash = newest_record(cursor)
            finally:
                cursor.close()
            deferred.epochs.clear()
            deferred.changes = conn.total_changes
        if not deferred.may_keep(entries, fence):
            self._store_deferred()  # first: stored records keep their order
            return None
        if deferred.rows >= BATCH_ROWS:
            self._store_deferred()  # before chaining: if it fails, this append is not kept
        built, values = chain()
        deferred.values += values
        head = built[-1]
        deferred.head = f"{head.seq}:{head.hash}"
        return built

    def append(
        self, entries: Sequence[Entry], *, checkpoint: bool = False, fence: Fence | None = None
    ) -> list[Record]:
        """Append ``entries`` atomically, in order; return the stored records.

        Args:
            entries: ``(run_id, kind, payload)`` of each record.
            checkpoint: also sign the new head in the same transaction (with a signer;
                the runner asks for this when a run ends).
            fence: the run's lease as its owner holds it: in the same transaction the
                lease is renewed (or released) provided its epoch is still the fence's,
                else nothing is appended.

        Raises:
            LeaseLostError: with ``fence``, another process claimed the run meanwhile.
            RunOwnedError: with a fence creating a new run's lease, the run has one.
            JournalContentionError: other writers kept taking the next seq for
                ``APPEND_MAX_WAIT_S``; nothing was stored.
            JournalError: the database refused the append.
        """
        if not entries:
            return []
        # Serialised once, outside the lock: a retry after a collision only re-chains, and
        # threads appending together encode their payloads side by side.
        bodies = [canonical_json(payload) for _, _, payload in entries]
        encoded = [body.encode() for body in bodies]  # hashed as they are, under the lock
        waited, ceiling, collided, relocked = 0.0, APPEND_FIRST_WAIT_S, False, False
        while True:
            fenced = False
            with self._lock:
                if collided:  # read after the pause: read before, a busy writer moved it again
                    with self._engine.connect() as conn:
                        self._head_seq, self._head_hash = self._read_head(conn)

                def chain() -> tuple[list[Record], list[Any]]:
                    """The records chained onto the head, and their column values in
                    order: called once the head is final (on SQLite, under the
                    database's write lock)."""
                    ts = utc_stamp()  # under the lock: stamps follow seq
                    seq, prev = self._head_seq, self._head_hash
                    built: list[Record] = []
                    values: list[Any] = []
                    for (run_id, kind, _), body, raw in zip(entries, bodies, encoded, strict=True):
                        seq += 1
                        digest = chained_hash(seq, run_id, kind, ts, prev, raw)
                        built.append(Record(seq, run_id, kind, ts, body, prev, digest))
                        values += (seq, run_id, kind, ts, body, prev, digest)
                        prev = digest
                    return built, values

                try:
                    deferred = self._deferred
                    stored = None
                    if deferred is not None:
                        if checkpoint and self.signer is not None:
                            self._store_deferred()
                        else:
                            stored = self._defer(deferred, entries, fence, chain)
                    built = stored or self._write(
                        chain, sign=checkpoint and self.signer is not None, fence=fence
                    )
                    if deferred is not None and stored is None:
                        deferred.changes = cast(Any, self._shared).total_changes
                        if fence is not None:
                            deferred.epochs.add((fence.run_id, fence.epoch))
                except _Fenced:
                    fenced = True  # said once the lock is released: saying it reads
                except _SeqCollision:
                    if self._sqlite and not relocked:
                        # It held the write lock: read the head under it and chain again
                        # at once, with no pause (no writer can move the head meanwhile).
                        relocked, self._others_write, self._head_version = True, True, None
                        continue
                    collided = True  # chained after its head once the pause is over
                except SQLAlchemyError as exc:
                    raise JournalError(
                        f"cannot append to journal at {safe_url(self.url)}: {exc}"
                    ) from exc
                else:
                    self._head_seq, self._head_hash = built[-1].seq, built[-1].hash
                    if self._wal is not None:
                        self._wal.committed()
                    newest = self._newest
                    for kinds in newest:
                        for record in built:
                            if record.kind in kinds:
                                newest[kinds] = record.seq
                    return built
            if fenced:
                assert fence is not None
                raise refusal(self._engine, fence)
            # Writers that collided retry at random moments, spread over a window that
            # doubles each time, so they stop colliding in step; the lock is not held
            # while waiting, so this process's other threads go on appending.
            if waited >= APPEND_MAX_WAIT_S:
                raise JournalContentionError(
                    f"journal append kept colliding with other writers for {waited:.1f}s at "
                    f"{safe_url(self.url)}; nothing was stored, try again"
                )
            pause = min(random.uniform(0, ceiling), APPEND_MAX_WAIT_S - waited)
            _sleep(pause)
            waited += pause
            ceiling = min(ceiling * 2, APPEND_WAIT_CEILING_S)

    def _fence_sql(self, fence: Fence) -> tuple[str, tuple[Any, ...]]:
        """The lease update a fenced append makes (and needs to match one row)."""
        if self._lease_sql is None:  # built once: every append of a run asks
            mark = self._mark
            now = now_ms_sql(self._engine.dialect.name)
            where = f"WHERE run_id = {mark} AND epoch = {mark}"
            self._lease_sql = (
                "INSERT INTO run_leases (run_id, epoch, owner, host, pid, actor, expires_ms) "
                f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, {mark}, {now} + {mark}) "
                "ON CONFLICT (run_id) DO NOTHING",
                f"UPDATE run_leases SET expires_ms = 0 {where}",
                f"UPDATE run_leases SET expires_ms = {now} + {mark} {where}",
            )
        create, release, renew = self._lease_sql
        if fence.create is not None:
            row = fence.create
            return (
                create,
                (row.run_id, row.epoch, row.owner, row.host, row.pid, row.actor, fence.ttl_ms),
            )
        if fence.release:
            return release, (fence.run_id, fence.epoch)
        return renew, (fence.ttl_ms, fence.run_id, fence.epoch)

    def _write(
        self,
        chain: Callable[[], tuple[list[Record], list[Any]]],
        *,
        sign: bool = False,
        fence: Fence | None = None,
    ) -> list[Record]:
        """Store the records ``chain`` makes (called once the head is known for certain;
        with their column values, seven per record) in one transaction; return them."""
        # The hot path: one held DBAPI connection and plain SQL, so an append costs about
        # one commit instead of a pool checkout plus SQLAlchemy's statement machinery.
        conn = self._connection()
        cursor = conn.cursor()
        broken: PoolProxiedConnection | None = None
        try:
            if self._sqlite:
                # The write lock first, then the head: the head cannot move before the
                # commit, so the records never collide with another writer's.
                self._lock_for_writing(conn, cursor)
            built, values = chain()
            head = built[-1]
            head_value = f"{head.seq}:{head.hash}"
            checkpoint: tuple[int, str, str, str, str] | None = None
            if sign and self.signer is not None:
                signature = self.signer.sign(head.seq, head.hash).hex()
                checkpoint = (head.seq, head.hash, self.signer.key_id, signature, head.ts)
            # On SQLite an append whose owner renewed the lease moments ago only checks its
            # epoch, in the head's statement: the write lock, held since the transaction
            # began, keeps any claim out until the commit. Elsewhere the renewal also
            # locks the lease row, so it is always made.
            checked = (
                fence
                if fence is not None
                and self._sqlite
                and not (fence.renew or fence.release or fence.create)
                else None
            )
            fenced = None if fence is None or checked is not None else self._fence_sql(fence)
            if self._one_statement and len(built) <= _ONE_STATEMENT_ROWS:
                params = [] if fenced is None else list(fenced[1])
                params += values
                params += [*(checkpoint or ()), head_value]
                statement = self._append_statement(
                    len(built), checkpoint is not None, None if fenced is None else fenced[0]
                )
                conn.autocommit = True
                try:
                    cursor.execute(statement, params)
                finally:
                    conn.autocommit = False
            else:
                if fenced is not None:  # first: it takes the lease row's lock
                    cursor.execute(*fenced)
                    if cursor.rowcount != 1:
                        raise _Fenced
                if len(built) <= _ONE_INSERT_ROWS:  # one statement: stepped once, not per row
                    cursor.execute(self._rows_sql(len(built)), values)
                else:
                    cursor.executemany(
                        self._insert_sql, [values[i : i + 7] for i in range(0, len(values), 7)]
                    )
                if checked is not None:
                    lease = (checked.run_id, checked.epoch)
                    cursor.execute(self._head_fenced_sql, (head_value, *lease))
                else:
                    cursor.execute(self._head_sql, (head_value,))
                if cursor.rowcount == 0:  # no head row yet (or, checked, the epoch moved)
                    if checked is not None:
                        cursor.execute(self._epoch_sql, (checked.run_id, checked.epoch))
                        if cursor.fetchone() is None:
                            raise _Fenced
                    cursor.execute(self._head_insert_sql, (head_value,))
                if checkpoint is not None:
                    cursor.execute(self._checkpoint_sql, checkpoint)
                conn.commit()
            return built
        except self._integrity_errors as exc:
            conn.rollback()
            raise _SeqCollision from exc
        except self._dbapi_error as exc:
            if fence is not None and getattr(exc, "sqlstate", None) == _DIVISION_BY_ZERO:
                conn.rollback()
                raise _Fenced from exc
            # The connection may be broken (server restart, disk full): start afresh next time.
            broken, self._writer = self._writer, None
            raise JournalError(f"cannot append to journal at {safe_url(self.url)}: {exc}") from exc
        except BaseException:
            # Anything else (the signer failed, an interrupt): nothing of it may be left
            # in an open transaction for a later commit to store.
            with contextlib.suppress(self._dbapi_error):
                conn.rollback()
            raise
        finally:
            # Before the invalidation: closing a cursor of a closed connection raises,
            # which would hide the append's own error.
            with contextlib.suppress(self._dbapi_error):
                cursor.close()
            if broken is not None:
                broken.invalidate()

    def _lock_for_writing(self, conn: DBAPIConnection, cursor: Any) -> None:
        """Begin a SQLite append's transaction holding the write lock (``BEGIN
        IMMEDIATE``); once other connections are known to write to the journal too,
        also make sure the cached head is the journal's: re-read it if another
        connection committed since this one last looked.

        Then the lock is waited for here, in short jittered pauses, rather than by
        SQLite's busy handler, whose first sleep is a whole millisecond. A handle that
        writes alone pays for neither: one statement, which replaces the ``BEGIN`` the
        driver would issue anyway.

        Raises:
            JournalContentionError: other connections held the lock for
                ``LOCK_MAX_WAIT_S``; nothing was stored.
        """
        if cast(Any, conn).in_transaction:
            pass
        elif not self._others_write:  # as far as this handle knows, it writes alone
            cursor.execute("BEGIN IMMEDIATE")
        else:
            cursor.execute("PRAGMA busy_timeout=0")
            try:
                waited, ceiling = 0.0, LOCK_FIRST_WAIT_S
                while True:
                    try:
                        cursor.execute("BEGIN IMMEDIATE")
                        break
                    except self._dbapi_error as exc:
                        if "locked" not in str(exc) and "busy" not in str(exc):
                            raise
                    if waited >= LOCK_MAX_WAIT_S:
                        raise JournalContentionError(
                            f"journal at {safe_url(self.url)} stayed locked by another "
                            f"writer for {waited:.1f}s; nothing was stored, try again"
                        )
                    pause = random.uniform(ceiling / 2, ceiling)
                    _sleep(pause)
                    waited += pause
                    ceiling = min(ceiling * 2, LOCK_WAIT_CEILING_S)
            finally:
                cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if not self._others_write:
            return  # a stale head shows as a collision, which sets _others_write
        cursor.execute("PRAGMA data_version")
        version = int(cursor.fetchone()[0])
        if version != self._head_version:
            self._head_seq, self._head_hash = newest_record(cursor)
            self._head_version = version

    def _rows_sql(self, rows: int) -> str:
        """One INSERT of ``rows`` records (SQLite, or PostgreSQL through another driver)."""
        found = self._insert_rows_sql.get(rows)
        if found is None:
            one = f"({', '.join([self._mark] * 7)})"
            found = self._insert_rows_sql[rows] = (
                "INSERT INTO journal_records (seq, run_id, kind, ts, payload, prev_hash, hash) "
                f"VALUES {', '.join([one] * rows)}"
            )
        return found

    def _append_statement(self, rows: int, signed: bool, fence: str | None = None) -> str:
        """One PostgreSQL statement appending ``rows`` records, moving the head and, when
        ``signed``, storing the checkpoint: all of it or, on any error, none. With
        ``fence`` (the lease update), the head moves only if it matched the lease row,
        else a division by zero fails the whole statement."""
        key = (rows, signed, fence)
        found = self._append_sql.get(key)
        if found is None:
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * rows)
            checkpoint = (
                ", signed AS (INSERT INTO journal_checkpoints (seq, hash, key_id, signature, ts)"
                " VALUES (%s, %s, %s, %s, %s))"
                if signed
                else ""
            )
            fenced = "" if fence is None else f"fence AS ({fence} RETURNING 1), "  # 0 or 1 row
            head = (
                "VALUES ('head', %s)"
                if fence is None
                else "SELECT 'head', %s WHERE 1 / (SELECT count(*) FROM fence) = 1"
            )
            found = self._append_sql[key] = (
                f"WITH {fenced}appended AS (INSERT INTO journal_records "
                f"(seq, run_id, kind, ts, payload, prev_hash, hash) VALUES {values}){checkpoint} "
                f"INSERT INTO journal_meta (key, value) {head} "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
            )
        return found

    def latest_seq(self, kinds: Sequence[str]) -> int:
        """Seq of the newest record of any of ``kinds`` (0 if none): a cheap change check.

        On SQLite the answer is kept between calls: this handle's appends update it, and
        ``PRAGMA data_version``, which changes when any other connection (another process,
        another handle) commits, says when it must be read again. Elsewhere every call
        reads it.
        """
        key = tuple(kinds)
        with self._lock:
            # An in-memory journal's one connection is all there is, so no other
            # connection can have committed (its data_version never moves).
            known = self._newest.get(key) if self._shared is not None else None
            if known is not None:
                return known
            self._store_deferred()
            conn = self._connection()
            cursor = conn.cursor()
            try:
                if self._sqlite and self._shared is None:
                    cursor.execute("PRAGMA data_version")
                    version = int(cast(Any, cursor.fetchone())[0])
                    if version != self._data_version:
                        self._newest.clear()
                        self._data_version = version
                    known = self._newest.get(key)
                    if known is not None:
                        return known
                # One (kind, seq) index lookup per kind: with ``kind IN (...)``, PostgreSQL
                # may walk the primary key backwards through the whole journal instead.
                newest = " UNION ALL ".join(
                    [f"SELECT MAX(seq) AS seq FROM journal_records WHERE kind = {self._mark}"]
                    * len(key)
                )
                query = f"SELECT MAX(seq) FROM ({newest}) AS newest"
                if self._one_statement:  # no transaction to open and end around a read
                    conn.autocommit = True
                    try:
                        cursor.execute(query, key)
                        row = cursor.fetchone()
                    finally:
                        conn.autocommit = False
                else:
                    cursor.execute(query, key)
                    row = cursor.fetchone()
                    if not self._sqlite:  # the driver opened a transaction even to read
                        conn.commit()
            except self._dbapi_error as exc:
                self._writer = None
                raise JournalError(f"cannot read journal at {safe_url(self.url)}: {exc}") from exc
            finally:
                cursor.close()
            found = int(row[0]) if row and row[0] is not None else 0
            if self._sqlite:
                self._newest[key] = found
        return found

    def claim(self, key: str, value: str) -> str | None:
        """Store ``value`` under ``key`` unless the key is taken; return the value already
        stored under it, or None when this call stored it.

        Race-safe across processes: the key is ``journal_meta``'s primary key, so of two
        concurrent claims exactly one stores its value and the other reads it.

        Raises:
            JournalError: the database cannot be reached, or ``key`` is over 64 characters.
        """
        if len(key) > 64:
            raise JournalError(f"journal meta key {key[:20]!r}... is over 64 characters")
        for _attempt in range(3):
            try:
                with self._engine.begin() as conn:
                    conn.execute(meta_table.insert(), [{"key": key, "value": value}])
                return None
            except IntegrityError:
                pass
            except SQLAlchemyError as exc:
                raise JournalError(
                    f"cannot write to journal at {safe_url(self.url)}: {exc}"
                ) from exc
            try:
                with self._engine.connect() as conn:
                    found = conn.execute(
                        select(meta_table.c.value).where(meta_table.c.key == key)
                    ).scalar_one_or_none()
            except SQLAlchemyError as exc:
                raise JournalError(f"cannot read journal at {safe_url(self.url)}: {exc}") from exc
            if found is not None:
                return str(found)
        raise JournalError(f"journal meta key {key!r} is being written and removed; try again")


__all__ = [
    "SIGNED_KINDS",
    "Entry",
    "Journal",
    "checkpoints_table",
    "meta_table",
    "metadata",
    "records_table",
    "safe_url",
]
