"""Live event streams end (run over, token revoked, idle), are limited per token, and
cost nothing while nothing happens: waiting streams read their run only when the
journal moved."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import HTTPException
from fastapi.sse import ServerSentEvent
from sqlalchemy.exc import OperationalError

from charter.journal import Journal
from charter.server import Principal, ServerLimits, TokenStore
from charter.server._streams import EventStreams
from databases import fresh_url
from server._support import Service, live_server

RUN = "run-1"


class Client:
    """A request whose client stays, until told to go."""

    def __init__(self) -> None:
        self.gone = False

    async def is_disconnected(self) -> bool:
        return self.gone


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journal]:
    journal = Journal(fresh_url(request.param, tmp_path))
    journal.append([(RUN, "run.started", {"goal": "g"}), (RUN, "step.decided", {"step": 1})])
    yield journal
    journal.close()


@pytest.fixture
def viewer(journal: Journal) -> Principal:
    store = TokenStore(journal)
    info, secret = store.create("viewer", "viewer", actor="setup")
    principal = store.authenticate(secret)
    assert principal is not None and principal.token_id == info.token_id
    return principal


def _streams(journal: Journal, **limits: Any) -> EventStreams:
    return EventStreams(journal, TokenStore(journal), ServerLimits(**limits))


async def _collect(events: AsyncIterator[ServerSentEvent]) -> list[ServerSentEvent]:
    return [event async for event in events]


def test_a_stream_of_a_run_with_nothing_new_closes_once_idle(
    journal: Journal, viewer: Principal
) -> None:
    streams = _streams(journal, stream_idle_seconds=0.3)

    events = asyncio.run(_collect(streams.follow(Client(), RUN, 0, viewer)))

    assert [e.event for e in events] == ["run.started", "step.decided", "stream.closed"]
    assert events[-1].data["reason"] == "idle"


def test_a_stream_closes_when_its_token_is_revoked(journal: Journal, viewer: Principal) -> None:
    streams = _streams(journal, stream_recheck_seconds=0.1, stream_idle_seconds=60)

    async def scenario() -> list[ServerSentEvent]:
        task = asyncio.create_task(_collect(streams.follow(Client(), RUN, 2, viewer)))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(TokenStore(journal).revoke, viewer.token_id, actor="admin")
        return await asyncio.wait_for(task, 10)

    events = asyncio.run(scenario())

    assert [e.event for e in events] == ["stream.closed"]
    assert events[0].data["reason"] == "revoked"


def test_a_stream_ends_when_its_client_goes(journal: Journal, viewer: Principal) -> None:
    streams = _streams(journal, stream_recheck_seconds=0.1, stream_idle_seconds=60)
    client = Client()

    async def scenario() -> list[ServerSentEvent]:
        task = asyncio.create_task(_collect(streams.follow(client, RUN, 2, viewer)))
        await asyncio.sleep(0.2)
        client.gone = True
        return await asyncio.wait_for(task, 10)

    assert asyncio.run(scenario()) == []


def test_idle_streams_do_not_read_the_journal_until_it_moves(
    journal: Journal, viewer: Principal
) -> None:
    streams = _streams(journal, stream_recheck_seconds=60, stream_idle_seconds=60)

    async def scenario() -> tuple[int, int, list[list[str]]]:
        tasks = [
            asyncio.create_task(_collect(streams.follow(Client(), RUN, 2, viewer)))
            for _ in range(5)
        ]
        await asyncio.sleep(0.5)  # each stream read once, and once more at the first wake
        settled = streams.reads
        await asyncio.sleep(1.5)  # nothing appended: no stream reads again
        idle = streams.reads - settled
        await asyncio.to_thread(
            journal.append, [(RUN, "step.decided", {"step": 2}), (RUN, "run.finished", {})]
        )
        done = await asyncio.wait_for(asyncio.gather(*tasks), 10)
        return settled, idle, [[e.event or "" for e in events] for events in done]

    settled, idle, received = asyncio.run(scenario())

    assert settled <= 10
    assert idle == 0
    assert received == [["step.decided", "run.finished"]] * 5


def test_a_record_of_another_run_wakes_streams_but_sends_them_nothing(
    journal: Journal, viewer: Principal
) -> None:
    streams = _streams(journal, stream_recheck_seconds=60, stream_idle_seconds=1.5)

    async def scenario() -> list[ServerSentEvent]:
        task = asyncio.create_task(_collect(streams.follow(Client(), RUN, 2, viewer)))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(journal.append, [("run-2", "run.started", {"goal": "h"})])
        return await asyncio.wait_for(task, 10)

    events = asyncio.run(scenario())

    assert [e.event for e in events] == ["stream.closed"]


def test_the_watcher_outlives_a_failed_read_of_the_journal(
    journal: Journal, viewer: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    streams = _streams(journal, stream_recheck_seconds=60, stream_idle_seconds=60)
    newest = streams._newest_seq  # pyright: ignore[reportPrivateUsage]
    failures = [OperationalError("SELECT", {}, Exception("the database went away"))]

    def flaky() -> int:
        if failures:
            raise failures.pop()
        return newest()

    monkeypatch.setattr(streams, "_newest_seq", flaky)

    async def scenario() -> list[ServerSentEvent]:
        task = asyncio.create_task(_collect(streams.follow(Client(), RUN, 2, viewer)))
        while failures:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(journal.append, [(RUN, "run.finished", {})])
        return await asyncio.wait_for(task, 10)

    assert [e.event for e in asyncio.run(scenario())] == ["run.finished"]


def test_a_token_holds_at_most_its_limit_of_streams(journal: Journal, viewer: Principal) -> None:
    streams = _streams(journal, streams_per_token=2)

    with streams.slot(viewer), streams.slot(viewer):
        with pytest.raises(HTTPException) as refused, streams.slot(viewer):
            pass
        assert refused.value.status_code == 429 and "--max-streams" in str(refused.value.detail)
        assert streams.open_streams(viewer.token_id) == 2
    assert streams.open_streams(viewer.token_id) == 0
    with streams.slot(viewer):  # free again
        assert streams.open_streams(viewer.token_id) == 1


# Over HTTP, with a real server


@pytest.fixture
def limits() -> ServerLimits:
    return ServerLimits(streams_per_token=2, stream_recheck_seconds=0.2, stream_idle_seconds=60)


def _waiting_run(service: Service) -> tuple[str, int]:
    started = service.client.post(
        "/api/runs",
        json={"agent": "refunder", "goal": "refund 7 for 9000"},
        headers=service.auth("sam"),
    )
    run_id = str(started.json()["run_id"])
    deadline = time.monotonic() + 30
    while True:
        records = list(service.journal.records(run_id))
        if records and records[-1].kind == "run.waiting":
            return run_id, records[-1].seq
        assert time.monotonic() < deadline, "the run never waited"
        time.sleep(0.05)


def _first_event(response: httpx.Response) -> tuple[str, dict[str, Any]]:
    kind = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind:
            return kind, json.loads(line.removeprefix("data: "))
    raise AssertionError("the stream ended without an event")


def test_over_http_a_third_stream_is_a_429_until_one_closes(service: Service) -> None:
    run_id, seq = _waiting_run(service)
    path = f"/api/runs/{run_id}/events?after={seq}"
    viewer = service.auth("viewer")

    with live_server(service.client.app) as url, httpx.Client(base_url=url, timeout=10) as http:
        first = http.send(http.build_request("GET", path, headers=viewer), stream=True)
        second = http.send(http.build_request("GET", path, headers=viewer), stream=True)
        assert first.status_code == second.status_code == 200
        third = http.get(path, headers=viewer)
        other = http.send(
            http.build_request("GET", path, headers=service.auth("admin")), stream=True
        )
        assert third.status_code == 429 and "--max-streams" in third.json()["detail"]
        assert other.status_code == 200  # the limit is per token
        first.close()
        deadline = time.monotonic() + 10
        while (
            again := http.send(http.build_request("GET", path, headers=viewer), stream=True)
        ).status_code == 429:
            again.close()
            assert time.monotonic() < deadline, "the closed stream's slot was never freed"
            time.sleep(0.05)
        for response in (again, second, other):
            response.close()
        assert again.status_code == 200


def test_over_http_revoking_the_token_closes_its_stream(service: Service) -> None:
    run_id, seq = _waiting_run(service)
    made = service.client.post(
        "/api/tokens", json={"name": "watcher", "role": "viewer"}, headers=service.auth("admin")
    ).json()

    with live_server(service.client.app) as url, httpx.Client(base_url=url, timeout=10) as http:
        request = http.build_request(
            "GET",
            f"/api/runs/{run_id}/events?after={seq}",
            headers={"Authorization": f"Bearer {made['token']}"},
        )
        stream = http.send(request, stream=True)
        revoked = http.post(f"/api/tokens/{made['token_id']}/revoke", headers=service.auth("admin"))
        assert stream.status_code == revoked.status_code == 200
        kind, data = _first_event(stream)
        stream.close()

    assert (kind, data["reason"]) == ("stream.closed", "revoked")
