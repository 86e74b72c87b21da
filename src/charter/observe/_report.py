"""A cost report as one self-contained HTML file: inline CSS and SVG charts, no script,
nothing fetched, so it can be mailed, archived or opened offline.

The charts are the dashboard's stacked bars (:mod:`charter.views._charts`), drawn here
as inline SVG. The template autoescapes everything: agent, tool, model and rule names and
baseline descriptions come from charters and journals, which are user input.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from charter.observe._costs import CostReport
from charter.observe._period import Period
from charter.views._charts import Chart, stacked_bars
from charter.views._costs import CostPoint

TEMPLATES = Path(__file__).parent / "templates"
OUTCOME_ORDER = ("succeeded", "denied", "failed", "rolled_back", "cancelled", "stopped")
"""Outcomes in the runs-per-day chart, then ``unfinished``."""


def usd(value: float | None) -> str:
    """Dollars: cents from a dollar up, four decimals below one, ``—`` for none."""
    if value is None:
        return "—"
    sign, amount = ("-" if value < 0 else ""), abs(value)
    if amount >= 1000:
        return f"{sign}${amount:,.0f}"
    return f"{sign}${amount:,.2f}" if amount >= 1 or amount == 0 else f"{sign}${amount:.4f}"


def percent(value: float | None) -> str:
    """A ratio as a percentage (``0.75`` → ``75%``), ``—`` for none."""
    if value is None:
        return "—"
    shown = value * 100
    return f"{shown:,.0f}%" if abs(shown) >= 10 or shown == 0 else f"{shown:.1f}%"


def duration(seconds: float | None) -> str:
    """Seconds, minutes or hours, whichever reads best."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def number(value: float | None) -> str:
    """A count or quantity with thousands separators, up to two decimals."""
    if value is None:
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _when(ts: str) -> str:
    return ts[:19].replace("T", " ")


def _period(report: CostReport) -> Period:
    return Period(datetime.fromisoformat(report.since), datetime.fromisoformat(report.until))


def _bucket(day: str) -> str:
    return f"{day}T00:00:00+00:00"


def cost_chart(report: CostReport) -> Chart:
    """Cost per day, stacked by agent (days without runs drawn empty)."""
    points = [
        CostPoint(bucket=_bucket(d.day), key=d.agent, cost_usd=d.cost_usd, runs=d.runs, tokens=0)
        for d in report.days
    ]
    return stacked_bars(_fill(points, _period(report).days()), "cost", "day")


def outcome_chart(report: CostReport) -> Chart:
    """Runs per day by outcome, stacked: succeeded, denied, failed, rolled back, cancelled,
    stopped, then unfinished (running or waiting)."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for d in report.days:
        for outcome in OUTCOME_ORDER:
            counts[(d.day, outcome)] += d.outcomes.get(outcome, 0)
        counts[(d.day, "unfinished")] += d.unfinished
    points = [
        CostPoint(bucket=_bucket(day), key=status, cost_usd=0.0, runs=n, tokens=0)
        for (day, status), n in sorted(counts.items())
        if n
    ]
    return stacked_bars(_fill(points, _period(report).days()), "count", "day")


def _fill(points: list[CostPoint], days: list[str]) -> list[CostPoint]:
    """``points`` plus a zero point on each day that has none, so time reads evenly."""
    if not points:
        return points
    seen = {point.bucket for point in points}
    key = points[0].key
    missing = [
        CostPoint(bucket=_bucket(day), key=key, cost_usd=0.0, tokens=0)
        for day in days
        if _bucket(day) not in seen
    ]
    return points + missing


def _rule_agents(report: CostReport) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for figures in report.agents:
        for line in figures.violations_by_rule:
            found[line.rule].append(str(figures.agent))
    return dict(found)


_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.filters.update(usd=usd, percent=percent, duration=duration, number=number, when=_when)


def render_report(report: CostReport) -> str:
    """The report as one HTML document, every value escaped."""
    costs, outcomes = cost_chart(report), outcome_chart(report)
    return _env.get_template("report.html.j2").render(
        report=report,
        cost_chart=costs,
        outcome_chart=outcomes,
        outcome_classes={total.series: f"st-{total.key}" for total in outcomes.totals},
        rule_agents=_rule_agents(report),
    )
