"""Verification of the hash chain: which record was edited, deleted, reordered or cut.

Given signed checkpoints and the public keys that signed them, verification also tells
whether the chain was rewritten wholesale (every hash recomputed) up to a checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from charter.journal._checkpoint import Checkpoint, JournalVerifier
from charter.journal._record import GENESIS_HASH, Record, record_hash

ProblemKind = Literal[
    "edited",
    "deleted",
    "reordered",
    "relinked",
    "truncated",
    "rewritten",
    "forged",
    "missing",
    "malformed",
]
"""The chain's own checks find ``edited`` .. ``truncated``; signed checkpoints find
``rewritten`` (a checkpointed record's hash is not the signed one), ``forged`` (a
checkpoint's signature does not verify with any public key given) and ``missing`` (a
checkpointed record is gone); ``malformed`` is a record whose payload is not a JSON
object, which charter never writes (readers show it as damaged)."""

_REORDER_WINDOW = 64
"""How far (in seq) to look for where a moved record was originally written."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One inconsistency found in the chain."""

    kind: ProblemKind
    seq: int
    """Where it was found."""
    message: str


@dataclass(frozen=True, slots=True)
class UnsignedRun:
    """A run with records beyond the last verified signature that should be signed.

    charter signs the head in the same write as each run's end (``run.finished``,
    ``run.waiting``, ``rollback.finished``), so beyond the last signature there should be
    only records of runs still going. A run that ended there, or that had finished before
    and has records there, means a signature was removed (checkpoint rows deleted, perhaps
    after a rewrite), records were added to a finished run, or they were written by a
    charter without a signing key.
    """

    seq: int
    """Its first such record."""
    run_id: str
    kind: str
    """That record's kind."""


@dataclass(slots=True)
class VerifyReport:
    """Outcome of :func:`verify_chain`."""

    checked: int = 0
    head_seq: int = 0
    problems: list[Problem] = field(default_factory=lambda: [])
    checkpoints_checked: int = 0
    """Checkpoints whose signature and record were checked."""
    checkpoints_unchecked: int = 0
    """Checkpoints left unchecked: no public key was given, or the walk stopped early."""
    signed_through: int = 0
    """Highest seq of a checkpoint that verified: records up to it cannot have been
    rewritten unnoticed. Records after it are protected by the hash chain alone."""
    signed: Checkpoint | None = None
    """The checkpoint at ``signed_through`` (verified), to start a later walk after."""
    verified_from: int = 1
    """First seq the walk checked: 1, or one past the trusted checkpoint it started after."""
    unsigned_runs: list[UnsignedRun] = field(default_factory=lambda: [])
    """Runs that ended, or had finished, beyond the last signature (see
    :class:`UnsignedRun`); looked for only when public keys were given."""

    @property
    def ok(self) -> bool:
        """True when the chain is intact."""
        return not self.problems

    @property
    def unsigned(self) -> int:
        """How many records lie beyond the last verified signature."""
        return max(0, self.head_seq - self.signed_through)

    def coverage(self) -> str:
        """What the signatures cover, in an auditor's words, e.g. "records 1-950 are
        covered by a signature made 2026-12-07 10:31 UTC; records 951-1,204 (254) are
        protected by the chain alone" (with en dashes)."""
        head, through = self.head_seq, min(self.signed_through, self.head_seq)
        if head == 0:
            return "the journal holds no records"
        alone = (
            f"records {through + 1:,}\N{EN DASH}{head:,} ({head - through:,}) are protected by the "
            "chain alone (whoever can write the database can rewrite them unnoticed)"
        )
        if through == 0:
            return f"no record is covered by a verified signature: {alone}"
        made = _when(self.signed.ts if self.signed else None)
        signed = f"records 1\N{EN DASH}{through:,} are covered by a signature made {made}"
        if through == head:
            return f"{signed}: every record is signed"
        return f"{signed}; {alone}"


def _when(ts: str | None) -> str:
    if ts is None:
        return "at an unknown time"
    try:
        return datetime.fromisoformat(ts).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return ts


def _written_at(record: Record) -> int | None:
    """The seq this record's hash was computed for, if it is a nearby other one."""
    low = max(1, record.seq - _REORDER_WINDOW)
    for candidate in range(low, record.seq + _REORDER_WINDOW + 1):
        if candidate != record.seq and record.hash == record_hash(
            candidate, record.run_id, record.kind, record.ts, record.prev_hash, record.payload_json
        ):
            return candidate
    return None


def _check_checkpoint(
    checkpoint: Checkpoint,
    record: Record | None,
    keys: Mapping[str, JournalVerifier],
    report: VerifyReport,
) -> None:
    """Check one checkpoint against the record at its seq (None: no record there)."""
    report.checkpoints_checked += 1
    seq = checkpoint.seq
    verifier = keys.get(checkpoint.key_id)
    if verifier is None:
        report.problems.append(
            Problem(
                "forged",
                seq,
                f"checkpoint at seq {seq} names key {checkpoint.key_id}, which is none of the "
                f"public keys given ({', '.join(sorted(keys))}): it was forged, or signed by a "
                "key not given (after a key rotation, give the old public key too)",
            )
        )
    elif not verifier.verify(checkpoint):
        report.problems.append(
            Problem(
                "forged",
                seq,
                f"checkpoint at seq {seq} carries a signature that key {checkpoint.key_id} "
                "did not make: the checkpoint was forged or altered",
            )
        )
    elif record is None:
        report.problems.append(
            Problem(
                "missing",
                seq,
                f"record {seq}, signed by key {checkpoint.key_id} at {checkpoint.ts}, is not in "
                "the journal: records were deleted or the journal was cut",
            )
        )
    elif record.hash != checkpoint.hash:
        report.problems.append(
            Problem(
                "rewritten",
                seq,
                f"record {seq} ({record.kind}, run {record.run_id}) does not have the hash key "
                f"{checkpoint.key_id} signed at {checkpoint.ts}: the journal up to seq {seq} "
                "was rewritten",
            )
        )
    elif seq >= report.signed_through:
        report.signed_through, report.signed = seq, checkpoint


def _check_start(record: Record | None, after: Checkpoint, report: VerifyReport) -> None:
    """The record a walk starts after must still be the one verified and signed."""
    if record is None or record.seq != after.seq:
        report.problems.append(
            Problem(
                "missing",
                after.seq,
                f"record {after.seq}, signed at {after.ts} and verified before, is not in the "
                "journal: records were deleted or the journal was replaced",
            )
        )
        return
    recomputed = record_hash(
        record.seq, record.run_id, record.kind, record.ts, record.prev_hash, record.payload_json
    )
    if record.hash != after.hash or recomputed != after.hash:
        report.problems.append(
            Problem(
                "rewritten",
                after.seq,
                f"record {after.seq} ({record.kind}, run {record.run_id}) is no longer the "
                f"record signed at {after.ts} and verified before: the journal up to seq "
                f"{after.seq} was rewritten",
            )
        )


def _is_object(payload_json: str) -> bool:
    try:
        return isinstance(json.loads(payload_json), dict)
    except (ValueError, RecursionError):
        return False


def verify_chain(
    records: Iterable[Record],
    stored_head: tuple[int, str] | None = None,
    *,
    checkpoints: Iterable[Checkpoint] = (),
    public_keys: Iterable[JournalVerifier] = (),
    max_problems: int = 20,
    after: Checkpoint | None = None,
) -> VerifyReport:
    """Walk ``records`` in seq order and report every break in the chain.

    Records are streamed; only the checkpoints are held in memory. Each checkpoint is
    checked when the walk reaches its seq: its signature must verify with the public key
    of its ``key_id`` (else ``forged``), a record must exist at its seq (else ``missing``)
    and that record's stored hash must be the signed one (else ``rewritten``). Because each
    hash chains over every earlier record, a checkpoint that verifies vouches for all
    records up to its seq, given the chain checks pass too.

    Args:
        records: the whole journal, ordered by seq.
        stored_head: ``(seq, hash)`` the store recorded as its head, to detect a cut tail.
        checkpoints: signed checkpoints to check, in any order.
        public_keys: the keys checkpoints may be signed with (several after a rotation).
            Without any, checkpoints are counted as unchecked, not checked.
        max_problems: stop after this many problems (a rewritten chain breaks everywhere).
        after: a checkpoint verified before (by this process: never one read back from
            the database unchecked) to start from: ``records`` then start at its seq, that
            record must still have the signed hash, and records up to it count as signed
            (an edit before it that leaves its record alone is found by a full walk only).
    """
    report = VerifyReport()
    keys = {verifier.key_id: verifier for verifier in public_keys}
    start = 0 if after is None else after.seq
    pending = sorted((c for c in checkpoints if c.seq > start), key=lambda c: c.seq)
    if not keys:
        report.checkpoints_unchecked, pending = len(pending), []
    # Payloads are checked only past the last checkpoint to verify: before it, a payload
    # charter did not write is an edit its signature already reports (and a JSON parse of
    # every record would add a third to the walk).
    parse_after = pending[-1].seq if pending else 0
    next_checkpoint = 0
    expected_seq, expected_prev = 1, GENESIS_HASH
    if after is not None:
        expected_seq, expected_prev = after.seq + 1, after.hash
        report.head_seq = report.signed_through = after.seq
        report.signed, report.verified_from = after, after.seq + 1
        records = iter(records)
        _check_start(next(records, None), after, report)
    previous_flagged = False
    for record in records:
        report.checked += 1
        problems_before = len(report.problems)
        if record.seq > expected_seq:
            span = (
                f"record {expected_seq}"
                if record.seq == expected_seq + 1
                else f"records {expected_seq}..{record.seq - 1}"
            )
            report.problems.append(Problem("deleted", expected_seq, f"{span} deleted"))
        recomputed = record_hash(
            record.seq, record.run_id, record.kind, record.ts, record.prev_hash, record.payload_json
        )
        if recomputed != record.hash:
            origin = _written_at(record)
            if origin is not None:
                report.problems.append(
                    Problem(
                        "reordered",
                        record.seq,
                        f"record at seq {record.seq} ({record.kind}, run {record.run_id}) "
                        f"was written as seq {origin}: records reordered",
                    )
                )
            else:
                report.problems.append(
                    Problem(
                        "edited",
                        record.seq,
                        f"record {record.seq} ({record.kind}, run {record.run_id}) was edited: "
                        "its content no longer matches its hash",
                    )
                )
        elif (
            record.prev_hash != expected_prev
            and record.seq == expected_seq
            and not previous_flagged
        ):
            # (A link broken only because the previous record was already reported is noise.)
            report.problems.append(
                Problem(
                    "relinked",
                    record.seq,
                    f"record {record.seq} ({record.kind}) does not link to record "
                    f"{record.seq - 1}: the record before it was replaced or rewritten",
                )
            )
        if (
            record.seq > parse_after
            and recomputed == record.hash
            and not _is_object(record.payload_json)
        ):
            report.problems.append(
                Problem(
                    "malformed",
                    record.seq,
                    f"record {record.seq} ({record.kind}, run {record.run_id}) has a payload "
                    "that is not a JSON object: charter never writes one",
                )
            )
        expected_seq, expected_prev = record.seq + 1, record.hash
        previous_flagged = len(report.problems) > problems_before
        report.head_seq = record.seq
        # (After the chain checks, so a checkpoint problem never masks a relinked record.)
        while next_checkpoint < len(pending) and pending[next_checkpoint].seq <= record.seq:
            checkpoint = pending[next_checkpoint]
            found = record if checkpoint.seq == record.seq else None
            _check_checkpoint(checkpoint, found, keys, report)
            next_checkpoint += 1
        if len(report.problems) >= max_problems:
            report.checkpoints_unchecked += len(pending) - next_checkpoint
            return report
    for checkpoint in pending[next_checkpoint:]:  # past the last record: cut off
        _check_checkpoint(checkpoint, None, keys, report)
    if stored_head is not None:
        head_seq, head_hash = stored_head
        if head_seq > report.head_seq:
            report.problems.append(
                Problem(
                    "truncated",
                    report.head_seq + 1,
                    f"records {report.head_seq + 1}..{head_seq} missing: the journal was cut "
                    f"after record {report.head_seq}",
                )
            )
        elif (
            head_seq == report.head_seq
            and head_hash != expected_prev
            and (report.checked or after is not None)
        ):
            report.problems.append(
                Problem(
                    "edited",
                    head_seq,
                    f"record {head_seq} is not the head the journal recorded: it was replaced",
                )
            )
    return report
