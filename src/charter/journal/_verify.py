"""Verification of the hash chain: which record was edited, deleted, reordered or cut."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from charter.journal._record import GENESIS_HASH, Record, record_hash

ProblemKind = Literal["edited", "deleted", "reordered", "relinked", "truncated"]

_REORDER_WINDOW = 64
"""How far (in seq) to look for where a moved record was originally written."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One inconsistency found in the chain."""

    kind: ProblemKind
    seq: int
    """Where it was found."""
    message: str


@dataclass(slots=True)
class VerifyReport:
    """Outcome of :func:`verify_chain`."""

    checked: int = 0
    head_seq: int = 0
    problems: list[Problem] = field(default_factory=lambda: [])

    @property
    def ok(self) -> bool:
        """True when the chain is intact."""
        return not self.problems


def _written_at(record: Record) -> int | None:
    """The seq this record's hash was computed for, if it is a nearby other one."""
    low = max(1, record.seq - _REORDER_WINDOW)
    for candidate in range(low, record.seq + _REORDER_WINDOW + 1):
        if candidate != record.seq and record.hash == record_hash(
            candidate, record.run_id, record.kind, record.ts, record.prev_hash, record.payload_json
        ):
            return candidate
    return None


def verify_chain(
    records: Iterable[Record], stored_head: tuple[int, str] | None = None, *, max_problems: int = 20
) -> VerifyReport:
    """Walk ``records`` in seq order and report every break in the chain.

    Args:
        records: the whole journal, ordered by seq.
        stored_head: ``(seq, hash)`` the store recorded as its head, to detect a cut tail.
        max_problems: stop after this many problems (a rewritten chain breaks everywhere).
    """
    report = VerifyReport()
    expected_seq, expected_prev = 1, GENESIS_HASH
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
        expected_seq, expected_prev = record.seq + 1, record.hash
        previous_flagged = len(report.problems) > problems_before
        report.head_seq = record.seq
        if len(report.problems) >= max_problems:
            return report
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
        elif head_seq == report.head_seq and head_hash != expected_prev and report.checked:
            report.problems.append(
                Problem(
                    "edited",
                    head_seq,
                    f"record {head_seq} is not the head the journal recorded: it was replaced",
                )
            )
    return report
