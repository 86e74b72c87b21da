"""Credentials before the body, a capped body, and cursors the database can hold.

These tests drive the ASGI app directly with a request body that is produced only as the
app asks for it, so they count the bytes the server actually read (not time or memory).
"""

from __future__ import annotations

import time

import pytest

from charter.server._limits import MIB
from server._support import CHUNK, SentBody, Service, call_asgi

HUGE = 300 * MIB


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_an_unauthenticated_huge_body_is_refused_unread(service: Service, length: bool) -> None:
    body = SentBody(HUGE)

    status, _ = call_asgi(service.client.app, "/api/runs", body, {}, length=length)

    assert status == 401
    assert body.read == 0
    (rejected,) = [r.payload for r in service.journal.records_of_kind("api.rejected")]
    assert rejected["reason"] == "not signed in"


def test_a_forged_token_with_a_huge_body_is_refused_unread(service: Service) -> None:
    body = SentBody(HUGE)
    forged = {"Authorization": "Bearer chr_" + "A" * 43}

    status, _ = call_asgi(service.client.app, "/api/runs", body, forged, length=False)

    assert status == 401 and body.read == 0


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_an_authenticated_body_over_the_cap_is_a_413_read_no_further(
    service: Service, length: bool
) -> None:
    body = SentBody(HUGE)
    before = len(list(service.journal.records()))

    status, answer = call_asgi(
        service.client.app,
        "/api/runs",
        body,
        service.auth("sam"),
        length=length,
    )

    assert status == 413
    assert "--max-body" in answer["detail"] and "1,048,576 bytes" in answer["detail"]
    # A declared length over the cap is refused before a byte; otherwise reading stops
    # with the chunk that crossed it.
    assert body.read == (0 if length else MIB + CHUNK)
    assert len(list(service.journal.records())) == before


def test_a_body_under_the_cap_is_read_whole(service: Service) -> None:
    body = SentBody(MIB // 2)

    status, _ = call_asgi(service.client.app, "/api/runs", body, service.auth("sam"), length=True)

    assert status == 422  # read in full, and not JSON
    assert body.read == MIB // 2


def test_the_sign_in_form_is_public_but_its_body_is_capped(service: Service) -> None:
    response = service.client.post("/login", content=b"token=" + b"x" * (MIB + 1))

    assert response.status_code == 413


# Authenticate first: an anonymous caller learns nothing about what exists


@pytest.mark.parametrize(
    "path",
    [
        "/api/runs/no-such-run/events",
        "/api/runs/no-such-run",
        "/api/evals/no-such-eval",
        "/runs/no-such-run",
    ],
)
def test_an_unknown_thing_and_a_known_one_answer_an_anonymous_caller_alike(
    service: Service, path: str
) -> None:
    response = service.client.get(path, follow_redirects=False)

    assert response.status_code in (401, 303)
    assert "no-such" not in response.text
    viewer = service.client.get(path, headers=service.auth("viewer"))
    assert viewer.status_code == 404


def test_events_of_an_existing_run_answer_401_without_credentials(service: Service) -> None:
    started = service.client.post(
        "/api/runs",
        json={"agent": "refunder", "goal": "refund 7 for 9000"},
        headers=service.auth("sam"),
    )
    run_id = started.json()["run_id"]

    known = service.client.get(f"/api/runs/{run_id}/events")
    unknown = service.client.get("/api/runs/run-nope/events")

    assert known.status_code == unknown.status_code == 401
    assert known.json() == unknown.json()


# Integer parameters beyond 64 bits


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/api/runs?before=9223372036854775808", "viewer"),
        ("/api/runs?before=99999999999999999999999", "viewer"),
        ("/api/runs?limit=9223372036854775808", "viewer"),
        ("/api/violations?limit=9223372036854775808", "viewer"),
        ("/api/evals?limit=9223372036854775808", "viewer"),
        ("/?before=9223372036854775808", "viewer"),
        ("/feed?limit=9223372036854775808", "viewer"),
    ],
)
def test_an_integer_past_64_bits_is_a_422(service: Service, path: str, role: str) -> None:
    response = service.client.get(path, headers=service.auth(role))

    assert response.status_code == 422, response.text


def test_an_events_cursor_past_64_bits_is_a_422(service: Service) -> None:
    started = service.client.post(
        "/api/runs",
        json={"agent": "refunder", "goal": "refund 7 for 100"},
        headers=service.auth("sam"),
    )
    run = f"/api/runs/{started.json()['run_id']}"
    deadline = time.monotonic() + 30
    while service.client.get(run, headers=service.auth("viewer")).status_code == 404:
        assert time.monotonic() < deadline, "the run was never journaled"
        time.sleep(0.02)
    path = f"{run}/events?after=9223372036854775808"

    response = service.client.get(path, headers=service.auth("viewer"))

    assert response.status_code == 422, response.text


def test_the_largest_cursor_is_accepted(service: Service) -> None:
    response = service.client.get(
        "/api/runs?before=9223372036854775807", headers=service.auth("viewer")
    )

    assert response.status_code == 200 and response.json() == []
