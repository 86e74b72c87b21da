"""Report periods: half-open UTC intervals, parsed from what a user types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from charter.errors import CharterError

DEFAULT_DAYS = 30
"""The period a report covers when no start is given: the last 30 days."""


@dataclass(frozen=True, slots=True)
class Period:
    """The half-open UTC interval ``[since, until)``, in whole seconds."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("a period's bounds must be timezone-aware")
        if self.until <= self.since:
            raise CharterError(
                f"the period is empty: until ({iso_utc(self.until)}) is not after since "
                f"({iso_utc(self.since)}); give an until later than the since"
            )

    def days(self) -> list[str]:
        """Every UTC day the period touches, ``YYYY-MM-DD``, oldest first."""
        first, last = self.since.date(), (self.until - timedelta(seconds=1)).date()
        return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def parse_period(since: str | None, until: str | None, *, now: datetime | None = None) -> Period:
    """The period between ``since`` and ``until`` as a user typed them.

    Each is a date (``2026-11-24``: midnight UTC; as ``until``, the end of that day, so a
    one-day period is ``since == until``) or an ISO 8601 time (UTC unless it says
    otherwise). Without ``until``, the period ends now; without ``since``, it starts
    :data:`DEFAULT_DAYS` days before its end.

    Raises:
        CharterError: a bound is neither a date nor a time, or ``until`` is not after
            ``since``.
    """
    end = _parse_when(until, "until", end=True) if until else _ceil(now or datetime.now(UTC))
    start = _parse_when(since, "since", end=False) if since else end - timedelta(DEFAULT_DAYS)
    return Period(start, end)


def _parse_when(text: str, name: str, *, end: bool) -> datetime:
    value = text.strip()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return midnight + timedelta(days=1) if end else midnight
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise CharterError(
            f"{name} {text!r} is neither a date nor a time: use YYYY-MM-DD "
            "or ISO 8601 such as 2026-11-24T09:30:00+00:00"
        ) from None
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return _ceil(when) if end else when.astimezone(UTC).replace(microsecond=0)


def _ceil(when: datetime) -> datetime:
    """``when`` in UTC, rounded up to a whole second (an end must include its instant)."""
    utc = when.astimezone(UTC)
    whole = utc.replace(microsecond=0)
    return whole + timedelta(seconds=1) if whole != utc else whole


def iso_utc(when: datetime) -> str:
    """``when`` as an ISO 8601 time in UTC."""
    return when.astimezone(UTC).isoformat()
