"""The dashboard's runs list: filters in the URL, cursor pages that say where they are,
refused input shown readably, and the rows the page's script refreshes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from charter import Runner, tool
from charter.testing import ScriptedReasoner, call, make_agent, respond

if TYPE_CHECKING:  # the fixture's type; pytest provides the fixture itself
    from server._support import Service


@tool
def find_order(order_id: int) -> dict[str, int]:
    """Find an order."""
    return {"order_id": order_id}


@tool
def find_customer(customer_id: int) -> dict[str, int]:
    """Find a customer."""
    return {"customer_id": customer_id}


@pytest.fixture
def reader(service: Service) -> TestClient:
    client = TestClient(service.client.app, follow_redirects=False)
    assert client.post("/login", data={"token": service.tokens["viewer"]}).status_code == 303
    return client


@pytest.fixture
def runner(service: Service) -> Iterator[Runner]:
    opened = Runner(service.journal)
    yield opened
    opened.close()


def _run(runner: Runner, goal: str, tool_name: str = "find_order", actor: str = "ana") -> str:
    script = [call(tool_name, **{tool_name.split("_")[1] + "_id": 1}), respond("ok")]
    agent = make_agent([find_order, find_customer], ScriptedReasoner(script), name="finder")
    return runner.run(agent, goal, actor=actor).run_id


def _listed(html: str) -> list[str]:
    return re.findall(r'<tr data-run-id="([0-9a-f]+)"', html)


def _link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return unescape(found.group(1)) if found else None


def test_every_filter_is_in_the_url_and_kept_in_the_form(
    runner: Runner, reader: TestClient
) -> None:
    wanted = _run(runner, "find order 12 for Ana", actor="ana")
    _run(runner, "find order 13", actor="bob")
    _run(runner, "find customer 12 for Ana", "find_customer", actor="ana")

    html = reader.get("/?q=order+12&actor=ana&tool=find_order&outcome=succeeded").text

    assert _listed(html) == [wanted]
    assert 'name="q" type="search" maxlength="200" value="order 12"' in html
    assert 'name="tool" type="text" maxlength="200" value="find_order"' in html
    assert '<option value="succeeded" selected>' in html


def test_pages_say_where_they_are_and_keep_the_filters(
    runner: Runner, reader: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charter.server import _browse

    monkeypatch.setattr(_browse, "RUNS_PER_PAGE", 2)
    made = [_run(runner, f"find order {n}") for n in range(5)][::-1]
    _run(runner, "find customer 1", "find_customer")

    first = reader.get("/?tool=find_order").text
    older = _link(first, "next")
    assert _listed(first) == made[:2] and "Runs 1 to 2" in first and _link(first, "prev") is None
    assert older is not None and "tool=find_order" in older
    second = reader.get(older).text
    assert _listed(second) == made[2:4] and "Runs 3 to 4" in second
    third = reader.get(_link(second, "next") or "").text
    assert _listed(third) == made[4:] and "Run 5 matching" in third and _link(third, "next") is None
    back = reader.get(_link(third, "prev") or "").text
    assert _listed(back) == made[2:4] and "Runs 3 to 4" in back
    newest = reader.get(_link(back, "first") or "").text
    assert _listed(newest) == made[:2]


def test_a_shared_page_link_without_its_position_says_what_it_holds(
    runner: Runner, reader: TestClient
) -> None:
    made = [_run(runner, f"find order {n}") for n in range(3)][::-1]
    seq = re.findall(r"before=(\d+)", reader.get("/").text)
    assert seq == []  # one page: no older link
    from charter.views._search import RunQuery, search_runs

    cursor = search_runs(runner.journal, RunQuery(), limit=1).older
    html = reader.get(f"/?before={cursor}").text
    assert _listed(html) == made[1:]
    assert "Runs 1 to" not in html and "runs started at or before" in html


def test_an_unreadable_date_is_refused_with_what_to_write(reader: TestClient) -> None:
    page = reader.get("/?since=yesterday")
    assert page.status_code == 400
    assert "from: &#39;yesterday&#39; is not a date: write 2026-12-07" in page.text
    assert reader.get("/runs-rows?until=13:00").status_code == 400
    # An offset that moves the moment before year 1 is refused the same way, not a 500.
    early = reader.get("/?since=0001-01-01T00:00%2B05:00")
    assert early.status_code == 400 and "is not a date" in early.text


def test_a_time_range_from_the_form_is_taken_as_utc(runner: Runner, reader: TestClient) -> None:
    run_id = _run(runner, "find order 1")
    assert _listed(reader.get("/?since=2000-01-01T00:00").text) == [run_id]
    assert _listed(reader.get("/?until=2000-01-01").text) == []


@pytest.mark.parametrize(
    "query",
    ["before=0", "after=-1", "at=-2", "q=" + "x" * 201, "before=99999999999999999999"],
)
def test_out_of_range_cursors_and_overlong_text_are_refused(reader: TestClient, query: str) -> None:
    assert reader.get("/?" + query).status_code in (400, 422)


def test_hostile_search_text_is_escaped_and_matches_literally(
    runner: Runner, reader: TestClient
) -> None:
    _run(runner, "find order 1")
    html = reader.get("/?q=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E").text
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
    assert _listed(html) == []
    assert _listed(reader.get("/?q=%25").text) == []


def test_the_rows_alone_follow_the_same_filters_for_live_refresh(
    runner: Runner, reader: TestClient
) -> None:
    wanted = _run(runner, "find order 1")
    _run(runner, "find customer 1", "find_customer")
    page = reader.get("/?tool=find_order").text
    rows_url = unescape(re.search(r'data-rows="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    assert rows_url.startswith("/runs-rows?") and "tool=find_order" in rows_url
    rows = reader.get(rows_url)
    assert rows.status_code == 200 and _listed(rows.text) == [wanted]
    assert "<html" not in rows.text and 'data-live="no"' in rows.text


def test_the_runs_list_needs_a_signed_in_reader(service: Service) -> None:
    anonymous = TestClient(service.client.app, follow_redirects=False)
    assert anonymous.get("/runs-rows").status_code in (303, 401)
    assert anonymous.get("/?q=x").status_code in (303, 401)
