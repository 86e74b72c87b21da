"""Credentials before the body, a capped body, and cursors the database can hold.

These tests drive the ASGI app directly with a request body that is produced only as the
app asks for it, so they count the bytes the server actually read (not time or memory).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI

from charter.server._limits import MIB
from server._support import Service

CHUNK = 64 * 1024
HUGE = 300 * MIB


@dataclass
class Sent:
    """A request body handed to the app chunk by chunk, only when it asks."""

    size: int
    read: int = 0
    messages: list[dict[str, Any]] = field(default_factory=lambda: [])

    async def receive(self) -> dict[str, Any]:
        if self.read >= self.size:
            await asyncio.sleep(3600)  # the client has nothing more; never reached here
        chunk = min(CHUNK, self.size - self.read)
        self.read += chunk
        return {"type": "http.request", "body": b"x" * chunk, "more_body": self.read < self.size}


def _call(
    app: FastAPI, path: str, body: Sent, headers: dict[str, str], *, length: bool
) -> tuple[int, dict[str, Any]]:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-type", b"application/json"))
    if length:
        raw.append((b"content-length", str(body.size).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw,
        "client": ("10.0.0.9", 4000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, body.receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(payload) if payload.startswith(b"{") else {}


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_an_unauthenticated_huge_body_is_refused_unread(service: Service, length: bool) -> None:
    body = Sent(HUGE)

    status, _ = _call(service.client.app, "/api/runs", body, {}, length=length)  # type: ignore[arg-type]

    assert status == 401
    assert body.read == 0
    (rejected,) = [r.payload for r in service.journal.records_of_kind("api.rejected")]
    assert rejected["reason"] == "not signed in"


def test_a_forged_token_with_a_huge_body_is_refused_unread(service: Service) -> None:
    body = Sent(HUGE)
    forged = {"Authorization": "Bearer chr_" + "A" * 43}

    status, _ = _call(service.client.app, "/api/runs", body, forged, length=False)  # type: ignore[arg-type]

    assert status == 401 and body.read == 0


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_an_authenticated_body_over_the_cap_is_a_413_read_no_further(
    service: Service, length: bool
) -> None:
    body = Sent(HUGE)
    before = len(list(service.journal.records()))

    status, answer = _call(
        service.client.app,  # type: ignore[arg-type]
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
    body = Sent(MIB // 2)

    status, _ = _call(service.client.app, "/api/runs", body, service.auth("sam"), length=True)  # type: ignore[arg-type]

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
