"""``GET /api/runs`` finds runs as the dashboard's list does: text, agent, actor, tool,
status, outcome and time range, cursor pages in both directions, and refused input that
says what was wrong."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from charter import Runner, tool
from charter.testing import ScriptedReasoner, call, make_agent, respond

if TYPE_CHECKING:  # the fixture's type; pytest provides the fixture itself
    from server._support import Service

RUNS = "/api/runs"


@tool
def find_order(order_id: int) -> dict[str, int]:
    """Find an order."""
    return {"order_id": order_id}


@tool
def find_customer(customer_id: int) -> dict[str, int]:
    """Find a customer."""
    return {"customer_id": customer_id}


@pytest.fixture
def runner(service: Service) -> Iterator[Runner]:
    opened = Runner(service.journal)
    yield opened
    opened.close()


def _run(
    runner: Runner,
    goal: str,
    tool_name: str = "find_order",
    actor: str = "ana",
    name: str = "finder",
    fail: bool = False,
) -> str:
    arg = tool_name.split("_")[1] + "_id"
    script = [call(tool_name, **{arg: "not a number" if fail else 1}), respond("ok")]
    agent = make_agent([find_order, find_customer], ScriptedReasoner(script), name=name)
    return runner.run(agent, goal, actor=actor).run_id


def _get(service: Service, url: str, **params: Any) -> Any:
    return service.client.get(url, params=params, headers=service.auth("viewer"))


def _ids(service: Service, **params: Any) -> list[str]:
    response = _get(service, RUNS, **params)
    assert response.status_code == 200, response.text
    return [run["run_id"] for run in response.json()]


def _links(response: Any) -> dict[str, str]:
    header = response.headers.get("link", "")
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', header)}


def test_each_filter_finds_only_its_runs(service: Service, runner: Runner) -> None:
    order_ana = _run(runner, "find order 12 for Ana", actor="ana")
    order_bob = _run(runner, "find order 13", actor="bob", name="other")
    customer = _run(runner, "find customer 12", "find_customer", actor="ana")

    assert _ids(service, q="order 12") == [order_ana]
    assert _ids(service, q=order_bob[:-4]) == [order_bob]  # an id prefix
    assert _ids(service, agent="other") == [order_bob]
    assert _ids(service, actor="ana") == [customer, order_ana]
    assert _ids(service, tool="find_customer") == [customer]
    assert _ids(service, tool="find_order", actor="ana") == [order_ana]
    assert _ids(service, status="completed", outcome="succeeded") == [
        customer,
        order_bob,
        order_ana,
    ]
    assert _ids(service, outcome="failed") == []
    assert _ids(service, q="", agent=" ") == [customer, order_bob, order_ana]  # blank: unset


def test_a_tool_named_only_in_the_goal_does_not_match_by_tool(
    service: Service, runner: Runner
) -> None:
    _run(runner, "please do not call find_customer", "find_order")

    assert _ids(service, tool="find_customer") == []


def test_the_time_range_takes_dates_and_offsets(service: Service, runner: Runner) -> None:
    run_id = _run(runner, "find order 1")
    now = datetime.now(UTC)
    hour_ago = (now - timedelta(hours=1)).isoformat(timespec="minutes")
    in_an_hour = (now + timedelta(hours=1)).isoformat(timespec="minutes")

    assert _ids(service, since=hour_ago, until=in_an_hour) == [run_id]
    assert _ids(service, since=in_an_hour) == []
    assert _ids(service, until=now.date().isoformat()) == []  # before today began
    # The same moment written with another offset: still an hour after now.
    ahead = (now + timedelta(hours=1)).astimezone(UTC).replace(tzinfo=None)
    assert _ids(service, since=ahead.isoformat(timespec="minutes") + "+00:00") == []


def test_pages_walk_both_ways_with_their_filters_in_the_links(
    service: Service, runner: Runner
) -> None:
    ids = [_run(runner, f"find order {n}") for n in range(5)]
    _run(runner, "find customer 9", "find_customer")
    newest_first = ids[::-1]

    first = _get(service, RUNS, tool="find_order", limit=2)
    assert [r["run_id"] for r in first.json()] == newest_first[:2]
    links = _links(first)
    assert "prev" not in links
    assert links["next"].startswith("/api/runs?") and "tool=find_order" in links["next"]

    second = service.client.get(links["next"], headers=service.auth("viewer"))
    assert [r["run_id"] for r in second.json()] == newest_first[2:4]
    third = service.client.get(_links(second)["next"], headers=service.auth("viewer"))
    assert [r["run_id"] for r in third.json()] == newest_first[4:]
    assert "next" not in _links(third)

    back = service.client.get(_links(third)["prev"], headers=service.auth("viewer"))
    assert [r["run_id"] for r in back.json()] == newest_first[2:4]
    assert "before=" not in _links(third)["prev"]  # one cursor at a time


def test_the_seq_cursor_of_earlier_clients_still_pages(service: Service, runner: Runner) -> None:
    ids = [_run(runner, f"find order {n}") for n in range(3)]

    first = _get(service, RUNS, limit=2).json()
    rest = _ids(service, limit=2, before=first[-1]["seq"])

    assert [r["run_id"] for r in first] + rest == ids[::-1]


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"status": "finished"}, "status"),
        ({"outcome": "great"}, "outcome"),
        ({"since": "yesterday"}, "since: 'yesterday' is not a date"),
        ({"until": "2026-13-01"}, "until: '2026-13-01' is not a date"),
        ({"since": "2026-12-08", "until": "2026-12-07"}, "must be before until"),
        ({"q": "x" * 201}, "at most 200 characters"),
        ({"limit": 0}, "limit"),
        ({"after": -1}, "after"),
    ],
)
def test_bad_filters_are_refused_with_a_422_naming_them(
    service: Service, params: dict[str, Any], said: str
) -> None:
    response = _get(service, RUNS, **params)

    assert response.status_code == 422
    assert said in response.text


def test_both_cursors_at_once_are_refused(service: Service, runner: Runner) -> None:
    _run(runner, "find order 1")

    response = _get(service, RUNS, before=5, after=2)

    assert response.status_code == 400
    assert response.json()["detail"] == "pass before (older runs) or after (newer runs), not both"


def test_hostile_text_is_matched_literally(service: Service, runner: Runner) -> None:
    _run(runner, "find order 1")

    for text in ("%", "_", '"', "\\", "' OR 1=1 --", "*"):
        assert _ids(service, q=text) == [], text
    assert _get(service, RUNS, q="\x00").status_code == 400  # refused before any search


def test_the_filters_need_a_reader(service: Service) -> None:
    response = service.client.get(RUNS, params={"tool": "find_order"})

    assert response.status_code == 401


def test_a_hostile_query_string_cannot_forge_a_link(service: Service, runner: Runner) -> None:
    for n in range(2):
        _run(runner, f"find order {n}")

    response = _get(service, RUNS, limit=1, x='>; rel="evil", </steal>')

    assert response.status_code == 200
    header = response.headers["link"]
    assert re.findall(r'rel="(\w+)"', header) == ["next"]
    assert header.count("<") == header.count(">") == 1
    assert "%3E%3B+rel%3D%22evil%22" in header  # the value stays inside the URL, encoded
