"""The server against hostile clients, fuzzed: anonymous bodies of any size and framing,
integers of any size in every integer parameter, floods of refusals from many addresses,
and a run starter's name spelled every way.

An anonymous request is refused (401, or the dashboard's redirect to sign in) before a
byte of its body is read, and the same whether what it names exists or not; an integer
parameter never answers 5xx; every refusal is counted, journaled one by one only within
its client's allowance; no other spelling of a run's starter creates a token or approves
the run.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter._identity import normalise_identity
from charter.journal import Journal
from charter.server import ServerLimits
from charter.server._refusals import RefusalLog
from reliability._support import I64, Service, bounded
from server._support import SentBody, call_asgi

RUNS = "/api/runs"


def _run(service: Service, goal: str) -> str:
    started = service.client.post(
        RUNS, json={"agent": "payer", "goal": goal}, headers=service.auth("sam")
    )
    assert started.status_code == 202, started.text
    run_id = str(started.json()["run_id"])
    deadline = time.monotonic() + 30
    while True:
        records = list(service.journal.records(run_id))
        if records and records[-1].kind in ("run.finished", "run.waiting"):
            return run_id
        assert time.monotonic() < deadline, f"run {run_id} never settled"
        time.sleep(0.02)


@pytest.fixture
def known_run(service: Service) -> str:
    return _run(service, "pay 2 for 100")


PATHS = [
    RUNS,
    RUNS + "/{run}",
    RUNS + "/{run}/events",
    RUNS + "/{run}/cancel",
    RUNS + "/{run}/rollback",
    "/api/approvals",
    "/api/approvals/apr-{run}/approve",
    "/api/agents/payer/pause",
    "/api/tools/pay/revoke",
    "/api/tokens",
    "/api/audit/export",
    "/metrics",
    "/",
    "/runs/{run}",
    "/runs/{run}/timeline",
    "/approvals",
]
forged = st.sampled_from(
    [
        None,
        "Bearer chr_forged",
        "Bearer " + "chr_" + "A" * 43,
        "Basic dXNlcjpwYXNz",
        "Bearer " + "x" * 5000,
    ]
)


@bounded(60)
@given(data=st.data())
def test_an_anonymous_request_is_refused_before_its_body_and_alike_for_any_id(
    service: Service, known_run: str, data: st.DataObject
) -> None:
    template = data.draw(st.sampled_from(PATHS), label="path")
    who = data.draw(forged, label="credentials")
    method = data.draw(st.sampled_from(["GET", "POST"]), label="method")
    size = data.draw(st.integers(0, 8 * 1024 * 1024), label="body bytes")
    chunk = data.draw(st.sampled_from([1, 1000, 64 * 1024, 1024 * 1024]), label="chunk")
    length = data.draw(st.booleans(), label="content-length")
    headers = {} if who is None else {"Authorization": who}

    answers: list[tuple[int, dict[str, Any]]] = []
    for run_id in (known_run, "run-" + "0" * 12):
        path = template.replace("{run}", run_id)
        body = SentBody(size, chunk=chunk)
        status, answer = call_asgi(
            service.client.app, path, body, headers, length=length, method=method
        )
        assert body.read == 0, (path, status)
        answers.append((status, answer))

    (status, answer), other = answers
    assert other == (status, answer)  # a run that exists and one that does not: alike
    expected = 401 if template.startswith(("/api", "/metrics")) else 303
    assert status == expected, (template, status, answer)


INTEGERS = [
    (RUNS, "before"),
    (RUNS, "limit"),
    ("/api/violations", "limit"),
    ("/api/evals", "limit"),
    ("/", "before"),
    ("/feed", "limit"),
]
integers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(I64 - 3, I64 + 3),
    st.integers(-I64 - 3, -I64 + 3),
    st.sampled_from([0, 1, -1, 10**40]),
)


@bounded(120)
@given(data=st.data())
def test_an_integer_parameter_of_any_size_never_answers_5xx(
    service: Service, data: st.DataObject
) -> None:
    path, name = data.draw(st.sampled_from(INTEGERS), label="parameter")
    value = data.draw(integers, label="value")

    response = service.client.get(
        f"{path}?{urllib.parse.urlencode({name: value})}", headers=service.auth("viewer")
    )

    assert response.status_code in (200, 422), (path, name, value, response.text[:300])
    if response.status_code == 422:
        assert isinstance(response.json()["detail"], str)


@bounded(60)
@given(value=integers)
def test_an_events_cursor_of_any_size_never_answers_5xx(
    service: Service, known_run: str, value: int
) -> None:
    if 0 <= value <= I64 - 1:
        value = 0  # a cursor past the run's end would wait for records: start at the start
    response = service.client.get(
        f"{RUNS}/{known_run}/events?after={value}", headers=service.auth("viewer")
    )

    assert response.status_code == (200 if value == 0 else 422), response.text[:300]


# Refusals: a flood is summarised, never lost


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


refusal_floods = st.lists(
    st.tuples(st.sampled_from(["10.0.0.1", "10.0.0.2", "::1", "x" * 300]), st.floats(0, 5)),
    max_size=200,
)


@bounded(60)
@given(flood=refusal_floods, burst=st.integers(1, 10), rate=st.floats(0.1, 5))
def test_every_refusal_is_counted_and_each_client_journals_within_its_allowance(
    tmp_path_factory: pytest.TempPathFactory,
    flood: list[tuple[str, float]],
    burst: int,
    rate: float,
) -> None:
    journal = Journal(f"sqlite:///{tmp_path_factory.mktemp('refusals') / 'journal.db'}")
    clock = Clock()
    log = RefusalLog(
        journal, ServerLimits(refusal_burst=burst, refusals_per_second=rate), clock=clock
    )
    journaled: dict[str, list[float]] = {}

    for client, pause in flood:
        clock.now += pause
        path = "/api/" + "p" * 10_000
        if log.record(
            method="GET", path=path, status=401, reason="not signed in", actor="", client=client
        ):
            journaled.setdefault(client, []).append(clock.now)
    log.flush()

    records = list(journal.records())
    rejected = [r for r in records if r.kind == "api.rejected"]
    bursts = [r for r in records if r.kind == "api.rejected.burst"]
    assert len(rejected) + sum(r.payload["count"] for r in bursts) == len(flood)
    assert all(len(r.payload_json) < 1500 for r in records)
    for times in journaled.values():  # a token bucket: no window holds more than it allows
        for i, start in enumerate(times):
            within = [t for t in times[i:] if t - start <= 10]
            assert len(within) <= burst + rate * 10 + 1
    journal.close()


# Identities: another spelling of sam is still sam


def _spellings() -> st.SearchStrategy[str]:
    letters = [
        st.sampled_from(["s", "S", "\uff53", "\uff33"]),
        st.sampled_from(["a", "A", "\uff41", "\uff21"]),
        st.sampled_from(["m", "M", "\uff4d", "\uff2d"]),
    ]
    edges = st.sampled_from(["", " ", "  ", "\u200b"])
    inside = st.sampled_from(["", "", "\u200b", "\u200d"])

    @st.composite
    def spelled(draw: st.DrawFn) -> str:
        middle = draw(inside).join(draw(letter) for letter in letters)
        return draw(edges) + middle + draw(edges)

    return spelled()


@bounded(60)
@given(alias=_spellings())
def test_no_spelling_of_a_starter_makes_a_second_token(service: Service, alias: str) -> None:
    assert normalise_identity(alias) == "sam"

    made = service.client.post(
        "/api/tokens", json={"name": alias, "role": "approver"}, headers=service.auth("admin")
    )

    assert made.status_code == 400, (alias, made.text)
    detail = made.json()["detail"]
    assert "already" in detail or "control character" in detail
    listed = service.client.get("/api/tokens", headers=service.auth("admin")).json()
    assert [normalise_identity(t["name"]) for t in listed].count("sam") == 1


def test_a_starter_cannot_approve_their_own_run_under_a_token_spelled_otherwise(
    service: Service,
) -> None:
    from charter.server._auth import tokens_table

    run_id = _run(service, "pay 3 for 9000")
    with service.journal.engine.begin() as conn:  # an approver token named before normalising
        conn.execute(
            tokens_table.update().where(tokens_table.c.name == "approver").values(name="SAM ")
        )
    (pending,) = service.client.get("/api/approvals", headers=service.auth("viewer")).json()
    assert pending["run_id"] == run_id

    refused = service.client.post(
        f"/api/approvals/{pending['request_id']}/approve",
        json={},
        headers=service.auth("approver"),
    )

    assert refused.status_code == 403 and "started run" in refused.json()["detail"]
    still = service.client.get("/api/approvals", headers=service.auth("viewer")).json()
    assert [p["request_id"] for p in still] == [pending["request_id"]]
    assert service.journal.records_of_kind("approval.granted") == []
