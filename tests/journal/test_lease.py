"""Run leases: one claimant wins, a lease ends by expiry or release, and an append fenced
by a superseded epoch is refused whole, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from charter import settings
from charter.errors import ConfigError, LeaseLostError, RunOwnedError
from charter.journal import Journal
from charter.journal._lease import RENEW_AFTER, Lease, claim, lease_of, orphaned


@pytest.fixture
def journal(journal_url: str) -> Iterator[Journal]:
    found = Journal(journal_url)
    yield found
    found.close()


def _claim(journal: Journal, owner: str, *, ttl: float = 30.0, run_id: str = "r1") -> Lease:
    return claim(journal.engine, run_id, owner=owner, actor=f"{owner}-actor", ttl=ttl)


def _expire(journal: Journal, run_id: str = "r1") -> None:
    """End the lease as if its owner had stopped renewing it long ago."""
    with journal.engine.begin() as conn:
        conn.execute(text("UPDATE run_leases SET expires_ms = 1 WHERE run_id = :r"), {"r": run_id})


def test_a_second_claimant_is_refused_with_the_owner_named(journal: Journal) -> None:
    first = _claim(journal, "worker:a")

    with pytest.raises(RunOwnedError) as refused:
        _claim(journal, "worker:b")

    message = str(refused.value)
    assert "\n" not in message
    assert "run r1 is owned by worker:a" in message and "worker:a-actor" in message
    assert f"pid {first.row.pid}" in message and "lease ends" in message and "epoch 1" in message


def test_every_claim_increments_the_epoch(journal: Journal) -> None:
    epochs: list[int] = []
    for owner in ("a", "b", "c"):
        lease = _claim(journal, owner)
        epochs.append(lease.row.epoch)
        lease.release()

    assert epochs == [1, 2, 3]
    row, _now = lease_of(journal.engine, "r1")
    assert row is not None and row.owner == "c" and row.expires_ms == 0


def test_an_expired_lease_is_claimed_and_its_old_owner_fenced_out(journal: Journal) -> None:
    old = _claim(journal, "old")
    journal.append([("r1", "step", {"by": "old"})], fence=old.fence())
    _expire(journal)
    new = _claim(journal, "new")
    head = journal.stored_head()

    with pytest.raises(LeaseLostError, match=r"lost its lease \(epoch 1\); new .* holds it"):
        journal.append([("r1", "step.decided", {"by": "old"})], fence=old.fence())

    assert journal.stored_head() == head  # nothing of the refused batch stored
    journal.append([("r1", "step", {"by": "new"})], fence=new.fence())
    assert [r.payload["by"] for r in journal.records("r1")] == ["old", "new"]
    assert journal.verify().ok


def test_a_large_fenced_batch_is_refused_whole(journal: Journal) -> None:
    # Over the one-statement limit: PostgreSQL takes the transaction path.
    old = _claim(journal, "old")
    _expire(journal)
    _claim(journal, "new")

    with pytest.raises(LeaseLostError):
        journal.append([("r1", "bulk", {"i": i}) for i in range(1001)], fence=old.fence())

    assert list(journal.records("r1")) == []
    assert journal.verify().ok


def test_a_fenced_append_renews_the_lease_on_the_database_clock(journal: Journal) -> None:
    lease = _claim(journal, "a", ttl=0.5)
    before, _ = lease_of(journal.engine, "r1")
    time.sleep(0.5 * RENEW_AFTER + 0.02)  # past the share of its time to live
    fence = lease.fence()

    journal.append([("r1", "step", {})], fence=fence)

    after, now = lease_of(journal.engine, "r1")
    assert fence.renew
    assert before is not None and after is not None
    assert after.expires_ms > before.expires_ms
    assert now < after.expires_ms <= now + 500


def test_an_append_soon_after_a_renewal_checks_the_epoch_without_renewing(
    journal: Journal,
) -> None:
    lease = _claim(journal, "a", ttl=60.0)
    journal.append([("r1", "step", {"n": 1})], fence=lease.fence())
    before, _ = lease_of(journal.engine, "r1")
    renewed = lease.renewed_at
    fence = lease.fence()

    started = time.monotonic()
    journal.append([("r1", "step", {"n": 2})], fence=fence)
    lease.appended(started, fence)

    after, _ = lease_of(journal.engine, "r1")
    assert not fence.renew and lease.renewed_at == renewed  # not renewed: not noted as such
    assert before is not None and after is not None
    if journal.url.startswith("sqlite"):
        assert after.expires_ms == before.expires_ms  # the lease row was not written
    else:
        assert after.expires_ms >= before.expires_ms  # PostgreSQL renews every time
    assert [r.payload["n"] for r in journal.records("r1")] == [1, 2]


def test_an_append_that_only_checks_a_superseded_epoch_is_refused_whole(
    journal: Journal,
) -> None:
    old = _claim(journal, "old")
    journal.append([("r1", "step", {"by": "old"})], fence=old.fence())
    _expire(journal)
    _claim(journal, "new")
    head = journal.stored_head()
    fence = old.fence()

    with pytest.raises(LeaseLostError, match=r"lost its lease \(epoch 1\)"):
        journal.append([("r1", f"step.{i}", {"by": "old"}) for i in range(4)], fence=fence)

    assert not fence.renew
    assert journal.stored_head() == head
    assert [r.payload["by"] for r in journal.records("r1")] == ["old"]
    assert journal.verify().ok


def test_a_journals_first_append_checks_its_epoch_with_no_head_yet(journal: Journal) -> None:
    old = _claim(journal, "old")
    _expire(journal)
    new = _claim(journal, "new")
    stale, fresh = old.fence(), new.fence()

    with pytest.raises(LeaseLostError):
        journal.append([("r1", "step", {"by": "old"})], fence=stale)
    journal.append([("r1", "step", {"by": "new"})], fence=fresh)

    assert not stale.renew and not fresh.renew
    assert [r.payload["by"] for r in journal.records("r1")] == ["new"]
    assert journal.stored_head() is not None and journal.verify().ok


def test_a_release_ends_the_lease_with_the_records(journal: Journal) -> None:
    lease = _claim(journal, "a")

    journal.append([("r1", "run.finished", {})], fence=lease.fence(release=True))

    assert not lease.renew()  # released: a late renewal does not revive it
    assert _claim(journal, "b").row.epoch == 2


def test_renewal_keeps_a_short_lease_while_it_is_held(journal: Journal) -> None:
    lease = _claim(journal, "a", ttl=0.3)

    with lease.held():
        for _ in range(4):  # well past the time to live
            time.sleep(0.2)
            with pytest.raises(RunOwnedError):
                _claim(journal, "b", ttl=0.3)

    assert _claim(journal, "b").row.epoch == 2  # released when the block ended


def test_a_lease_of_a_process_of_this_host_that_is_gone_is_claimed_at_once(
    journal: Journal,
) -> None:
    _claim(journal, "a")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    with journal.engine.begin() as conn:
        conn.execute(text("UPDATE run_leases SET pid = :pid"), {"pid": int(gone.stdout)})

    assert [row.run_id for row in orphaned(journal.engine)] == ["r1"]
    assert _claim(journal, "b").row.epoch == 2


def test_only_leases_whose_holder_is_gone_are_orphaned(journal: Journal) -> None:
    _claim(journal, "live", run_id="live")
    _claim(journal, "done", run_id="done").release()
    _claim(journal, "dead", run_id="dead")
    _expire(journal, "dead")

    assert [row.run_id for row in orphaned(journal.engine)] == ["dead"]


def test_concurrent_claims_have_exactly_one_winner(journal: Journal) -> None:
    _claim(journal, "dead")
    _expire(journal)
    gate = threading.Barrier(6)
    won: list[int] = []
    refused: list[str] = []

    def contend(number: int) -> None:
        gate.wait()
        try:
            _claim(journal, f"c{number}")
            won.append(number)
        except RunOwnedError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(won) == 1 and len(refused) == 5
    row, _ = lease_of(journal.engine, "r1")
    assert row is not None and row.owner == f"c{won[0]}" and row.epoch == 2


@pytest.mark.parametrize("value", ["0", "-3", "soon", "nan", "inf"])
def test_a_bad_lease_ttl_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CHARTER_LEASE_TTL", value)

    with pytest.raises(ConfigError, match="CHARTER_LEASE_TTL"):
        settings.lease_ttl()


def test_a_new_runs_lease_is_created_with_its_first_records(journal: Journal) -> None:
    lease = Lease.new(journal.engine, "r1", owner="a", actor="sam", ttl=30)

    journal.append([("r1", "run.started", {})], fence=lease.fence())

    row, now = lease_of(journal.engine, "r1")
    assert row is not None and (row.owner, row.actor, row.epoch) == ("a", "sam", 1)
    assert row.expires_ms > now


def test_a_new_run_whose_id_is_leased_is_refused_whole(journal: Journal) -> None:
    _claim(journal, "first")
    second = Lease.new(journal.engine, "r1", owner="second", actor="", ttl=30)

    with pytest.raises(RunOwnedError, match="owned by first"):
        journal.append([("r1", "run.started", {})], fence=second.fence())

    assert list(journal.records("r1")) == []
    assert journal.verify().ok


def test_an_owner_that_died_unreaped_is_taken_over_at_once(journal: Journal) -> None:
    # A killed owner whose parent is gone too stays a zombie until someone reaps it; it
    # still answers signal 0, so it must not pass for alive for the rest of its lease.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # exited, not reaped: a zombie
        with open(f"/proc/{dead.pid}/stat", encoding="ascii") as stat:
            if stat.read().rsplit(") ", 1)[-1].startswith("Z"):
                break
        time.sleep(0.05)
    else:
        raise AssertionError("the child never exited")
    try:
        _claim(journal, "gateway", ttl=600)
        with journal.engine.begin() as conn:
            conn.execute(text("UPDATE run_leases SET pid = :pid"), {"pid": dead.pid})
        taken = _claim(journal, "recovery")
        assert taken.row.owner == "recovery" and taken.row.epoch == 2
    finally:
        dead.wait()
