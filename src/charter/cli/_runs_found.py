"""``charter runs`` with filters: the runs search the dashboard and ``GET /api/runs`` use
(:func:`charter.views._search.search_runs`), its options checked and its page printed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from charter.cli._errors import BAD_INPUT, err_console
from charter.cli._shared import console
from charter.cli._shared import open_journal as _journal

_AGO = re.compile(r"(\d{1,6})([mhdw])")
_UNIT = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _refuse(message: str) -> NoReturn:
    err_console.print(f"[red]error:[/] {escape(message)}", markup=True, soft_wrap=True)
    raise typer.Exit(BAD_INPUT)


def since_moment(text: str, *, now: datetime | None = None) -> datetime:
    """``--since`` as a moment: ``30m``, ``2h``, ``3d`` or ``1w`` ago, or a date
    (``2026-12-07``) or date and time (``2026-12-07T13:45``, UTC unless it names its
    offset).

    Raises:
        ValueError: ``text`` is none of these (the message says what is).
    """
    from charter.views._search import parse_moment

    ago = _AGO.fullmatch(text.strip())
    if ago is not None:
        delta = timedelta(**{_UNIT[ago.group(2)]: int(ago.group(1))})
        return (now or datetime.now(UTC)) - delta
    try:
        moment = parse_moment(text, field="--since")
    except ValueError:
        raise ValueError(
            f"--since: {text[:40]!r} is neither a time ago (30m, 2h, 3d, 1w) nor a date "
            "(2026-12-07, 2026-12-07T13:45 UTC)"
        ) from None
    if moment is None:
        raise ValueError("--since is blank: give a time ago (2h) or a date (2026-12-07)")
    return moment


def list_found(
    *,
    limit: int,
    search: str | None,
    agent: str | None,
    tool: str | None,
    status: str | None,
    outcome: str | None,
    since: str | None,
) -> None:
    """Print the newest ``limit`` runs matching the options (they combine); refuse a bad
    option with one line and exit status 2 before reading the journal."""
    from charter.cli._outcome import styled_outcome
    from charter.journal._outcome import OUTCOMES
    from charter.views._costs import RUN_STATUSES
    from charter.views._search import MAX_TEXT, RunQuery, search_runs

    if limit < 1:
        _refuse(f"--limit must be at least 1, not {limit}")
    for option, value in (("--search", search), ("--agent", agent), ("--tool", tool)):
        if value is not None and not value.strip():
            _refuse(f"{option} is blank: give a value or leave the option out")
        if value is not None and len(value) > MAX_TEXT:
            _refuse(f"{option} is longer than {MAX_TEXT} characters")
    for option, value, known in (
        ("--status", status, RUN_STATUSES),
        ("--outcome", outcome, OUTCOMES),
    ):
        if value is not None and value not in known:
            _refuse(f"{option} {value!r} is unknown: one of {', '.join(known)}")
    try:
        start = None if since is None else since_moment(since)
    except ValueError as bad:
        _refuse(str(bad))
    query = RunQuery(
        text=search.strip() if search else None,
        agent=agent,
        tool=tool,
        status=status,
        outcome=outcome,
        since=start,
    )
    found = search_runs(_journal(read_only=True), query, limit=limit)
    if not found.runs:
        console.print("no runs match")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("run", no_wrap=True, min_width=32)  # whole: other commands take it
    for column in ("agent", "status", "outcome", "steps", "tokens", "started"):
        table.add_column(column, no_wrap=True)
    table.add_column("goal", overflow="ellipsis", no_wrap=True, min_width=12)
    for run in found.runs:
        finished = run.status not in ("running", "waiting", "damaged")
        table.add_row(
            run.run_id,
            escape(run.agent),
            run.status,
            styled_outcome(run.outcome),
            str(run.steps) if finished else "",
            str(run.tokens) if finished else "",
            datetime.fromisoformat(run.started_at).strftime("%m-%d %H:%M:%S"),
            escape(run.goal[:60]) if run.damaged is None else f"[red]{escape(run.damaged)}[/]",
        )
    console.print(table)
    if found.older is not None:
        console.print(f"[dim]the newest {limit} shown; more match (--limit)[/]")
