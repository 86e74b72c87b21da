"""Every way to tamper with a stored journal, at every position, on SQLite and PostgreSQL.

The journal holds three runs, each ended by a signed checkpoint, then records appended
after the last checkpoint. Each tamper (edit a payload or a kind, delete, swap two, cut the
tail, insert a forged record, rehash one record or the whole chain from a point, delete or
forge checkpoints) is applied at the first record, inside the checkpointed range, at the
last checkpointed record, after it, and at the last record. ``verify`` must report exactly
the expected problems, and each case also states what the hash chain alone (no public key:
checkpoints unchecked) reports, which documents what only the signed checkpoints catch.

The chain alone catches an edited payload or kind, a deleted or swapped record, a single
record rehashed (its successor no longer links), an inserted record (the ones it moves
were hashed for other seqs) and a cut tail (against the head the store recorded). Only the
signed checkpoints catch a chain rewritten and rehashed up to a checkpoint, a cut whose
attacker also moved the recorded head, and forged or re-signed checkpoints.

What nothing in the database can catch, asserted as such rather than pretended away (an
auditor compares ``signed_through`` and the head with values kept elsewhere):

* a tail cut after the last checkpoint when the attacker also moves the recorded head;
* a forged record appended after the head, chained properly (no secret is needed to
  append; a later checkpoint would even sign over it);
* any rewrite after the last checkpoint, and any rewrite at all once the checkpoints that
  cover it are deleted too (deleted checkpoints only lower ``signed_through``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from charter import Charter, Journal, Runner, tool
from charter.journal import JournalSigner, load_or_create_signer, record_hash
from charter.journal._store import checkpoints_table
from charter.testing import ScriptedReasoner, call, make_agent, respond
from databases import fresh_url
from tampering import rewrite_chain_from

CHECKPOINT_KINDS = {"rewritten", "forged", "missing"}
"""Problems only signed checkpoints can find (the chain's own are the others)."""


@tool(side_effect="write")
def pay(order_id: int, amount_cents: int) -> dict[str, int]:
    """Pay an order."""
    return {"payment_id": order_id}


@dataclass(frozen=True)
class Layout:
    """Where things are in the journal under test."""

    head: int
    checkpoints: tuple[int, ...]
    positions: dict[str, int]


TABLES = ("journal_records", "journal_checkpoints", "journal_meta")


@dataclass(frozen=True)
class Template:
    """A journal built once per backend, restored row by row before each test (building
    it, with PostgreSQL's schema migration, costs seconds; restoring, milliseconds)."""

    url: str
    signer: JournalSigner
    rows: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Template:
    where = tmp_path_factory.mktemp("tamper")
    url = fresh_url(request.param, where)
    signer = load_or_create_signer(where / "keys" / "journal.pem")
    built = Journal(url, signer)
    runner = Runner(built)
    charter = Charter(name="payments")
    try:
        for order in (1, 2, 3):  # three runs, each ended by a signed checkpoint
            script = [call("pay", order_id=order, amount_cents=100 * order), respond("paid")]
            runner.run(make_agent([pay], ScriptedReasoner(script), charter=charter), "pay")
    finally:
        runner.close()
    for attempt in range(4):  # after the last checkpoint: covered by the chain alone
        built.append([("api", "api.rejected", {"attempt": attempt, "status": 401})])
    with built.engine.connect() as conn:
        rows = {
            table: [dict(row) for row in conn.execute(text(f"SELECT * FROM {table}")).mappings()]
            for table in TABLES
        }
    built.close()
    return Template(url, signer, rows)


@pytest.fixture
def journal(template: Template) -> Iterator[Journal]:
    restored = Journal(template.url, template.signer)
    with restored.engine.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
            rows = template.rows[table]
            columns = ", ".join(rows[0])
            values = ", ".join(f":{column}" for column in rows[0])
            conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), rows)
    reopened = Journal(template.url, template.signer)  # reads the restored head
    restored.close()
    yield reopened
    reopened.close()


def _layout(journal: Journal) -> Layout:
    checkpoints = tuple(c.seq for c in journal.checkpoints())
    head = list(journal.records())[-1].seq
    first_cp, last_cp = checkpoints[0], checkpoints[-1]
    layout = Layout(
        head,
        checkpoints,
        {
            "first": 1,
            "inside": first_cp + 2,  # a record of the second run
            "checkpointed": last_cp,
            "after": last_cp + 2,
            "last": head,
        },
    )
    assert len(checkpoints) == 3 and last_cp < head - 2
    assert layout.positions["inside"] not in checkpoints
    return layout


def _sql(journal: Journal, statement: str, **params: object) -> None:
    with journal.engine.begin() as conn:
        conn.execute(text(statement), params)


def _problems(journal: Journal, *, keyed: bool) -> list[tuple[str, int]]:
    if keyed:
        report = journal.verify()
    else:  # no signer, so no public key: checkpoints are counted, not checked
        plain = Journal(journal.url)
        report = plain.verify()
        plain.close()
    return [(p.kind, p.seq) for p in report.problems]


# Tampers: each changes the database and returns the problems verify must report


Expected = list[tuple[str, int]]
Findings = tuple[Expected, Expected]
"""What verify reports with the signer's public key, and with none (the chain alone)."""
Tamper = Callable[[Journal, Layout, int], Findings]


def _chain(keyed: Expected) -> Findings:
    """Findings where the chain alone reports the same minus what only checkpoints see."""
    return keyed, [p for p in keyed if p[0] not in CHECKPOINT_KINDS]


def _capped(groups: list[Expected]) -> Expected:
    """Problems as verify collects them: record by record, stopping once it has 20."""
    found: Expected = []
    for group in groups:
        found += group
        if len(found) >= 20:
            break
    return found


def edit_payload(journal: Journal, layout: Layout, seq: int) -> Findings:
    _sql(journal, "UPDATE journal_records SET payload = :p WHERE seq = :s", p='{"x":1}', s=seq)
    return _chain([("edited", seq)])  # the stored hash, the one checkpoints signed, stays


def edit_kind(journal: Journal, layout: Layout, seq: int) -> Findings:
    _sql(journal, "UPDATE journal_records SET kind = 'tampered' WHERE seq = :s", s=seq)
    return _chain([("edited", seq)])


def delete(journal: Journal, layout: Layout, seq: int) -> Findings:
    _sql(journal, "DELETE FROM journal_records WHERE seq = :s", s=seq)
    if seq == layout.head:  # the recorded head still names it
        return _chain([("truncated", seq)])
    return _chain([("deleted", seq)] + ([("missing", seq)] if seq in layout.checkpoints else []))


def swap(journal: Journal, layout: Layout, seq: int) -> Findings:
    """Swap record ``seq`` with the next one (the one before, at the head)."""
    a = seq if seq < layout.head else seq - 1
    _sql(journal, "UPDATE journal_records SET seq = -1 WHERE seq = :a", a=a)
    _sql(journal, "UPDATE journal_records SET seq = :a WHERE seq = :b", a=a, b=a + 1)
    _sql(journal, "UPDATE journal_records SET seq = :b WHERE seq = -1", b=a + 1)
    expected: Expected = []
    for moved in (a, a + 1):
        expected.append(("reordered", moved))
        if moved in layout.checkpoints:
            expected.append(("rewritten", moved))
    if a + 1 == layout.head:  # the recorded head's hash is not the new last record's
        expected.append(("edited", layout.head))
    return _chain(expected)


def truncate(journal: Journal, layout: Layout, seq: int) -> Findings:
    """Cut the journal from ``seq`` on; the recorded head still says where it ended."""
    _sql(journal, "DELETE FROM journal_records WHERE seq >= :s", s=seq)
    cut = [("missing", c) for c in layout.checkpoints if c >= seq]
    return _chain([*cut, ("truncated", seq)])


def truncate_and_move_head(journal: Journal, layout: Layout, seq: int) -> Findings:
    """Cut from ``seq`` and rewrite the recorded head to match: only checkpoints tell."""
    records = list(journal.records())
    _sql(journal, "DELETE FROM journal_records WHERE seq >= :s", s=seq)
    head = f"{seq - 1}:{records[seq - 2].hash}" if seq > 1 else None
    if head is None:
        _sql(journal, "DELETE FROM journal_meta WHERE key = 'head'")
    else:
        _sql(journal, "UPDATE journal_meta SET value = :v WHERE key = 'head'", v=head)
    # Past the last checkpoint nothing is left to tell (see the LIMIT tests below).
    return _chain([("missing", c) for c in layout.checkpoints if c >= seq])


def rehash_one(journal: Journal, layout: Layout, seq: int) -> Findings:
    """Edit record ``seq`` and recompute its own hash (not the records after it)."""
    (old,) = [r for r in journal.records() if r.seq == seq]
    body = '{"forged":true}'
    digest = record_hash(old.seq, old.run_id, old.kind, old.ts, old.prev_hash, body)
    _sql(
        journal,
        "UPDATE journal_records SET payload = :p, hash = :h WHERE seq = :s",
        p=body,
        h=digest,
        s=seq,
    )
    if seq == layout.head:
        return _chain([("edited", seq)])  # the recorded head keeps the old hash
    rewritten = [("rewritten", seq)] if seq in layout.checkpoints else []
    return _chain([*rewritten, ("relinked", seq + 1)])


def rewrite_from(journal: Journal, layout: Layout, seq: int) -> Findings:
    """Edit record ``seq`` and recompute every hash after it and the recorded head: the
    chain is whole again; only checkpoints at or after ``seq`` can tell (past the last
    one, nothing can: see the LIMIT tests below)."""
    rewrite_chain_from(journal, seq, '{"forged":true}')
    return _chain([("rewritten", c) for c in layout.checkpoints if c >= seq])


def insert_shifting(journal: Journal, layout: Layout, seq: int) -> Findings:
    """Insert a well-formed forged record at ``seq``, moving the records from there up."""
    records = list(journal.records())
    for moved in range(layout.head, seq - 1, -1):
        _sql(journal, "UPDATE journal_records SET seq = :n WHERE seq = :s", n=moved + 1, s=moved)
    prev = records[seq - 2].hash if seq > 1 else "0" * 64
    _insert(journal, seq, prev)
    # Every moved record was hashed for the seq below its new one; checkpoints see other
    # records at their seqs. Verify stops after 20 problems: the rest is the same story.
    keyed: list[Expected] = [[("rewritten", seq)]] if seq in layout.checkpoints else []
    chain: list[Expected] = []
    for moved in range(seq + 1, layout.head + 2):
        chain.append([("reordered", moved)])
        keyed.append([("reordered", moved)])
        if moved in layout.checkpoints:
            keyed[-1].append(("rewritten", moved))
    return _capped(keyed), _capped(chain)


def _insert(journal: Journal, seq: int, prev: str, *, wrong_hash: bool = False) -> None:
    ts, body = "2026-01-01T00:00:00+00:00", '{"forged":true}'
    digest = record_hash(seq, "r-forged", "step.effect", ts, prev, body)
    _sql(
        journal,
        "INSERT INTO journal_records (seq, run_id, kind, ts, payload, prev_hash, hash) "
        "VALUES (:s, 'r-forged', 'step.effect', :t, :p, :ph, :h)",
        s=seq,
        t=ts,
        p=body,
        ph=prev,
        h="f" * 64 if wrong_hash else digest,
    )


TAMPERS: dict[str, Tamper] = {
    "edit-payload": edit_payload,
    "edit-kind": edit_kind,
    "delete": delete,
    "swap": swap,
    "truncate": truncate,
    "truncate-and-move-head": truncate_and_move_head,
    "rehash-one": rehash_one,
    "rewrite-from": rewrite_from,
    "insert-shifting": insert_shifting,
}
POSITIONS = ["first", "inside", "checkpointed", "after", "last"]


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_tamper_is_reported_exactly(journal: Journal, tamper: str, position: str) -> None:
    layout = _layout(journal)
    assert journal.verify().ok and journal.verify().signed_through == layout.checkpoints[-1]

    keyed, chain_alone = TAMPERS[tamper](journal, layout, layout.positions[position])

    assert _problems(journal, keyed=True) == keyed
    assert _problems(journal, keyed=False) == chain_alone


def test_the_chain_alone_misses_exactly_the_rewrites_and_cuts_checkpoints_catch(
    journal: Journal,
) -> None:
    layout = _layout(journal)
    inside = layout.positions["inside"]

    rewrite_from(journal, layout, inside)

    assert _problems(journal, keyed=False) == []  # a whole, recomputed chain
    assert _problems(journal, keyed=True) == [("rewritten", c) for c in layout.checkpoints[1:]]
    assert journal.verify().signed_through == layout.checkpoints[0]


# Limits: what verify cannot see, asserted as what it says


def test_a_cut_after_the_last_checkpoint_with_the_head_moved_goes_unseen(
    journal: Journal,
) -> None:
    layout = _layout(journal)

    truncate_and_move_head(journal, layout, layout.positions["after"])

    report = journal.verify()
    assert report.ok  # LIMIT: only a head kept elsewhere (or a later checkpoint) tells
    assert report.head_seq == layout.positions["after"] - 1
    assert report.signed_through == layout.checkpoints[-1]


def test_a_forged_record_appended_after_the_head_goes_unseen(journal: Journal) -> None:
    layout = _layout(journal)
    head = list(journal.records())[-1]

    _insert(journal, layout.head + 1, head.hash)

    report = journal.verify()
    assert report.ok  # LIMIT: appending needs no secret; the stored head is not checked
    assert report.head_seq == layout.head + 1  # ... against records past it
    assert report.signed_through == layout.checkpoints[-1]


def test_a_forged_record_appended_with_a_wrong_hash_is_edited(journal: Journal) -> None:
    layout = _layout(journal)
    head = list(journal.records())[-1]

    _insert(journal, layout.head + 1, head.hash, wrong_hash=True)

    assert _problems(journal, keyed=True) == [("edited", layout.head + 1)]


def test_a_rewrite_with_its_checkpoints_deleted_goes_unseen(journal: Journal) -> None:
    layout = _layout(journal)

    rewrite_from(journal, layout, 1)
    _sql(journal, "DELETE FROM journal_checkpoints")

    report = journal.verify()
    assert report.ok  # LIMIT: deleted checkpoints only show as signed_through == 0
    assert (report.signed_through, report.checkpoints_checked) == (0, 0)


# Checkpoints themselves


def test_a_deleted_checkpoint_only_lowers_signed_through(journal: Journal) -> None:
    layout = _layout(journal)

    _sql(journal, "DELETE FROM journal_checkpoints WHERE seq = :s", s=layout.checkpoints[-1])

    report = journal.verify()
    assert report.ok
    assert report.signed_through == layout.checkpoints[-2]


def test_a_dropped_checkpoint_table_is_missing(journal: Journal) -> None:
    _sql(journal, "DROP TABLE journal_checkpoints")
    try:
        assert _problems(journal, keyed=True) == [("missing", 0)]
    finally:  # the next test restores the template into it
        checkpoints_table.create(journal.engine)


@pytest.mark.parametrize("position", ["first", "inside", "after", "last"])
def test_a_checkpoint_forged_anywhere_is_forged(journal: Journal, position: str) -> None:
    layout = _layout(journal)
    seq = layout.positions[position]
    (record,) = [r for r in journal.records() if r.seq == seq]

    _sql(
        journal,
        "INSERT INTO journal_checkpoints (seq, hash, key_id, signature, ts) "
        "VALUES (:s, :h, :k, :sig, 'ts')",
        s=seq,
        h=record.hash,
        k=journal.signer.key_id if journal.signer else "",
        sig="00" * 64,
    )

    assert _problems(journal, keyed=True) == [("forged", seq)]
    assert _problems(journal, keyed=False) == []


def test_a_checkpoint_signed_by_another_key_is_forged(journal: Journal, tmp_path: Path) -> None:
    layout = _layout(journal)
    other = load_or_create_signer(tmp_path / "other.pem")
    seq = layout.checkpoints[-1]
    (record,) = [r for r in journal.records() if r.seq == seq]

    _sql(
        journal,
        "UPDATE journal_checkpoints SET key_id = :k, signature = :sig WHERE seq = :s",
        k=other.key_id,
        sig=other.sign(seq, record.hash).hex(),
        s=seq,
    )

    assert _problems(journal, keyed=True) == [("forged", seq)]


def test_a_checkpoint_moved_to_another_record_is_forged(journal: Journal) -> None:
    layout = _layout(journal)
    seq = layout.checkpoints[-1]
    target = layout.positions["after"]
    (record,) = [r for r in journal.records() if r.seq == target]

    _sql(
        journal,
        "UPDATE journal_checkpoints SET seq = :t, hash = :h WHERE seq = :s",
        t=target,
        h=record.hash,
        s=seq,
    )

    assert _problems(journal, keyed=True) == [("forged", target)]
