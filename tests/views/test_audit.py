"""The audit status the API and dashboard read: a whole walk once, then only what follows
the newest signed checkpoint verified; what the signatures cover."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from charter import Journal, Runner, tool
from charter.journal import JournalSigner
from charter.testing import ScriptedReasoner, call, make_agent, respond
from charter.views._runs import audit_status
from databases import fresh_url
from tampering import rewrite_chain_from


@tool
def look(order_id: int) -> dict[str, int]:
    """Look up an order."""
    return {"order_id": order_id}


def _run(journal: Journal, n: int = 1) -> str:
    reasoner = ScriptedReasoner([call("look", order_id=n), respond("found")])
    runner = Runner(journal)
    return runner.run(make_agent([look], reasoner, name="looker"), f"look {n}").run_id


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journal]:
    url = fresh_url(request.param, tmp_path)
    opened = Journal(url, JournalSigner(Ed25519PrivateKey.generate()))
    yield opened
    opened.close()


def test_the_first_status_walks_everything_and_later_ones_only_what_follows(
    journal: Journal,
) -> None:
    _run(journal, 1)
    first = audit_status(journal)
    _run(journal, 2)
    second = audit_status(journal)
    third = audit_status(journal)

    assert first.full and first.checked == first.head_seq and first.ok
    assert not second.full and second.ok
    assert second.verified_from == first.head_seq + 1
    assert second.checked == second.head_seq - first.head_seq
    assert (third.checked, third.verified_from) == (0, second.head_seq + 1)
    assert third.signed_through == third.head_seq and third.unsigned_records == 0


def test_requests_arriving_together_walk_the_whole_journal_once(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    for n in range(3):
        _run(journal, n)
    walks: list[int] = []
    verify = journal.verify

    def counted(*args: Any, **kwargs: Any) -> Any:
        walks.append(0 if kwargs.get("after") is None else kwargs["after"].seq)
        return verify(*args, **kwargs)

    monkeypatch.setattr(journal, "verify", counted)
    start = threading.Barrier(4)
    results: list[bool] = []

    def ask() -> None:
        start.wait()
        results.append(audit_status(journal).ok)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [True] * 4
    assert walks.count(0) == 1 and len(walks) == 4


def test_a_rewrite_with_its_checkpoints_deleted_is_caught_after_a_verified_one(
    journal: Journal,
) -> None:
    _run(journal, 1)
    _run(journal, 2)
    assert audit_status(journal).ok  # remembers the newest signed checkpoint
    rewrite_chain_from(journal, 3, '{"forged":true}')
    with journal.engine.begin() as conn:
        conn.execute(text("DELETE FROM journal_checkpoints"))

    status = audit_status(journal)
    again = audit_status(journal)

    assert not status.ok and status.problems[0].kind == "rewritten"
    assert not again.ok  # not forgotten on the next request


def test_unsigned_runs_and_coverage_are_reported(journal: Journal) -> None:
    _run(journal, 1)
    (checkpoint,) = journal.checkpoints()
    run_id = _run(journal, 2)
    with journal.engine.begin() as conn:
        conn.execute(text("DELETE FROM journal_checkpoints WHERE seq > :s"), {"s": checkpoint.seq})

    status = audit_status(journal, full=True)

    assert status.ok
    assert (status.signed_through, status.signed_at) == (checkpoint.seq, checkpoint.ts)
    assert status.unsigned_records == status.head_seq - checkpoint.seq
    assert [(e.run_id, e.kind) for e in status.unsigned_runs] == [(run_id, "run.finished")]
    assert status.unsigned_runs_total == 1
    assert f"records 1\N{EN DASH}{checkpoint.seq} are covered by a signature" in status.coverage
    assert "protected by the chain alone" in status.coverage


def test_a_record_added_to_a_finished_run_after_the_signature_is_named(
    journal: Journal,
) -> None:
    first = _run(journal, 1)
    second = _run(journal, 2)
    head = journal.checkpoints()[-1].seq
    journal.append([(first, "step.observed", {"step": 9, "status": "ok", "text": "forged"})])
    journal.append([("other", "note", {"n": 1})])  # not a run's: not suspicious

    status = audit_status(journal, full=True)

    assert status.ok and status.unsigned_records == 2
    assert [(e.seq, e.run_id, e.kind) for e in status.unsigned_runs] == [
        (head + 1, first, "step.observed")
    ]
    assert second not in {e.run_id for e in status.unsigned_runs}
