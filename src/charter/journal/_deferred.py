"""An in-memory journal's appends, stored in batches at the latest when anyone reads.

An in-memory SQLite journal (``sqlite://``) is one private database on one connection:
SQLite gives each ``:memory:`` connection a database of its own, and the journal's pool
hands every user that one connection, under the journal's lock, each checkout at a time.
Nothing outside this process, nor in it but past that checkout, can see or write the
database. So an append need not reach SQLite before it returns, only before anyone looks:
its records are chained and kept as rows in order, and stored together (one transaction
of multi-row INSERTs and the head) when a connection is checked out, when a batch is
full, before any append that must be stored at once (a new or released lease, a signed
checkpoint, an append inside a checkout), and before the journal's own reads. Each
append's records are stored whole or not at all, as its own transaction would.

A fence is checked without the database only for an epoch that this journal has seen
hold since anything else last wrote (the lease table changes only through a checkout or
the journal's own appends): any write outside the journal's appends moves the
connection's ``total_changes``, after which the head is read again and every fence
checked by the database until it holds again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from charter.journal._kinds import Entry
    from charter.journal._lease import Fence

BATCH_ROWS = 64
"""Most records kept before they are stored (one INSERT on SQLite)."""


@dataclass(slots=True)
class DeferredRows:
    """The records of an in-memory journal appended but not yet stored."""

    values: list[Any] = field(default_factory=lambda: [])
    """Their column values in order, seven per record."""
    head: str = ""
    """``seq:hash`` of the newest of them (the head the journal is to store)."""
    epochs: set[tuple[str, int]] = field(default_factory=lambda: set())
    """``(run_id, epoch)`` of leases a fenced append found held, since ``changes``."""
    changes: int = -1
    """The connection's ``total_changes`` after the journal's last store: if it moved,
    something else wrote (its head and leases are read again)."""
    sessions: int = 0
    """Checkouts of the connection now open (their users may read at any moment)."""

    @property
    def rows(self) -> int:
        """How many records are waiting."""
        return len(self.values) // 7

    def may_keep(self, entries: Sequence[Entry], fence: Fence | None) -> bool:
        """Whether an append of ``entries`` under ``fence`` may wait to be stored: no
        checkout is open, its fence is one seen holding that renews or ends nothing, and
        nothing in it is what SQLite could refuse (it is refused now, not with its batch)."""
        if self.sessions:
            return False
        if fence is not None and (
            fence.renew
            or fence.release
            or fence.create is not None
            or (fence.run_id, fence.epoch) not in self.epochs
        ):
            return False
        return all(type(run_id) is str and type(kind) is str for run_id, kind, _ in entries)

    def store(self, cursor: Any, rows_sql: Any, head_sql: str, head_insert_sql: str) -> None:
        """Execute the INSERTs of the waiting records and the head's UPDATE on ``cursor``
        (in the caller's transaction, which commits it), in batches of ``rows_sql(n)``,
        one INSERT of ``n`` records."""
        values = self.values
        step = BATCH_ROWS * 7
        for start in range(0, len(values), step):
            batch = values[start : start + step]
            cursor.execute(rows_sql(len(batch) // 7), batch)
        cursor.execute(head_sql, (self.head,))
        if cursor.rowcount == 0:
            cursor.execute(head_insert_sql, (self.head,))
