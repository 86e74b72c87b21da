"""The journal's audit side: signed checkpoints of the head and verification of the chain.

:class:`JournalAudit` is a base of :class:`charter.journal.Journal`. Checkpoints are
written only by explicit :meth:`JournalAudit.checkpoint` calls here; an append signs the
head in its own transaction (``checkpoint=True``), never through this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from charter.errors import JournalError
from charter.journal._checkpoint import Checkpoint, JournalSigner, JournalVerifier
from charter.journal._lookup import RecordLookup
from charter.journal._sqlite import safe_url
from charter.journal._tables import checkpoints_table, read_head, records_table
from charter.journal._verify import Problem, UnsignedRun, VerifyReport, verify_chain

SIGNED_KINDS = ("run.finished", "run.waiting", "rollback.finished")
"""Kinds charter appends together with a signed checkpoint of the head (when the journal
has a signer): the end of a run, its wait for an approval, the end of a rollback."""


class JournalAudit(RecordLookup):
    """Checkpoints and verification (a base of :class:`charter.journal.Journal`)."""

    url: str
    signer: JournalSigner | None
    _sqlite: bool

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
                seq, digest = read_head(conn)
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
