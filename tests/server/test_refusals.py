"""Refused requests are journaled cut short and, beyond a burst, summarised per client:
a flood of refusals cannot fill the journal, and every refusal is still counted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from charter.journal import Journal
from charter.server import ServerLimits
from charter.server import _refusals as refusals
from charter.server._refusals import RefusalLog
from server._support import Service


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'journal.db'}")


def _log(journal: Journal, clock: Clock, burst: int = 3, rate: float = 1.0) -> RefusalLog:
    limits = ServerLimits(refusal_burst=burst, refusals_per_second=rate)
    return RefusalLog(journal, limits, clock=clock)


def _refuse(log: RefusalLog, client: str = "10.0.0.1", path: str = "/api/runs") -> bool:
    return log.record(
        method="GET", path=path, status=401, reason="not signed in", actor="", client=client
    )


def _payloads(journal: Journal, kind: str) -> list[dict[str, Any]]:
    return [r.payload for r in journal.records() if r.kind == kind]


def test_a_long_path_and_user_agent_are_journaled_cut_short(journal: Journal) -> None:
    log = _log(journal, Clock())

    log.record(
        method="GET",
        path="/api/" + "a" * 60_000,
        status=401,
        reason="not signed in",
        actor="",
        client="10.0.0.1",
        user_agent="b" * 10_000,
    )

    (rejected,) = _payloads(journal, "api.rejected")
    assert rejected["path"].startswith("/api/aaa") and rejected["path"].endswith("(+59749 chars)")
    assert len(rejected["path"]) < 300 and len(rejected["user_agent"]) < 300


def test_beyond_its_burst_a_client_is_summarised_in_one_record(journal: Journal) -> None:
    clock = Clock()
    log = _log(journal, clock)

    journaled = [_refuse(log, path=f"/api/runs/{i}") for i in range(50)]
    clock.now += 10  # the allowance refills: the next refusal closes the burst
    _refuse(log)

    assert journaled == [True] * 3 + [False] * 47
    assert len(_payloads(journal, "api.rejected")) == 4
    (burst,) = _payloads(journal, "api.rejected.burst")
    assert burst["client"] == "10.0.0.1" and burst["count"] == 47
    assert burst["sample_paths"] == [f"/api/runs/{i}" for i in range(3, 8)]
    assert burst["first"] <= burst["last"]


def test_one_client_flooding_does_not_silence_another(journal: Journal) -> None:
    log = _log(journal, Clock())
    for _ in range(20):
        _refuse(log, client="10.0.0.1")

    assert _refuse(log, client="10.0.0.2") is True
    assert [p["client"] for p in _payloads(journal, "api.rejected")].count("10.0.0.2") == 1


def test_a_quiet_burst_is_summarised_at_the_next_refusal_from_anyone(journal: Journal) -> None:
    clock = Clock()
    log = _log(journal, clock, rate=0.001)
    for _ in range(10):
        _refuse(log, client="10.0.0.1")
    assert _payloads(journal, "api.rejected.burst") == []

    clock.now += refusals.QUIET_SECONDS
    _refuse(log, client="10.0.0.2")

    (burst,) = _payloads(journal, "api.rejected.burst")
    assert (burst["client"], burst["count"]) == ("10.0.0.1", 7)


def test_stopping_the_server_summarises_the_bursts_still_open(journal: Journal) -> None:
    log = _log(journal, Clock())
    for client in ("10.0.0.1", "10.0.0.2"):
        for _ in range(5):
            _refuse(log, client=client)

    log.flush()
    log.flush()  # nothing left the second time

    bursts = _payloads(journal, "api.rejected.burst")
    assert [(b["client"], b["count"]) for b in bursts] == [("10.0.0.1", 2), ("10.0.0.2", 2)]


def test_forgetting_a_client_for_room_summarises_its_burst(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(refusals, "CLIENTS", 2)
    log = _log(journal, Clock(), burst=1)
    _refuse(log, client="a")
    _refuse(log, client="a")  # counted, not journaled
    _refuse(log, client="b")

    _refuse(log, client="c")  # "a" is forgotten, its burst journaled first

    (burst,) = _payloads(journal, "api.rejected.burst")
    assert (burst["client"], burst["count"]) == ("a", 1)


def test_a_flood_of_long_urls_adds_a_bounded_amount_to_the_journal(service: Service) -> None:
    for i in range(200):
        response = service.client.get(f"/api/runs/{i}" + "x" * 60_000)
        assert response.status_code == 401
    service.client.app.state.charter.refusals.flush()  # type: ignore[attr-defined]

    rejected = [r for r in service.journal.records() if r.kind == "api.rejected"]
    bursts = [r for r in service.journal.records() if r.kind == "api.rejected.burst"]
    stored = sum(len(r.payload_json) for r in rejected + bursts)
    assert stored < 40_000, stored  # 200 records of 60 KB each (12 MB) before
    assert len(rejected) < ServerLimits().refusal_burst + 10
    assert len(rejected) + sum(b.payload["count"] for b in bursts) == 200  # each counted
