"""The runs list: search, filters, a time range and cursor pages, all in the URL so a view
can be shared; its rows alone for the page's script to refresh statuses live."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from charter.journal._outcome import OUTCOMES
from charter.server._app import need, state_of
from charter.server._auth import Principal
from charter.server._limits import MAX_SEQ
from charter.server._render import page
from charter.views import _runs as queries
from charter.views._search import MAX_TEXT, RunQuery, RunsPage, parse_moment, search_runs

router = APIRouter(include_in_schema=False)

Reader = Annotated[Principal, Depends(need("read"))]

RUNS_PER_PAGE = 50
MAX_POSITION = 10_000_000
LIVE = ("running", "waiting")
Text = Annotated[str | None, Query(max_length=MAX_TEXT)]
Cursor = Annotated[int | None, Query(ge=1, le=MAX_SEQ)]


class _Filters:
    """The runs list's query string, read and checked: blank fields are unset."""

    FIELDS = ("q", "agent", "actor", "tool", "status", "outcome", "since", "until")

    def __init__(self, values: dict[str, str | None]) -> None:
        self.values = {k: (v.strip() if v and v.strip() else None) for k, v in values.items()}
        self.error: str | None = None
        try:
            since = parse_moment(self.values["since"], field="from")
            until = parse_moment(self.values["until"], field="to")
        except ValueError as bad:
            self.error, since, until = str(bad), None, None
        self.query = RunQuery(
            text=self.values["q"],
            agent=self.values["agent"],
            actor=self.values["actor"],
            tool=self.values["tool"],
            status=self.values["status"],
            outcome=self.values["outcome"],
            since=since,
            until=until,
        )

    def url(self, **cursor: int | None) -> str:
        """The list's URL with these filters and ``cursor`` (before/after/at)."""
        params: dict[str, Any] = {k: v for k, v in self.values.items() if v is not None}
        params |= {k: v for k, v in cursor.items() if v}
        return "/?" + urlencode(params) if params else "/"

    def any(self) -> bool:
        return any(v is not None for v in self.values.values())


def _filters(
    q: Text = None,
    agent: Text = None,
    actor: Text = None,
    tool: Text = None,
    status: Text = None,
    outcome: Text = None,
    since: Text = None,
    until: Text = None,
) -> _Filters:
    """The filters of the request's query string."""
    values = {"q": q, "agent": agent, "actor": actor, "tool": tool, "status": status}
    return _Filters(values | {"outcome": outcome, "since": since, "until": until})


Filters = Annotated[_Filters, Depends(_filters)]
Position = Annotated[int, Query(ge=0, le=MAX_POSITION)]


def _listing(
    request: Request, filters: _Filters, before: int | None, after: int | None, at: int
) -> dict[str, Any]:
    """What the table shows: a page of runs, where it is, and the links around it.

    ``at`` (how many newer runs match) only labels the page; a page reached by a shared
    link without it says what it holds instead of a position it does not know.
    """
    state = state_of(request)
    found = RunsPage(runs=[], older=None, newer=None)
    if filters.error is None:
        found = search_runs(
            state.journal, filters.query, limit=RUNS_PER_PAGE, before=before, after=after
        )
    position: int | None = 0 if found.newer is None else (at or None)
    shown = len(found.runs)
    older = newer = None
    if found.older is not None:
        older = filters.url(before=found.older, at=None if position is None else position + shown)
    if found.newer is not None:
        back = None if position is None else max(position - RUNS_PER_PAGE, 0)
        newer = filters.url(after=found.newer, at=back)
    here = filters.url(before=before, after=after, at=at)
    return {
        "runs": found.runs,
        "position": position,
        "older": older,
        "newer": newer,
        "newest": filters.url() if found.newer is not None else None,
        "live": any(run.status in LIVE for run in found.runs),
        "filters": filters.values,
        "filtered": filters.any(),
        "filter_error": filters.error,
        "rows_url": "/runs-rows" + here.removeprefix("/"),
    }


@router.get("/")
def runs_page(
    request: Request,
    who: Reader,
    filters: Filters,
    before: Cursor = None,
    after: Cursor = None,
    at: Position = 0,
) -> HTMLResponse:
    """Runs, newest first, found by text, agent, actor, tool, status, outcome and time;
    the start form for operators."""
    state = state_of(request)
    known = {view.name for view in queries.agents(state.journal)} | set(state.service.agents)
    tools = {info.name for infos in state.service.tools.values() for info in infos}
    return page(
        request,
        "runs.html",
        who,
        status_code=400 if filters.error else 200,
        statuses=queries.RUN_STATUSES,
        outcomes=OUTCOMES,
        agents=sorted(known),
        tools=sorted(tools),
        startable=sorted(state.service.agents),
        **_listing(request, filters, before, after, at),
    )


@router.get("/runs-rows")
def runs_rows(
    request: Request,
    who: Reader,
    filters: Filters,
    before: Cursor = None,
    after: Cursor = None,
    at: Position = 0,
) -> HTMLResponse:
    """The runs list's table alone, as the page's script refreshes it."""
    context = _listing(request, filters, before, after, at)
    code = 400 if filters.error else 200
    return page(request, "_runs_table.html", who, status_code=code, **context)
