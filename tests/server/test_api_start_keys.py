"""``POST /api/runs`` with an ``Idempotency-Key``: a retried start is the same run."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from server._support import Service

RUNS = "/api/runs"


def _start(service: Service, goal: str, key: str | None, who: str = "sam") -> Any:
    headers = service.auth(who) | ({"Idempotency-Key": key} if key is not None else {})
    return service.client.post(RUNS, json={"agent": "refunder", "goal": goal}, headers=headers)


def _started(service: Service) -> list[str]:
    return [r.run_id for r in service.journal.records_of_kind("run.started")]


def _wait_for_runs(service: Service, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(_started(service)) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_start_sent_twice_with_one_key_is_one_run(service: Service) -> None:
    first = _start(service, "refund 1042 for 500", "retry-1")
    second = _start(service, "refund 1042 for 500", "retry-1")

    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["run_id"] == second.json()["run_id"]
    _wait_for_runs(service, 1)
    time.sleep(0.2)  # a second run, had one been started, would be journaled by now
    assert _started(service) == [first.json()["run_id"]]


def test_another_goal_under_the_same_key_is_a_409(service: Service) -> None:
    first = _start(service, "refund 1042 for 500", "retry-2")
    other = _start(service, "refund 1043 for 500", "retry-2")

    assert other.status_code == 409
    assert first.json()["run_id"] in other.json()["detail"]
    assert "another goal" in other.json()["detail"]


def test_the_same_key_of_another_operator_is_another_run(service: Service) -> None:
    sams = _start(service, "refund 1042 for 500", "shared", who="sam")
    operators = _start(service, "refund 1042 for 500", "shared", who="operator")

    assert sams.json()["run_id"] != operators.json()["run_id"]


def test_an_unusable_key_is_a_400_and_starts_nothing(service: Service) -> None:
    response = _start(service, "refund 1042 for 500", "x" * 201)

    assert response.status_code == 400
    assert "idempotency key" in response.json()["detail"]
    assert _started(service) == []


def test_concurrent_starts_with_one_key_make_one_run(service: Service) -> None:
    def start(_: int) -> Any:
        return _start(service, "refund 1042 for 500", "race")

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(start, range(6)))

    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["run_id"] for r in responses}) == 1
    _wait_for_runs(service, 1)
    time.sleep(0.2)
    assert len(_started(service)) == 1


def test_starts_without_a_key_are_separate_runs(service: Service) -> None:
    first = _start(service, "refund 1042 for 500", None)
    second = _start(service, "refund 1042 for 500", None)

    assert first.json()["run_id"] != second.json()["run_id"]
