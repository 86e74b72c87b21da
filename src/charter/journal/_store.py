"""The journal store: an append-only, hash-chained table on SQLAlchemy.

One global chain: every record's ``prev_hash`` is the previous record's ``hash``. Appends
are optimistic: the next ``seq`` is the cached head plus one, and the primary key rejects a
concurrent writer, whereupon the head is re-read and the batch retried after a short random
pause (exponential backoff with jitter, bounded in total). The head is also
kept in ``journal_meta`` so a truncated tail is detected.

Signed checkpoints (``journal_checkpoints``) are written only by explicit
:meth:`Journal.checkpoint` calls, never on the append path.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    MetaData,
    Select,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, DatabaseError, IntegrityError, SQLAlchemyError
from sqlalchemy.pool import PoolProxiedConnection, StaticPool

from charter._permissions import private_directory, private_file
from charter.errors import JournalContentionError, JournalError
from charter.journal._checkpoint import Checkpoint, JournalSigner, JournalVerifier
from charter.journal._lease import Fence, now_ms_sql, refusal, share_connection
from charter.journal._record import GENESIS_HASH, Record, canonical_json, chained_hash
from charter.journal._schema import check_readable, migrate
from charter.journal._sqlite import (  # safe_url is imported from this module too
    read_only_file,
    safe_url,
    sqlite_pragmas,
    sqlite_read_only_pragmas,
)
from charter.journal._verify import Problem, UnsignedRun, VerifyReport, verify_chain

metadata = MetaData()
"""The tables as queries see them; the schema itself (indexes too) is made by migrations."""

records_table = Table(
    "journal_records",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("run_id", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("ts", String(40), nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)


meta_table = Table(
    "journal_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

checkpoints_table = Table(
    "journal_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", String(256), nullable=False),
    Column("ts", String(40), nullable=False),
)


def _reason(exc: DatabaseError) -> str:
    """The driver's first line for ``exc``, without SQLAlchemy's statement dump."""
    text = str(exc.orig).strip() if exc.orig else str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _record(row: Any) -> Record:
    return Record(int(row.seq), row.run_id, row.kind, row.ts, row.payload, row.prev_hash, row.hash)


SIGNED_KINDS = ("run.finished", "run.waiting", "rollback.finished")
"""Kinds charter appends together with a signed checkpoint of the head (when the journal
has a signer): the end of a run, its wait for an approval, the end of a rollback."""

_ONE_STATEMENT_ROWS = 1000
"""Most records one PostgreSQL append statement carries (7 parameters each, of at most
65,535); a larger batch goes as a transaction of several statements."""


APPEND_FIRST_WAIT_S = 0.002
"""Longest pause before the first retry of an append another writer beat (each pause is
drawn at random up to a ceiling that doubles per collision)."""
APPEND_WAIT_CEILING_S = 0.25
"""The ceiling's cap."""
APPEND_MAX_WAIT_S = 10.0
"""Most time one append spends waiting between collisions before it gives up."""

_sleep = time.sleep
"""How an append waits between collisions (replaceable in tests)."""


class _SeqCollision(Exception):
    """Another writer took the next seq first."""


class _Fenced(Exception):
    """The run's lease is no longer held at the fence's epoch."""


_DIVISION_BY_ZERO = "22012"
"""SQLSTATE of the one-statement append whose fence matched no lease row."""


Entry = tuple[str, str, dict[str, Any]]
"""``(run_id, kind, payload)`` of a record about to be appended."""


class Journal:
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
        if parsed.get_backend_name() == "sqlite":
            pragmas = sqlite_read_only_pragmas if read_only else sqlite_pragmas
            event.listen(self._engine, "connect", pragmas)
        self._lock = threading.RLock()
        self._shared: DBAPIConnection | None = None
        """The one connection of an in-memory journal, which every thread uses in turn."""
        if options.get("poolclass") is StaticPool:  # one connection shared by every thread
            self._share_connection()
        self._writer: PoolProxiedConnection | None = None
        self._newest: dict[tuple[str, ...], int] = {}
        """:meth:`latest_seq` answers by kinds (SQLite), kept current by this handle's own
        appends and valid while no other connection has written."""
        self._data_version: int | None = None
        """The writer connection's ``PRAGMA data_version`` when ``_newest`` was last valid."""
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
        self._insert_sql = (
            "INSERT INTO journal_records (seq, run_id, kind, ts, payload, prev_hash, hash) "
            f"VALUES ({', '.join([mark] * 7)})"
        )
        self._head_sql = f"UPDATE journal_meta SET value = {mark} WHERE key = 'head'"
        self._head_insert_sql = f"INSERT INTO journal_meta (key, value) VALUES ('head', {mark})"
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
        with self._lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        self._engine.dispose()

    @staticmethod
    def _read_head(conn: Connection) -> tuple[int, str]:
        row = conn.execute(
            select(records_table.c.seq, records_table.c.hash)
            .order_by(records_table.c.seq.desc())
            .limit(1)
        ).first()
        return (0, GENESIS_HASH) if row is None else (int(row[0]), str(row[1]))

    def _share_connection(self) -> None:
        """Serialise every use of an in-memory journal's one connection under the lock
        appends take: each checkout takes it until checkin, and lease statements take it.

        Without this, one thread's read ended (and so rolled back) another thread's
        append half-way on the shared connection, losing the lease row or records it had
        written, and two threads inside SQLite on one connection could crash the process.
        """
        lock = self._lock

        def checkout(*_: object) -> None:
            lock.acquire()

        def returned(*_: object) -> None:
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
            self._data_version = None  # a per-connection counter: start over
        driver = self._writer.dbapi_connection
        assert driver is not None, "a checked-out connection has its DBAPI connection"
        return driver

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
        waited, ceiling = 0.0, APPEND_FIRST_WAIT_S
        while True:
            fenced = False
            with self._lock:
                ts = datetime.now(UTC).isoformat()  # under the lock: stamps follow seq order
                seq, prev = self._head_seq, self._head_hash
                built: list[Record] = []
                for (run_id, kind, _), body, raw in zip(entries, bodies, encoded, strict=True):
                    seq += 1
                    digest = chained_hash(seq, run_id, kind, ts, prev, raw)
                    built.append(Record(seq, run_id, kind, ts, body, prev, digest))
                    prev = digest
                try:
                    self._write(built, sign=checkpoint and self.signer is not None, fence=fence)
                except _Fenced:
                    fenced = True  # said once the lock is released: saying it reads
                except _SeqCollision:
                    # Another process appended first: re-read its head and chain after it.
                    with self._engine.connect() as conn:
                        self._head_seq, self._head_hash = self._read_head(conn)
                except SQLAlchemyError as exc:
                    raise JournalError(
                        f"cannot append to journal at {safe_url(self.url)}: {exc}"
                    ) from exc
                else:
                    self._head_seq, self._head_hash = seq, prev
                    for kinds in self._newest:
                        mine = [r.seq for r in built if r.kind in kinds]
                        if mine:
                            self._newest[kinds] = mine[-1]
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
        mark = self._mark
        now = now_ms_sql(self._engine.dialect.name)
        if fence.create is not None:
            row = fence.create
            return (
                "INSERT INTO run_leases (run_id, epoch, owner, host, pid, actor, expires_ms) "
                f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, {mark}, {now} + {mark}) "
                "ON CONFLICT (run_id) DO NOTHING",
                (row.run_id, row.epoch, row.owner, row.host, row.pid, row.actor, fence.ttl_ms),
            )
        where = f"WHERE run_id = {mark} AND epoch = {mark}"
        if fence.release:
            return f"UPDATE run_leases SET expires_ms = 0 {where}", (fence.run_id, fence.epoch)
        return (
            f"UPDATE run_leases SET expires_ms = {now} + {mark} {where}",
            (fence.ttl_ms, fence.run_id, fence.epoch),
        )

    def _write(
        self, built: list[Record], *, sign: bool = False, fence: Fence | None = None
    ) -> None:
        # The hot path: one held DBAPI connection and plain SQL, so an append costs about
        # one commit instead of a pool checkout plus SQLAlchemy's statement machinery.
        conn = self._connection()
        head = built[-1]
        head_value = f"{head.seq}:{head.hash}"
        rows = [(r.seq, r.run_id, r.kind, r.ts, r.payload_json, r.prev_hash, r.hash) for r in built]
        cursor = conn.cursor()
        broken: PoolProxiedConnection | None = None
        try:
            checkpoint: tuple[int, str, str, str, str] | None = None
            if sign and self.signer is not None:
                signature = self.signer.sign(head.seq, head.hash).hex()
                checkpoint = (head.seq, head.hash, self.signer.key_id, signature, head.ts)
            fenced = None if fence is None else self._fence_sql(fence)
            if self._one_statement and len(rows) <= _ONE_STATEMENT_ROWS:
                params = [] if fenced is None else list(fenced[1])
                params += [value for row in rows for value in row]
                params += [*(checkpoint or ()), head_value]
                statement = self._append_statement(
                    len(rows), checkpoint is not None, None if fenced is None else fenced[0]
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
                cursor.executemany(self._insert_sql, rows)
                cursor.execute(self._head_sql, (head_value,))
                if cursor.rowcount == 0:
                    cursor.execute(self._head_insert_sql, (head_value,))
                if checkpoint is not None:
                    cursor.execute(self._checkpoint_sql, checkpoint)
                conn.commit()
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

    def stored_head(self) -> tuple[int, str] | None:
        """``(seq, hash)`` of the head as recorded in ``journal_meta``, if any."""
        with self._engine.connect() as conn:
            value = conn.execute(
                select(meta_table.c.value).where(meta_table.c.key == "head")
            ).scalar_one_or_none()
        if value is None:
            return None
        seq, _, digest = value.partition(":")
        return int(seq), digest

    def records(
        self, run_id: str | None = None, *, batch: int = 1000, after: int = 0
    ) -> Iterator[Record]:
        """Records in ``seq`` order, of one run or of the whole journal (after seq
        ``after``)."""
        query = select(records_table).order_by(records_table.c.seq)
        if run_id is not None:
            query = query.where(records_table.c.run_id == run_id)
        if after:
            query = query.where(records_table.c.seq > after)
        with self._engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(query)
            for row in result:
                yield _record(row)

    @staticmethod
    def _newest_first(kind: str) -> Select[Any]:
        # The (kind, seq) index walks one kind newest-first without sorting.
        return (
            select(records_table)
            .where(records_table.c.kind == kind)
            .order_by(records_table.c.seq.desc())
        )

    def records_of_kind(self, kind: str, *, limit: int | None = None) -> list[Record]:
        """The newest records of one kind first (e.g. ``run.started`` to list runs)."""
        query = self._newest_first(kind)
        if limit is not None:
            query = query.limit(limit)
        with self._engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def newest_matching(
        self, kind: str, matches: Callable[[Record], bool], *, limit: int
    ) -> list[Record]:
        """Up to ``limit`` records of ``kind`` that ``matches`` accepts, newest first,
        read from the newest end and stopping once enough are found."""
        found: list[Record] = []
        if limit <= 0:
            return found
        with self._engine.connect() as conn:
            result = conn.execution_options(yield_per=256).execute(self._newest_first(kind))
            for row in result:
                record = _record(row)
                if matches(record):
                    found.append(record)
                    if len(found) == limit:
                        break
        return found

    def records_since(self, kind: str, since: datetime) -> list[Record]:
        """Records of ``kind`` stamped at or after ``since``, newest first: a time window
        read from the newest end, so its cost follows the window, not the journal."""
        cutoff = since.astimezone(UTC).isoformat()
        found: list[Record] = []
        with self._engine.connect() as conn:
            result = conn.execution_options(yield_per=256).execute(self._newest_first(kind))
            for row in result:
                if row.ts < cutoff:
                    break
                found.append(_record(row))
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
            conn = self._connection()
            cursor = conn.cursor()
            try:
                if self._sqlite:
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

    def records_of_kinds(
        self, kinds: Sequence[str], *, payload_contains: str | None = None
    ) -> list[Record]:
        """Records of any of ``kinds``, oldest first; with ``payload_contains``, only those
        whose canonical JSON payload contains that text (filtered in the database)."""
        query = (
            select(records_table)
            .where(records_table.c.kind.in_(list(kinds)))
            .order_by(records_table.c.seq)
        )
        if payload_contains is not None:
            query = query.where(records_table.c.payload.contains(payload_contains, autoescape=True))
        with self._engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def run_ids_with_prefix(self, prefix: str) -> list[str]:
        """Ids of runs starting with ``prefix`` (so users may type a short id)."""
        query = (
            select(records_table.c.run_id)
            .where(records_table.c.kind == "run.started")
            .where(records_table.c.run_id.startswith(prefix, autoescape=True))
            .limit(5)
        )
        with self._engine.connect() as conn:
            return [str(r[0]) for r in conn.execute(query)]

    def checkpoint(self) -> Checkpoint | None:
        """Sign the current head with the journal's signer and store the checkpoint.

        The head is re-read from the database, so records other writers appended are
        covered too. Returns None, doing nothing, without a signer, on an empty journal, or
        when the head is already checkpointed (also when another process just did it).

        Raises:
            JournalError: the checkpoint cannot be read or stored.
        """
        if self.signer is None:
            return None
        try:
            with self._engine.begin() as conn:
                seq, digest = self._read_head(conn)
                if seq == 0:
                    return None
                exists = conn.execute(
                    select(checkpoints_table.c.seq).where(checkpoints_table.c.seq == seq)
                ).first()
                if exists is not None:
                    return None
                made = Checkpoint(
                    seq=seq,
                    hash=digest,
                    key_id=self.signer.key_id,
                    signature=self.signer.sign(seq, digest).hex(),
                    ts=datetime.now(UTC).isoformat(),
                )
                conn.execute(
                    checkpoints_table.insert(),
                    [
                        {
                            "seq": made.seq,
                            "hash": made.hash,
                            "key_id": made.key_id,
                            "signature": made.signature,
                            "ts": made.ts,
                        }
                    ],
                )
        except IntegrityError:
            return None  # another process checkpointed this head between our read and insert
        except SQLAlchemyError as exc:
            raise JournalError(
                f"cannot write a checkpoint to journal at {safe_url(self.url)}: {exc}"
            ) from exc
        return made

    def checkpoints(self) -> list[Checkpoint]:
        """Every stored checkpoint, in seq order."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(checkpoints_table).order_by(checkpoints_table.c.seq))
            return [Checkpoint(int(r.seq), r.hash, r.key_id, r.signature, r.ts) for r in rows]

    def verify(
        self,
        public_key: JournalVerifier | Iterable[JournalVerifier] | None = None,
        *,
        after: Checkpoint | None = None,
    ) -> VerifyReport:
        """Check the chain and its signed checkpoints; see :func:`verify_chain`.

        Args:
            public_key: the key(s) checkpoints must verify with (give the old keys too after
                a rotation). Without one, the signer's own public key is used; without a
                signer, checkpoints are not checked (``report.checkpoints_unchecked`` counts
                them).
            after: a checkpoint this process verified earlier: check only the records after
                it (they must chain onto its signed hash). Never pass one read back from
                the database unverified.
        """
        if public_key is None:
            keys = [] if self.signer is None else [self.signer.verifier]
        elif isinstance(public_key, JournalVerifier):
            keys = [public_key]
        else:
            keys = list(public_key)
        if after is None:
            self.check_file()
        head = self.stored_head()  # read first: appends racing the walk only extend it
        records = self.records(after=0 if after is None else after.seq - 1)
        # Read before the walk starts, so every checkpointed seq is one the walk will reach.
        try:
            checkpoints = self.checkpoints()
        except SQLAlchemyError:
            with self._engine.connect() as conn:
                if inspect(conn).has_table("journal_checkpoints"):
                    raise  # it is there, but cannot be read: not a removal
            # The migrated schema has the table: it was dropped.
            report = verify_chain(records, head, checkpoints=[], public_keys=keys, after=after)
            report.problems.append(
                Problem("missing", 0, "the journal_checkpoints table is gone: checkpoints removed")
            )
            return report
        report = verify_chain(records, head, checkpoints=checkpoints, public_keys=keys, after=after)
        if keys:
            report.unsigned_runs = self._unsigned_runs(report.signed_through, report.head_seq)
        return report

    def check_file(self) -> None:
        """On SQLite, refuse a damaged database file before walking all of it (verify,
        export): a page of garbage can end a walk early without an error. SQLite's quick
        check costs about 40 ms per 100,000 records.

        Raises:
            JournalError: SQLite's quick check finds the file damaged.
        """
        if not self._sqlite:
            return
        with self._engine.connect() as conn:
            found = str(conn.exec_driver_sql("PRAGMA quick_check(1)").scalar())
        if found != "ok":
            detail = [line for line in found.splitlines() if not line.startswith("***")]
            raise JournalError(
                f"the journal's database file ({safe_url(self.url)}) is damaged: "
                f"{(detail or ['?'])[0]}; restore it from a backup"
            )

    def _unsigned_runs(self, signed_through: int, head: int) -> list[UnsignedRun]:
        """Runs with a record after ``signed_through`` that is an end charter signs as it
        writes it, or that follows the run's own ``run.finished``: the first such record
        of each run, in seq order."""
        finished = records_table.alias("finished")
        ended_before = (
            select(finished.c.seq)
            .where(finished.c.run_id == records_table.c.run_id)
            .where(finished.c.kind + "" == "run.finished")  # by run: the (run_id, seq) index
            .where(finished.c.seq < records_table.c.seq)
            .exists()
        )
        query = (
            select(records_table.c.seq, records_table.c.run_id, records_table.c.kind)
            .where(records_table.c.seq > signed_through, records_table.c.seq <= head)
            .where(records_table.c.kind.in_(SIGNED_KINDS) | ended_before)
            .order_by(records_table.c.seq)
        )
        found: dict[str, UnsignedRun] = {}
        with self._engine.connect() as conn:
            for r in conn.execute(query):
                found.setdefault(r.run_id, UnsignedRun(int(r.seq), r.run_id, r.kind))
        return list(found.values())

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
