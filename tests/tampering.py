"""What an attacker with write access to the journal's database can do."""

from __future__ import annotations

from sqlalchemy import text

from charter.journal import GENESIS_HASH, Journal, record_hash


def rewrite_chain_from(journal: Journal, seq: int, payload: str) -> None:
    """Edit record ``seq`` and recompute every hash after it, head included, so the plain
    chain verifies afterwards (only signed checkpoints can tell)."""
    records = list(journal.records())
    prev = records[seq - 2].hash if seq > 1 else GENESIS_HASH
    with journal.engine.begin() as conn:
        for r in records[seq - 1 :]:
            body = payload if r.seq == seq else r.payload_json
            digest = record_hash(r.seq, r.run_id, r.kind, r.ts, prev, body)
            conn.execute(
                text(
                    "UPDATE journal_records SET payload = :p, prev_hash = :ph, hash = :h "
                    "WHERE seq = :s"
                ),
                {"p": body, "ph": prev, "h": digest, "s": r.seq},
            )
            prev = digest
        conn.execute(
            text("UPDATE journal_meta SET value = :v WHERE key = 'head'"),
            {"v": f"{records[-1].seq}:{prev}"},
        )


def damage_record(journal: Journal, kind: str, payload: str, *, run_id: str | None = None) -> int:
    """Replace the payload of the newest ``kind`` record (of ``run_id``, if given) with
    ``payload`` (not JSON, a missing key, a wrong type) and recompute the chain after it,
    as a writer bypassing charter would; return its seq."""
    found = [r for r in journal.records(run_id) if r.kind == kind]
    assert found, f"no {kind} record to damage"
    seq = found[-1].seq
    rewrite_chain_from(journal, seq, payload)
    return seq
