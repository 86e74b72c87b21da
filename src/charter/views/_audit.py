"""The audit status the API and the dashboard show: the journal verified, and what its
signatures cover.

Any viewer may ask for it, as often as they like, so a request must not cost a walk of
the whole journal (seconds on a few hundred thousand records). The server verifies the
whole journal once, then remembers, in its own memory, the newest signed checkpoint it
verified; later requests check that the record at that checkpoint still chains to the
hash it verified and walk only the records after it. What was verified and signed before
is trusted: a rewrite that reaches the remembered checkpoint breaks the link to it (and a
rewrite that ends before it cannot recompute the hashes after it without breaking that
link), and the remembered checkpoint cannot be deleted from the database to hide a
rewrite, because it is not read from there. An admin (``full``) walks the whole journal
again, as ``charter audit verify`` always does.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from charter.journal import Checkpoint, Journal, JournalVerifier

UNSIGNED_RUNS_SHOWN = 100
"""Most unsigned runs a status lists (a journal whose checkpoints were all deleted would
list every finished run)."""


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class AuditProblem(_View):
    """One inconsistency verification found."""

    kind: str
    seq: int
    message: str


class UnsignedRun(_View):
    """A run that ended, or had finished, and has records beyond the last signature,
    though charter signs each run's end as it writes it: a signature was removed, records
    were added to a finished run, or a charter without the key wrote them."""

    seq: int
    """Its first record beyond the last signature."""
    run_id: str
    kind: str
    """That record's kind."""


class AuditStatus(_View):
    """The outcome of verifying the journal now."""

    ok: bool
    checked: int
    """Records walked by this verification (after ``verified_from`` - 1)."""
    head_seq: int
    problems: list[AuditProblem]
    checkpoints_checked: int
    checkpoints_unchecked: int
    """Checkpoints left unchecked: no public key (the journal has no signer)."""
    signed_through: int
    """Records up to this seq are covered by a verified signature."""
    signed_at: str | None
    """When that signature was made."""
    unsigned_records: int
    """Records beyond the last signature: protected by the hash chain alone."""
    coverage: str
    """The above in words, e.g. "records 1-950 are covered by a signature made ...;
    records 951-1,204 (254) are protected by the chain alone"."""
    unsigned_runs: list[UnsignedRun]
    """Finished or waiting runs with records beyond the last signature (suspicious: see
    :class:`UnsignedRun`), the first 100 in seq order."""
    unsigned_runs_total: int
    """How many such runs there are in all."""
    full: bool
    """Whether the whole journal was walked; else only the records after a signed
    checkpoint this server verified before (``verified_from``)."""
    verified_from: int
    verified_at: str


@dataclass
class _Memory:
    """What this process verified of one journal."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    base: Checkpoint | None = None
    """The newest signed checkpoint a walk verified with the journal's own key."""


_memories: weakref.WeakKeyDictionary[Journal, _Memory] = weakref.WeakKeyDictionary()
_memories_lock = threading.Lock()


def _memory(journal: Journal) -> _Memory:
    with _memories_lock:
        found = _memories.get(journal)
        if found is None:
            found = _memories[journal] = _Memory()
        return found


def audit_status(
    journal: Journal,
    public_keys: JournalVerifier | Iterable[JournalVerifier] | None = None,
    *,
    full: bool = False,
) -> AuditStatus:
    """Verify the journal and its checkpoints (with ``public_keys``, or the journal's own
    signer's key): after the newest signed checkpoint this process verified before, or the
    whole journal when ``full``, when there is none yet, or when other keys are given.

    One verification runs at a time per journal: requests arriving together wait and then
    walk only what the first one left.
    """
    memory = _memory(journal)
    own_key = public_keys is None
    with memory.lock:
        after = None if full or not own_key else memory.base
        report = journal.verify(public_keys, after=after)
        if own_key and report.ok and report.signed is not None:
            memory.base = report.signed
    return AuditStatus(
        ok=report.ok,
        checked=report.checked,
        head_seq=report.head_seq,
        problems=[AuditProblem(kind=p.kind, seq=p.seq, message=p.message) for p in report.problems],
        checkpoints_checked=report.checkpoints_checked,
        checkpoints_unchecked=report.checkpoints_unchecked,
        signed_through=report.signed_through,
        signed_at=report.signed.ts if report.signed else None,
        unsigned_records=report.unsigned,
        coverage=report.coverage(),
        unsigned_runs=[
            UnsignedRun(seq=e.seq, run_id=e.run_id, kind=e.kind)
            for e in report.unsigned_runs[:UNSIGNED_RUNS_SHOWN]
        ],
        unsigned_runs_total=len(report.unsigned_runs),
        full=after is None,
        verified_from=report.verified_from,
        verified_at=datetime.now(UTC).isoformat(),
    )
