"""The JSON API, fuzzed: random bodies (JSON of any shape, bytes that are not JSON, wrong
content types, huge strings) posted to every state-changing endpoint with a valid token,
and requests with no, forged or too weak credentials.

No response is ever a 5xx. A refusal is a 4xx and changes nothing: the journal's records
other than ``api.rejected`` and the token table are exactly as before, and a 401 or 403 is
journaled as one ``api.rejected`` record (other refusals journal nothing).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from sqlalchemy import text

from databases import fresh_url
from reliability._support import Service, any_text, bounded, json_values, text_no_surrogates

RUNS = "/api/runs"


@pytest.fixture(params=["sqlite", "postgresql"])
def service_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The API on both backends (PostgreSQL refuses text SQLite takes: NUL characters)."""
    return fresh_url(request.param, tmp_path)


@dataclass(frozen=True)
class Endpoint:
    path: str
    """With ``{run}``, ``{request}``, ``{agent}``, ``{tool}`` or ``{token}`` to fill in."""
    who: str
    """Whose token may call it."""
    fields: dict[str, st.SearchStrategy[Any]]
    """Its body's fields, for bodies that are nearly right."""


reasons = st.one_of(
    text_no_surrogates,
    st.sampled_from(["ok", "incident 7"]),
    st.sampled_from(["", " ", "x" * 2001]),
)
ENDPOINTS = [
    Endpoint(
        RUNS,
        "sam",
        {
            "agent": st.sampled_from(["payer", "payer", "ghost", ""]),
            "goal": st.sampled_from(["pay 5 for 100", "pay 6 for 9000", "", " "]) | any_text,
        },
    ),
    Endpoint(RUNS + "/{run}/cancel", "sam", {"reason": reasons}),
    Endpoint(RUNS + "/{run}/rollback", "sam", {}),
    Endpoint("/api/approvals/{request}/approve", "approver", {"reason": reasons}),
    Endpoint("/api/approvals/{request}/deny", "approver", {"reason": reasons}),
    Endpoint("/api/agents/{agent}/pause", "sam", {"reason": reasons}),
    Endpoint("/api/agents/{agent}/resume", "sam", {"reason": reasons}),
    Endpoint(
        "/api/tools/{tool}/revoke",
        "sam",
        {"reason": reasons, "agent": st.none() | st.sampled_from(["payer", "x" * 129])},
    ),
    Endpoint(
        "/api/tools/{tool}/restore",
        "sam",
        {"reason": reasons, "agent": st.none() | st.sampled_from(["payer", "x" * 129])},
    ),
    Endpoint(
        "/api/tokens",
        "admin",
        {
            "name": st.sampled_from(["bot", " ", "", "x" * 129, "a\x00b"]) | text_no_surrogates,
            "role": st.sampled_from(["viewer", "operator", "approver", "admin", "root", ""]),
        },
    ),
    Endpoint("/api/tokens/{token}/revoke", "admin", {}),
]
READS = ["/api/runs", "/api/approvals", "/api/agents", "/api/tools", "/api/tokens", "/metrics"]


# The world the requests act on: runs finished and waiting, a pending approval, a token
# nobody needs (the fixture's own tokens must survive the fuzzing).


@dataclass
class World:
    finished_run: str
    waiting_run: str
    request: str
    spare_token: str


def _start(service: Service, goal: str) -> str:
    started = service.client.post(
        RUNS, json={"agent": "payer", "goal": goal}, headers=service.auth("sam")
    )
    assert started.status_code == 202, started.text
    run_id = str(started.json()["run_id"])
    _settle(service, run_id)
    return run_id


def _settled(service: Service, run_id: str) -> bool:
    """Whether the run has stopped moving: finished, or waiting on an undecided request."""
    records = list(service.journal.records(run_id))
    if not records:
        return False
    if any(record.kind == "run.finished" for record in records):
        return True  # (a rollback of a finished run is journaled before its response)
    last = records[-1]
    if last.kind != "run.waiting":
        return False
    decided = service.journal.records_of_kinds(
        ["approval.granted", "approval.denied"],
        payload_contains=json.dumps({"request_id": last.payload["request_id"]})[1:-1],
    )
    return not decided


def _settle(service: Service, run_id: str) -> None:
    deadline = time.monotonic() + 30
    while not _settled(service, run_id):
        assert time.monotonic() < deadline, f"run {run_id} never settled"
        time.sleep(0.02)


@pytest.fixture
def world(service: Service) -> World:
    spare = service.client.post(
        "/api/tokens", json={"name": "spare", "role": "viewer"}, headers=service.auth("admin")
    )
    made = World(_start(service, "pay 2 for 100"), "", "", str(spare.json()["token_id"]))
    return _refresh(service, made)


def _refresh(service: Service, world: World) -> World:
    """The world, with a pending approval again if the last example decided it."""
    pending = service.client.get("/api/approvals", headers=service.auth("viewer")).json()
    if not pending:
        # Earlier examples may have paused the agent or revoked its tools: undo that first.
        operator = service.auth("sam")
        service.client.post("/api/agents/payer/resume", json={}, headers=operator)
        for tool_name in ("pay", "lookup_order"):
            for scope in (None, "payer"):
                service.client.post(
                    f"/api/tools/{tool_name}/restore",
                    json={"reason": "next example", "agent": scope},
                    headers=operator,
                )
        world.waiting_run = _start(service, "pay 1 for 9000")
        pending = service.client.get("/api/approvals", headers=service.auth("viewer")).json()
    assert pending, "a new run did not wait for its approval"
    world.request = str(pending[0]["request_id"])
    world.waiting_run = str(pending[0]["run_id"])
    return world


@dataclass(frozen=True)
class Snapshot:
    records: list[tuple[int, str, str]]
    """``(seq, kind, hash)`` of every record but ``api.rejected``."""
    rejected: int
    tokens: list[tuple[Any, ...]]


def _snapshot(service: Service) -> Snapshot:
    records: list[tuple[int, str, str]] = []
    rejected = 0
    for record in service.journal.records():
        if record.kind == "api.rejected":
            rejected += 1
        else:
            records.append((record.seq, record.kind, record.hash))
    with service.journal.engine.connect() as conn:
        tokens = [tuple(row) for row in conn.execute(text("SELECT * FROM api_tokens"))]
    return Snapshot(records, rejected, sorted(tokens))


# Requests


def _fill(path: str, world: World, data: st.DataObject, *, real: bool = False) -> str:
    choices = {
        "run": [world.finished_run, world.waiting_run],
        "request": [world.request],
        "agent": ["payer"],
        "tool": ["pay", "lookup_order"],
        "token": [world.spare_token],
    }
    for name, ids in choices.items():
        if "{" + name + "}" in path:
            known = st.sampled_from(ids)
            value = data.draw(known if real else known | any_text, label=name)
            path = path.replace(
                "{" + name + "}", urllib.parse.quote(value, safe="", errors="replace")
            )
    return path


JSON_TEXT = [
    b"",
    b"null",
    b"[]",
    b'"reason"',
    b"NaN",
    b"1e999",
    b'{"reason": "\\ud800"}',
    b'{"reason": "ok", "reason": "\\u0000"}',
    b'{"agent": "payer", "goal": "pay 3 for \\udfff"}',
    b"[" * 5000 + b"]" * 5000,
    b'{"reason": "' + b"x" * 200_000 + b'"}',
    b"\xff\xfe{",
]
CONTENT_TYPES = [
    "application/json",
    "application/json",
    "application/json",
    "application/json; charset=latin-1",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "",
]


@st.composite
def bodies(draw: st.DrawFn, endpoint: Endpoint) -> tuple[bytes, str]:
    """``(body, content type)``: nearly right JSON, any JSON, raw bytes, or odd JSON text."""
    match draw(
        st.sampled_from(["fields", "fields", "fields", "json", "bytes", "text"]), label="kind"
    ):
        case "fields":
            fields = draw(st.fixed_dictionaries(endpoint.fields, optional={"x": json_values}))
            if fields and draw(st.integers(0, 3)) == 0:
                del fields[draw(st.sampled_from(sorted(fields)))]
            body = json.dumps(fields).encode()
        case "json":
            body = json.dumps(draw(json_values)).encode()
        case "bytes":
            body = draw(st.binary(max_size=200))
        case _:
            body = draw(st.sampled_from(JSON_TEXT))
    return body, draw(st.sampled_from(CONTENT_TYPES), label="content type")


def _post(service: Service, path: str, body: bytes, content_type: str, auth: dict[str, str]) -> Any:
    headers = dict(auth)
    if content_type:
        headers["content-type"] = content_type
    return service.client.post(path, content=body, headers=headers)


def test_the_world_is_set_up(service: Service, world: World) -> None:
    assert world.request.startswith("apr-")
    assert world.finished_run != world.waiting_run
    assert _snapshot(service).rejected == 0


@bounded(300)
@given(data=st.data())
def test_a_refused_body_is_a_4xx_that_changes_nothing(
    service: Service, world: World, data: st.DataObject
) -> None:
    _refresh(service, world)
    endpoint = data.draw(st.sampled_from(ENDPOINTS), label="endpoint")
    path = _fill(endpoint.path, world, data)
    body, content_type = data.draw(bodies(endpoint), label="body")
    before = _snapshot(service)

    response = _post(service, path, body, content_type, service.auth(endpoint.who))

    status = response.status_code
    event(f"{endpoint.path} {status}")
    assert status < 500, (path, body[:200], response.text[:500])
    assert 200 <= status < 300 or 400 <= status < 500, (path, status)
    if status >= 400:
        after = _snapshot(service)
        assert after.records == before.records, (path, status, body[:200])
        assert after.tokens == before.tokens, (path, status)
        assert after.rejected == before.rejected + (status in (401, 403)), (path, status)
        assert isinstance(response.json()["detail"], str)
    else:
        for run_id in (world.waiting_run, response.json().get("run_id")):
            if run_id:
                _settle(service, str(run_id))
    report = service.journal.verify()
    assert report.ok, report.problems


MAY = {"viewer": (), "approver": ("approver",), "operator": ("sam",)}
"""Roles too weak for some endpoints, and whose endpoints (by ``Endpoint.who``) they may call."""
forged = st.sampled_from(
    [
        None,
        "Bearer chr_forged",
        "Bearer chr_",
        "Bearer ",
        "Bearer",
        "bearer chr_" + "A" * 43,
        "Basic dXNlcjpwYXNz",
        "Token chr_x",
        "Bearer chr_\x7f",
        "Bearer " + "x" * 10_000,
    ]
)


@bounded(150)
@given(data=st.data())
def test_no_or_forged_credentials_are_refused_journaled_and_change_nothing(
    service: Service, world: World, data: st.DataObject
) -> None:
    who = data.draw(forged | st.sampled_from(list(MAY)), label="who")
    if who in MAY:
        auth = service.auth(who)
        endpoint = data.draw(st.sampled_from([e for e in ENDPOINTS if e.who not in MAY[who]]))
    else:
        auth = {} if who is None else {"Authorization": who}
        endpoint = data.draw(st.sampled_from(ENDPOINTS))
    path = _fill(endpoint.path, world, data, real=True)  # a route that exists
    body = json.dumps(
        data.draw(st.fixed_dictionaries({}, optional=endpoint.fields), label="body")
    ).encode()
    before = _snapshot(service)

    if data.draw(st.booleans(), label="read"):
        response = service.client.get(data.draw(st.sampled_from(READS)), headers=auth)
        expected = (401,) if who not in service.tokens else (200, 403)
    else:
        response = _post(service, path, body, "application/json", auth)
        expected = (401,) if who not in service.tokens else (403,)

    status = response.status_code
    assert status in expected, (who, path, status, response.text[:300])
    after = _snapshot(service)
    assert after.records == before.records
    assert after.tokens == before.tokens
    assert after.rejected == before.rejected + (status != 200)
    if status != 200:
        (rejected, *_) = service.journal.records_of_kind("api.rejected", limit=1)
        assert rejected.payload["status"] == status


def test_an_unauthenticated_body_that_is_not_json_is_refused_before_it_is_read(
    service: Service,
) -> None:
    before = _snapshot(service)

    response = _post(service, RUNS, b"{oops", "application/json", {})

    assert response.status_code == 401
    assert _snapshot(service).rejected == before.rejected + 1


def test_a_nul_character_in_a_url_or_token_name_is_a_400(service: Service) -> None:
    before = _snapshot(service)

    responses = [
        service.client.get(f"{RUNS}/ab%00cd", headers=service.auth("viewer")),
        service.client.get(f"{RUNS}?agent=%00", headers=service.auth("viewer")),
        service.client.post("/api/tokens/%00/revoke", headers=service.auth("admin")),
        service.client.post(
            "/api/tokens", json={"name": "a\x00b", "role": "viewer"}, headers=service.auth("admin")
        ),
    ]

    assert [r.status_code for r in responses] == [400] * 4
    assert "NUL" in responses[0].json()["detail"]
    assert "control character" in responses[3].json()["detail"]
    assert _snapshot(service) == before
