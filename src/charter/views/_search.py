"""Finding runs: the runs list's search, filters, time range and cursor pages.

A search walks ``run.started`` records through the ``(kind, seq)`` index, newest first (or
oldest first from an ``after`` cursor, for the page before), with every filter SQL can
judge applied in the walk: the agent, the actor and the goal's text as substrings of the
payload, the run id's prefix and the time range on their columns, the status, the outcome
and the tool used as ``EXISTS`` probes of the run's own records through ``(run_id, seq)``.
Those are prefilters (a superset); each page's runs are then checked exactly, so a word
of the goal that happens to be in another field, or a tool named in an argument, never
lets a run through. The cost follows the runs walked, not the journal.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from charter.journal import DamagedRecordError, Journal, canonical_json, decode_payload
from charter.journal._finding import RunWalk, proposals_naming, started_walk, walk_page
from charter.journal._kinds import RunStarted, StepProposed, payload_as
from charter.journal._outcome import OUTCOMES
from charter.views._costs import RUN_STATUSES
from charter.views._runs import (
    RunSummary,
    _Started,  # pyright: ignore[reportPrivateUsage]
    _started,  # pyright: ignore[reportPrivateUsage]
    _summaries,  # pyright: ignore[reportPrivateUsage]
)

MAX_TEXT = 200
"""Longest search text, agent, actor or tool name a search accepts."""


class RunQuery(BaseModel):
    """What the runs list is filtered by; every field is optional and they combine (and)."""

    model_config = ConfigDict(frozen=True)

    text: str | None = None
    """A run id prefix, or words in the goal (case-insensitive substring)."""
    agent: str | None = None
    actor: str | None = None
    """Who started it."""
    tool: str | None = None
    """A tool the run proposed a call to."""
    status: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    """Started at or after (timezone-aware)."""
    until: datetime | None = None
    """Started before (timezone-aware)."""

    def empty(self) -> bool:
        """True when nothing is filtered."""
        return all(value is None for value in self.model_dump().values())


class RunsPage(BaseModel):
    """A page of runs and the cursors around it."""

    model_config = ConfigDict(frozen=True)

    runs: list[RunSummary]
    older: int | None
    """Pass as ``before`` for the next (older) page; None on the last page."""
    newer: int | None
    """Pass as ``after`` for the previous (newer) page; None on the newest page."""


def search_runs(
    journal: Journal,
    query: RunQuery,
    *,
    limit: int = 50,
    before: int | None = None,
    after: int | None = None,
) -> RunsPage:
    """Runs matching ``query``, newest first, ``limit`` at most: those started before
    the ``before`` cursor, or else the newest-first page right after the ``after`` one.

    A status or outcome that does not exist matches nothing (it is not ignored).
    """
    nothing = RunsPage(runs=[], older=None, newer=None)
    if limit <= 0 or query.status not in (None, *RUN_STATUSES):
        return nothing
    if query.outcome not in (None, *OUTCOMES):
        return nothing
    walk = _walk(query)
    with journal.engine.connect() as conn:
        if after is not None and before is None:
            runs = _collect(conn, walk, query, limit, after=after)[::-1]
            # A page reached from a newer one: older always exists (the page we came from).
            older = runs[-1].seq if runs else None
            newer = _newer_exists(conn, walk, query, runs)
        else:
            runs = _collect(conn, walk, query, limit + 1, before=before)
            more = len(runs) > limit
            runs = runs[:limit]
            older = runs[-1].seq if more and runs else None
            newer = _newer_exists(conn, walk, query, runs) if before else None
    return RunsPage(runs=runs, older=older, newer=newer)


def _newer_exists(
    conn: Connection, walk: RunWalk, query: RunQuery, runs: list[RunSummary]
) -> int | None:
    """The ``after`` cursor for the page newer than ``runs``, if a matching run is newer."""
    if not runs:
        return None
    edge = runs[0].seq
    return edge if _collect(conn, walk, query, 1, after=edge) else None


def _collect(
    conn: Connection,
    walk: RunWalk,
    query: RunQuery,
    limit: int,
    *,
    before: int | None = None,
    after: int | None = None,
) -> list[RunSummary]:
    """Up to ``limit`` matching runs beyond the cursor, in walk order (newest first from
    ``before``, oldest first from ``after``)."""
    ascending = after is not None and before is None
    found: list[RunSummary] = []
    batch = max(limit, 20)
    while len(found) < limit:
        rows = walk_page(conn, walk, before=before, after=after, limit=batch)
        if not rows:
            break
        edge = int(rows[-1].seq)
        after, before = (edge, None) if ascending else (after, edge)
        started = [_started(int(r.seq), r.run_id, r.ts, r.payload) for r in rows]
        started = [s for s in started if _started_matches(s, query)]
        if query.tool is not None:
            started = _used_tool(conn, started, query.tool)
        found += [s for s in _summaries(conn, started) if _summary_matches(s, query)]
        if len(rows) < batch:
            break
    return found[:limit]


def _walk(query: RunQuery) -> RunWalk:
    """``run.started`` rows the query may match (a superset), unordered."""
    return started_walk(
        agent=query.agent,
        actor=query.actor,
        text=query.text,
        since=None if query.since is None else _stamp(query.since),
        until=None if query.until is None else _stamp(query.until),
        status=query.status,
        outcome=query.outcome,
        tool=query.tool,
    )


def _stamp(moment: datetime) -> str:
    """``moment`` as the journal stamps records (UTC ISO 8601), for comparisons."""
    return moment.astimezone(UTC).isoformat()


def _started_matches(started: _Started, query: RunQuery) -> bool:
    """The exact check of what a run's ``run.started`` says."""
    p = payload_as(RunStarted, started.payload)
    if started.damage is not None:
        return query.empty() or (query.text is not None and _id_matches(started, query.text))
    if query.agent is not None and p.get("agent") != query.agent:
        return False
    if query.actor is not None and p.get("actor") != query.actor:
        return False
    if query.text is not None:
        goal = str(p.get("goal", "")).casefold()
        return _id_matches(started, query.text) or query.text.casefold() in goal
    return True


def _id_matches(started: _Started, text: str) -> bool:
    return started.run_id.startswith(text.lower())


def _summary_matches(summary: RunSummary, query: RunQuery) -> bool:
    if query.status is not None and summary.status != query.status:
        return False
    return query.outcome is None or summary.outcome == query.outcome


def _used_tool(conn: Connection, started: list[_Started], tool: str) -> list[_Started]:
    """The runs among ``started`` that proposed a call to ``tool`` (their proposals read
    exactly: a tool named inside arguments does not count)."""
    if not started:
        return []
    rows = proposals_naming(conn, [s.run_id for s in started], tool)
    used: set[str] = set()
    for seq, run_id, kind, payload in rows:
        try:
            proposed = payload_as(StepProposed, decode_payload(int(seq), run_id, kind, payload))
            action = proposed["action"]
        except (DamagedRecordError, KeyError, TypeError):
            continue
        if "tool" in action and action["tool"] == tool:
            used.add(run_id)
    return [s for s in started if s.run_id in used]


def parse_moment(text: str | None, *, field: str) -> datetime | None:
    """A date (``2026-12-07``) or date and time (``2026-12-07T13:45``) typed in a form,
    taken as UTC unless it names its offset; None for blank.

    Raises:
        ValueError: the text is not such a date, with a message naming ``field``.
    """
    if text is None or not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
        moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)  # an offset past the calendar's ends overflows here
    except (ValueError, OverflowError):
        raise ValueError(
            f"{field}: {text[:40]!r} is not a date: write 2026-12-07 or 2026-12-07T13:45 (UTC)"
        ) from None


def forks_of(journal: Journal, run_id: str) -> list[str]:
    """Ids of the runs forked from ``run_id``, oldest first: their ``run.started`` names
    it as their origin."""
    origin = f'"forked_from":{{"run":{canonical_json(run_id)}'
    found: list[str] = []
    for record in journal.records_of_kinds(["run.started"], payload_contains=origin):
        try:
            forked = payload_as(RunStarted, record.payload).get("forked_from")
        except DamagedRecordError:
            continue
        if forked is not None and forked.get("run") == run_id:
            found.append(record.run_id)
    return found
