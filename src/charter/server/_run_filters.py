"""The filters of ``GET /api/runs``, read and checked: the dashboard's runs list's
filters, by the same names, turned into the one :class:`~charter.views._search.RunQuery`
every runs search takes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.datastructures import URL

from charter.journal._outcome import Outcome
from charter.views._search import MAX_TEXT, RunQuery, parse_moment

Status = Literal["running", "waiting", "completed", "failed", "stopped"]
Text = Annotated[str | None, Field(max_length=MAX_TEXT)]
Moment = Annotated[str | None, Field(max_length=64)]

RUNS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            "Link": {
                "description": 'The next (older, rel="next") and previous (newer, rel="prev") '
                "pages' URLs, with the same filters; absent when there is no other page.",
                "schema": {"type": "string"},
            }
        }
    },
    400: {"description": "Both cursors given (pass before or after, not both)."},
}


class RunFilters(BaseModel):
    """What ``GET /api/runs`` filters by; a blank value is no filter, and they combine."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    q: Text = None
    """A run id prefix, or words of the goal (case-insensitive)."""
    agent: Text = None
    actor: Text = None
    """Who started the run."""
    tool: Text = None
    """A tool the run proposed a call to."""
    status: Status | None = None
    outcome: Outcome | None = None
    since: Moment = None
    """Started at or after: ``2026-12-07`` or ``2026-12-07T13:45`` (UTC unless it names
    its offset, e.g. ``2026-12-07T13:45+01:00``)."""
    until: Moment = None
    """Started before (same forms as ``since``)."""

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _time_range(self) -> RunFilters:
        since = parse_moment(self.since, field="since")
        until = parse_moment(self.until, field="until")
        if since is not None and until is not None and since >= until:
            raise ValueError(f"since ({self.since}) must be before until ({self.until})")
        return self


def run_query(filters: RunFilters) -> RunQuery:
    """The runs search ``filters`` ask for (already checked by :class:`RunFilters`)."""
    return RunQuery(
        text=filters.q,
        agent=filters.agent,
        actor=filters.actor,
        tool=filters.tool,
        status=filters.status,
        outcome=filters.outcome,
        since=parse_moment(filters.since, field="since"),
        until=parse_moment(filters.until, field="until"),
    )


def page_links(url: URL, *, older: int | None, newer: int | None) -> str | None:
    """The ``Link`` header of a page of runs at ``url``: the older page (``rel="next"``,
    ``before`` the page's last run) and the newer one (``rel="prev"``, ``after`` its
    first), each keeping the filters; None when there is neither. The URLs are relative,
    so they hold behind a proxy."""
    links: list[str] = []
    for key, other, cursor, rel in (
        ("before", "after", older, "next"),
        ("after", "before", newer, "prev"),
    ):
        if cursor is not None:
            moved = url.include_query_params(**{key: cursor}).remove_query_params(other)
            links.append(f'<{moved.path}?{moved.query}>; rel="{rel}"')
    return ", ".join(links) or None
