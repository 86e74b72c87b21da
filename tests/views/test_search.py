"""Finding runs: search text, filters, time range and cursor pages over real runs (SQLite,
and PostgreSQL when ``CHARTER_TEST_POSTGRES_URL`` is set)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from charter import Charter, Journal, Runner, tool
from charter.agent import Agent
from charter.testing import ScriptedReasoner, call, make_agent, respond
from charter.views._search import RunQuery, search_runs
from databases import fresh_url


@tool
def lookup_order(order_id: int) -> dict[str, int]:
    """Look up an order."""
    return {"order_id": order_id}


@tool(side_effect="write")
def refund_order(order_id: int, amount_cents: int) -> dict[str, int]:
    """Refund an order."""
    return {"refund_id": order_id}


@tool(side_effect="external")
def send_note(text: str) -> str:
    """Send a note."""
    return "sent"


DENY_BIG = {
    "id": "no-big-refunds",
    "effect": "deny",
    "tools": ["refund_order"],
    "when": "context.args.amount_cents > 5000",
    "reason": "too big",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journal]:
    opened = Journal(fresh_url(request.param, tmp_path))
    yield opened
    opened.close()


@pytest.fixture
def runner(journal: Journal) -> Iterator[Runner]:
    opened = Runner(journal)
    yield opened
    opened.close()


def agent(*script: Any, name: str = "refunder") -> Agent:
    charter = Charter.model_validate({"name": f"{name}-charter", "rules": [DENY_BIG]})
    reasoner = ScriptedReasoner(list(script))
    return make_agent([lookup_order, refund_order, send_note], reasoner, charter=charter, name=name)


def looked_up(runner: Runner, goal: str, *, name: str = "refunder", actor: str = "sam") -> str:
    script = (call("lookup_order", order_id=1), respond("found"))
    return runner.run(agent(*script, name=name), goal, actor=actor).run_id


def refunded(runner: Runner, goal: str, cents: int, *, actor: str = "sam") -> str:
    script = (call("refund_order", order_id=1, amount_cents=cents), respond("done"))
    return runner.run(agent(*script), goal, actor=actor).run_id


def ids(journal: Journal, **query: Any) -> list[str]:
    return [run.run_id for run in search_runs(journal, RunQuery(**query)).runs]


def test_text_finds_words_of_the_goal_in_any_case_or_a_run_id_prefix(
    runner: Runner, journal: Journal
) -> None:
    refund = looked_up(runner, "Refund order 1042 if policy allows")
    ticket = looked_up(runner, "answer ticket 88", actor="refund-desk")
    assert ids(journal, text="REFUND ORDER") == [refund]
    assert ids(journal, text=ticket[:-3]) == [ticket]
    assert ids(journal, text=ticket[:-3].upper()) == [ticket]
    # The actor's name holds the word, the goal does not: not a match.
    assert ids(journal, text="refund-desk") == []


def test_like_wildcards_in_the_text_are_literal(runner: Runner, journal: Journal) -> None:
    looked_up(runner, "look up order 1")
    percent = looked_up(runner, "discount 100% of order 2")
    assert ids(journal, text="%") == [percent]
    assert ids(journal, text="_") == []
    assert ids(journal, text='"goal"') == []


def test_text_outside_ascii_is_matched_without_case(runner: Runner, journal: Journal) -> None:
    accented = looked_up(runner, "Écrire au client")
    looked_up(runner, "ecrire au client")
    assert ids(journal, text="écrire") == [accented]


def test_agent_and_actor_filters_are_exact(runner: Runner, journal: Journal) -> None:
    alpha = looked_up(runner, "one", name="alpha", actor="ana")
    looked_up(runner, "two", name="alpha-2", actor="ana-bis")
    beta = looked_up(runner, "three", name="beta", actor="ana")
    assert ids(journal, agent="alpha") == [alpha]
    assert ids(journal, actor="ana") == [beta, alpha]
    assert ids(journal, agent="beta", actor="ana") == [beta]
    assert ids(journal, agent='alpha","actor') == []


def test_tool_used_counts_proposed_calls_even_denied_ones(runner: Runner, journal: Journal) -> None:
    looked = looked_up(runner, "look")
    denied = refunded(runner, "big", 9000)
    done = refunded(runner, "small", 100)
    named = runner.run(
        agent(call("send_note", text='"tool":"refund_order"'), respond("ok")), "note"
    ).run_id
    assert ids(journal, tool="refund_order") == [done, denied]
    assert ids(journal, tool="lookup_order") == [looked]
    assert ids(journal, tool="send_note") == [named]
    assert ids(journal, tool="refund") == []


def test_status_and_outcome_filters(runner: Runner, journal: Journal) -> None:
    ok = looked_up(runner, "fine")
    denied = refunded(runner, "too big", 9000)
    assert ids(journal, outcome="denied") == [denied]
    assert ids(journal, outcome="succeeded") == [ok]
    assert ids(journal, status="completed") == [denied, ok]
    assert ids(journal, status="completed", outcome="denied") == [denied]
    assert ids(journal, status="waiting") == []
    # Unknown values match nothing rather than being ignored.
    assert ids(journal, outcome="won") == []
    assert ids(journal, status="lost") == []


def test_time_range_is_half_open_over_start_times(runner: Runner, journal: Journal) -> None:
    early = looked_up(runner, "early")
    middle = datetime.now(UTC)
    late = looked_up(runner, "late")
    assert ids(journal, since=middle) == [late]
    assert ids(journal, until=middle) == [early]
    assert ids(journal, since=middle, until=middle) == []
    # The same moment written at another offset.
    plus_two = middle.astimezone(timezone(timedelta(hours=2)))
    assert ids(journal, since=plus_two) == [late]


def test_cursor_pages_walk_older_and_back_newer_without_gaps(
    runner: Runner, journal: Journal
) -> None:
    made = [looked_up(runner, f"run {n}") for n in range(7)][::-1]
    first = search_runs(journal, RunQuery(), limit=3)
    assert [r.run_id for r in first.runs] == made[:3]
    assert first.newer is None and first.older is not None
    second = search_runs(journal, RunQuery(), limit=3, before=first.older)
    third = search_runs(journal, RunQuery(), limit=3, before=second.older)
    assert [r.run_id for r in second.runs] == made[3:6]
    assert [r.run_id for r in third.runs] == made[6:]
    assert third.older is None
    assert second.newer is not None and third.newer is not None
    back = search_runs(journal, RunQuery(), limit=3, after=third.newer)
    assert [r.run_id for r in back.runs] == made[3:6]
    again = search_runs(journal, RunQuery(), limit=3, after=back.newer)
    assert [r.run_id for r in again.runs] == made[:3]
    assert again.newer is None


def test_pages_of_a_sparse_filter_are_full(runner: Runner, journal: Journal) -> None:
    wanted: list[str] = []
    for n in range(12):
        if n % 4 == 0:
            wanted.append(refunded(runner, f"refund {n}", 100))
        else:
            looked_up(runner, f"look {n}")
    query = RunQuery(tool="refund_order")
    first = search_runs(journal, query, limit=2)
    assert [r.run_id for r in first.runs] == wanted[::-1][:2]
    assert first.older is not None
    rest = search_runs(journal, query, limit=2, before=first.older)
    assert [r.run_id for r in rest.runs] == wanted[::-1][2:]
    assert rest.older is None
    assert rest.newer is not None


def test_a_full_last_page_says_there_is_nothing_older(runner: Runner, journal: Journal) -> None:
    made = [looked_up(runner, f"run {n}") for n in range(4)]
    page = search_runs(journal, RunQuery(), limit=4)
    assert len(page.runs) == 4 and page.older is None
    assert (
        search_runs(journal, RunQuery(), limit=2, before=page.runs[1].seq).runs[-1].run_id
        == (made[0])
    )


def _statements(journal: Journal, query: RunQuery) -> int:
    from sqlalchemy import event

    count = 0

    def counted(*_: Any) -> None:
        nonlocal count
        count += 1

    event.listen(journal.engine, "before_cursor_execute", counted)
    try:
        search_runs(journal, query, limit=5)
    finally:
        event.remove(journal.engine, "before_cursor_execute", counted)
    return count


@pytest.mark.parametrize(
    "query",
    [
        RunQuery(),
        RunQuery(tool="refund_order"),
        RunQuery(text="order"),
        RunQuery(status="completed"),
    ],
)
def test_a_page_costs_the_same_statements_however_many_runs_the_journal_holds(
    runner: Runner, journal: Journal, query: RunQuery
) -> None:
    def grow(n: int) -> None:
        for i in range(n):
            if i % 2:
                refunded(runner, f"refund order {i}", 100)
            else:
                looked_up(runner, f"look up order {i}")

    grow(12)
    small = _statements(journal, query)
    grow(48)
    assert _statements(journal, query) == small
