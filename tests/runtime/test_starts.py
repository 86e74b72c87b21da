"""Start keys: the same idempotency key starts one run, even when requests race."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from charter import Journal
from charter.errors import ConfigError, RunStateError
from charter.runtime._runner import new_run_id
from charter.runtime._starts import StartClaim, claim_start
from databases import fresh_url


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_url(request.param, tmp_path)


def _claim(
    journal: Journal, key: str = "k-1", goal: str = "pay 7", actor: str = "sam"
) -> StartClaim:
    return claim_start(journal, agent="payer", actor=actor, key=key, goal=goal, run_id=new_run_id())


def test_the_same_key_returns_the_first_run(journal_url: str) -> None:
    journal = Journal(journal_url)
    first = _claim(journal)
    journal.append([(first.run_id, "run.started", {"goal": "pay 7"})])
    again = _claim(journal)

    assert first.new and not again.new
    assert again.run_id == first.run_id and again.started


def test_a_claimed_run_not_started_yet_is_still_the_same_run(journal_url: str) -> None:
    journal = Journal(journal_url)
    first = _claim(journal)
    again = _claim(journal)

    assert (again.run_id, again.new, again.started) == (first.run_id, False, False)


def test_another_goal_under_the_same_key_is_refused(journal_url: str) -> None:
    journal = Journal(journal_url)
    first = _claim(journal)

    with pytest.raises(RunStateError, match=f"already started run {first.run_id} with another"):
        _claim(journal, goal="pay 8")


def test_keys_are_per_actor_and_agent(journal_url: str) -> None:
    journal = Journal(journal_url)
    sam = _claim(journal, actor="sam")
    kim = _claim(journal, actor="kim")
    other_agent = claim_start(
        journal, agent="refunder", actor="sam", key="k-1", goal="pay 7", run_id=new_run_id()
    )

    assert sam.new and kim.new and other_agent.new
    assert len({sam.run_id, kim.run_id, other_agent.run_id}) == 3


@pytest.mark.parametrize("key", ["", "x" * 201, "line\nbreak"])
def test_an_unusable_key_is_refused(journal_url: str, key: str) -> None:
    with pytest.raises(ConfigError, match="idempotency key"):
        _claim(Journal(journal_url), key=key)


def test_concurrent_starts_with_one_key_claim_one_run(journal_url: str) -> None:
    Journal(journal_url).close()
    handles = [Journal(journal_url) for _ in range(8)]  # one connection each
    barrier = threading.Barrier(len(handles))
    claims: list[StartClaim] = []

    def start(journal: Journal) -> None:
        barrier.wait()
        claims.append(_claim(journal, key="race"))

    threads = [threading.Thread(target=start, args=(h,)) for h in handles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(claims) == 8
    assert sum(c.new for c in claims) == 1
    assert len({c.run_id for c in claims}) == 1
