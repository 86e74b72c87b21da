"""The SQL behind finding runs: a walk of ``run.started`` records with every filter the
database can judge, and the probes of each walked run's own records.

The walk goes through the ``(kind, seq)`` index; each probe (a status, an outcome, a tool
the run proposed) is an ``EXISTS`` over the walked run's records through ``(run_id, seq)``,
with the kind compared as an expression no index serves, so SQLite (which keeps no
statistics here) stays on the run's index instead of walking every record of that kind.
Every filter is a superset: the read model checks each run it returns exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, Select, or_, select, true

from charter.journal._record import canonical_json
from charter.journal._store import records_table

R = records_table


class StartedRow(NamedTuple):
    """A ``run.started`` record as the walk reads it."""

    seq: int
    run_id: str
    ts: str
    payload: str


RunWalk = Select[Any, Any, Any, Any]
"""A ``select`` of ``run.started`` rows (seq, run_id, ts, payload), not yet ordered."""


def _unindexed(column: ColumnElement[str]) -> ColumnElement[str]:
    return column + ""


def _has(kind: str, text: str = "") -> ColumnElement[bool]:
    """The walked run has a record of ``kind`` with ``text`` in its payload."""
    other = R.alias("other")
    found = select(other.c.seq).where(
        other.c.run_id == R.c.run_id, _unindexed(other.c.kind) == kind
    )
    if text:
        found = found.where(other.c.payload.contains(text, autoescape=True))
    return found.exists()


def may_have_status(status: str) -> ColumnElement[bool]:
    """True of every ``run.started`` row whose run may be in ``status`` (a superset)."""
    if status in ("completed", "failed", "stopped"):
        return _has("run.finished", f'"status":"{status}"')
    if status == "waiting":
        return _has("run.waiting") & ~_has("run.finished")
    return ~_has("run.finished") & ~(_has("run.waiting") & ~_has("run.resumed"))


def _may_have_outcome(outcome: str) -> ColumnElement[bool]:
    """The run finished, and its ``run.finished`` says ``outcome`` or says none (journals
    older than outcomes), or a rollback may have changed it."""
    if outcome == "rolled_back":
        return _has("run.finished") & (
            _has("rollback.finished") | _has("run.finished", '"outcome":"rolled_back"')
        )
    other = R.alias("unsaid")
    unsaid = (
        select(other.c.seq)
        .where(other.c.run_id == R.c.run_id, _unindexed(other.c.kind) == "run.finished")
        .where(~other.c.payload.contains('"outcome":'))
        .exists()
    )
    return _has("run.finished", f'"outcome":"{outcome}"') | unsaid | _has("rollback.finished")


def _text(text: str) -> ColumnElement[bool]:
    """The payload holds ``text`` in any case, or the run id starts with it."""
    by_id = R.c.run_id.startswith(text.lower(), autoescape=True)
    if not text.isascii():
        return true()  # SQLite folds the case of ASCII letters only: the caller checks
    inner = canonical_json(text)[1:-1]  # as a payload spells it: quotes escaped
    return or_(by_id, R.c.payload.icontains(inner, autoescape=True))


def started_walk(
    *,
    agent: str | None = None,
    actor: str | None = None,
    text: str | None = None,
    since: str | None = None,
    until: str | None = None,
    status: str | None = None,
    outcome: str | None = None,
    tool: str | None = None,
) -> RunWalk:
    """``run.started`` rows that may match (a superset): ``since``/``until`` are journal
    stamps (UTC ISO 8601), the start at or after ``since`` and before ``until``."""
    walk = select(R.c.seq, R.c.run_id, R.c.ts, R.c.payload).where(R.c.kind == "run.started")
    for key, value in (("agent", agent), ("actor", actor)):
        if value is not None:
            walk = walk.where(
                R.c.payload.contains(f'"{key}":{canonical_json(value)}', autoescape=True)
            )
    if text is not None:
        walk = walk.where(_text(text))
    if since is not None:
        walk = walk.where(R.c.ts >= since)
    if until is not None:
        walk = walk.where(R.c.ts < until)
    if status is not None:
        walk = walk.where(may_have_status(status))
    if outcome is not None:
        walk = walk.where(_may_have_outcome(outcome))
    if tool is not None:
        walk = walk.where(_has("step.proposed", f'"tool":{canonical_json(tool)}'))
    return walk


def walk_page(
    conn: Connection, walk: RunWalk, *, before: int | None, after: int | None, limit: int
) -> list[StartedRow]:
    """Up to ``limit`` rows of ``walk`` beyond the cursors: newest first below ``before``,
    or oldest first above ``after`` when there is no ``before``."""
    if after is not None and before is None:
        page = walk.where(R.c.seq > after).order_by(R.c.seq.asc())
    else:
        page = walk.order_by(R.c.seq.desc())
        if before is not None:
            page = page.where(R.c.seq < before)
        if after is not None:
            page = page.where(R.c.seq > after)
    return [
        StartedRow(int(r.seq), str(r.run_id), str(r.ts), str(r.payload))
        for r in conn.execute(page.limit(limit))
    ]


def proposals_naming(
    conn: Connection, run_ids: Sequence[str], tool: str
) -> list[tuple[int, str, str, str]]:
    """``step.proposed`` rows (seq, run_id, kind, payload) of ``run_ids`` whose payload
    names ``tool`` (a superset: the caller reads each proposal)."""
    query = select(R.c.seq, R.c.run_id, R.c.kind, R.c.payload).where(
        R.c.run_id.in_(list(run_ids)),
        _unindexed(R.c.kind) == "step.proposed",
        R.c.payload.contains(f'"tool":{canonical_json(tool)}', autoescape=True),
    )
    return [(int(r.seq), str(r.run_id), str(r.kind), str(r.payload)) for r in conn.execute(query)]
