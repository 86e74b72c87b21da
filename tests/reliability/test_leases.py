"""Run leases under random interleavings of claims, appends, renewals, releases and
expiries by three owners in one process, on SQLite and PostgreSQL: a claim succeeds
exactly when no live lease is held, an append exactly when its epoch is the latest, and
the run's records come from one owner after another, never interleaved."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from charter.errors import LeaseLostError, RunOwnedError
from charter.journal import Journal
from charter.journal._lease import Lease, claim
from reliability._support import bounded, no_hang

OWNERS = 3

operations = st.lists(
    st.one_of(
        st.tuples(st.just("claim"), st.integers(0, OWNERS - 1)),
        st.tuples(st.just("append"), st.integers(0, OWNERS - 1), st.integers(1, 3)),
        st.tuples(st.just("renew"), st.integers(0, OWNERS - 1)),
        st.tuples(st.just("release"), st.integers(0, OWNERS - 1)),
        st.tuples(st.just("expire")),
    ),
    max_size=25,
)


@dataclass
class Model:
    """What the table should hold."""

    epoch: int = 0
    live: bool = False
    """A lease is held and neither expired nor released."""
    released: bool = False
    leases: dict[int, Lease] = field(default_factory=lambda: {})
    appended: list[tuple[int, int]] = field(default_factory=lambda: [])
    """``(owner, epoch)`` of every record appended, in order."""


@pytest.fixture
def journal(journal_url: str) -> Iterator[Journal]:
    opened = Journal(journal_url)
    yield opened
    opened.close()


@given(steps=operations)
@bounded(40)
def test_only_the_latest_claimant_appends(
    journal: Journal, steps: list[tuple[object, ...]]
) -> None:
    run_id = secrets.token_hex(8)
    model = Model()
    with no_hang(60, "lease operations"):
        for step in steps:
            _apply(journal, run_id, model, step)

    stored = [(r.payload["owner"], r.payload["epoch"]) for r in journal.records(run_id)]
    assert stored == model.appended
    epochs = [epoch for _, epoch in stored]
    assert epochs == sorted(epochs)  # a former owner never appends after a newer one


def _apply(journal: Journal, run_id: str, model: Model, step: tuple[object, ...]) -> None:
    match step:
        case ("claim", int(owner)):
            if model.live:
                with pytest.raises(RunOwnedError):
                    claim(journal.engine, run_id, owner=f"o{owner}", actor="", ttl=60)
                return
            model.leases[owner] = claim(journal.engine, run_id, owner=f"o{owner}", actor="", ttl=60)
            model.epoch += 1
            model.live, model.released = True, False
            assert model.leases[owner].row.epoch == model.epoch
        case ("append", int(owner), int(count)):
            lease = model.leases.get(owner)
            if lease is None:
                return
            entries = [(run_id, "step", {"owner": owner, "epoch": lease.row.epoch})] * count
            if lease.row.epoch != model.epoch:
                with pytest.raises(LeaseLostError):
                    journal.append(entries, fence=lease.fence())
                return
            fence = lease.fence()
            journal.append(entries, fence=fence)
            lease.appended(time.monotonic(), fence)
            model.appended += [(owner, lease.row.epoch)] * count
            # It renews, even a released or expired lease, unless its owner renewed it
            # moments ago: then SQLite only checks the epoch (PostgreSQL renews always).
            if fence.renew or not journal.url.startswith("sqlite"):
                model.live, model.released = True, False
        case ("renew", int(owner)):
            lease = model.leases.get(owner)
            if lease is not None:
                mine = lease.row.epoch == model.epoch and not model.released
                assert lease.renew() == mine
                model.live = model.live or mine
        case ("release", int(owner)):
            lease = model.leases.get(owner)
            if lease is not None:
                lease.release()
                if lease.row.epoch == model.epoch:
                    model.live, model.released = False, True
        case ("expire",):
            with journal.engine.begin() as conn:
                conn.execute(
                    text("UPDATE run_leases SET expires_ms = 1 WHERE run_id = :r"), {"r": run_id}
                )
            model.live, model.released = False, False
        case _:
            raise AssertionError(step)
