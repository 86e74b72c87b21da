"""The journal's small reads for the surfaces and the runtime (journal/_reads.py), on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from charter.journal import Journal
from charter.journal._reads import (
    distinct_manifests,
    newest_containing,
    newest_seq,
    payloads_of_kinds,
    payloads_of_runs,
    run_head_seq,
    run_records_after,
)


@pytest.fixture
def journal(journal_url: str) -> Iterator[Journal]:
    opened = Journal(journal_url)
    yield opened
    opened.close()


def test_an_empty_journal_has_seq_0(journal: Journal) -> None:
    assert newest_seq(journal) == 0 and run_head_seq(journal, "nobody") == 0
    assert run_records_after(journal, "nobody", 0, limit=10) == []


def test_a_runs_records_after_a_seq_come_oldest_first_and_limited(journal: Journal) -> None:
    journal.append([("a", "step.x", {"i": i}) for i in range(5)] + [("b", "step.x", {"i": 9})])

    after = run_records_after(journal, "a", 2, limit=2)

    assert [(r.seq, r.payload["i"]) for r in after] == [(3, 2), (4, 3)]
    assert run_head_seq(journal, "a") == 5 and newest_seq(journal) == 6


def test_runs_beyond_one_querys_worth_are_all_read_each_in_order(journal: Journal) -> None:
    ids = [f"run-{n:04d}" for n in range(1203)]
    journal.append([(i, "run.finished", {"n": 1}) for i in ids])
    journal.append([(i, "run.finished", {"n": 2}) for i in ids[::-1]])
    journal.append([(i, "run.resumed", {"n": 3}) for i in ids])

    read = list(payloads_of_runs(journal, [*ids, ids[0]], ["run.finished"]))

    assert len(read) == 2 * len(ids)
    per_run: dict[str, list[int]] = {}
    for run_id, _seq, kind, payload in read:
        assert kind == "run.finished"
        per_run.setdefault(run_id, []).append(payload["n"])
    assert set(per_run) == set(ids) and all(v == [1, 2] for v in per_run.values())


def test_a_like_wildcard_in_the_searched_text_matches_only_itself(journal: Journal) -> None:
    journal.append(
        [
            ("r", "step.effect", {"result": {"model": "risk"}}),
            ("r", "step.effect", {"result": {"model": "ri%k"}}),
            ("r", "step.effect", {"result": {"model": "ri_k"}}),
        ]
    )

    found = list(newest_containing(journal, "step.effect", '"model":"ri%k"'))

    assert [(seq, p["result"]["model"]) for _run, seq, p in found] == [(2, "ri%k")]
    assert [seq for _r, seq, _p in newest_containing(journal, "step.effect", "ri")] == [3, 2, 1]


def test_manifests_are_read_once_per_distinct_agent_and_tools(journal: Journal) -> None:
    journal.append(
        [
            ("r1", "run.started", {"agent": "a", "tools": ["x", "y"]}),
            ("r2", "run.started", {"agent": "a", "tools": ["x", "y"]}),
            ("r3", "run.started", {"agent": "b", "tools": []}),
            ("controls", "control.revoke", {"tool": "z"}),
        ]
    )

    assert sorted(distinct_manifests(journal)) == [("a", ["x", "y"]), ("b", [])]
    assert payloads_of_kinds(journal, ["control.revoke", "control.pause"]) == [{"tool": "z"}]
