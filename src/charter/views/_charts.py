"""Stacked bar charts of cost points, as geometry the costs page draws in SVG.

Drawn on the server so the dashboard needs no chart library: a bar per time bucket, one
segment per agent or tool, coloured by series (CSS classes ``s0``..``s7``, reused past
eight), the biggest series at the bottom.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from charter.views._runs import CostPoint

Measure = Literal["cost", "tokens", "count"]
Bucket = Literal["hour", "day"]
MEASURES: tuple[Measure, ...] = ("cost", "tokens", "count")
SERIES_COLOURS = 8

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 40
"""Margins around the plot: room for the value axis on the left and dates below."""
MAX_BAR = 48


@dataclass(frozen=True, slots=True)
class Segment:
    """One series' part of one bar."""

    x: float
    y: float
    width: float
    height: float
    series: int
    title: str
    """Tooltip: the series, bucket and value."""


@dataclass(frozen=True, slots=True)
class Tick:
    """A label on an axis at ``at`` (y for values, x for buckets)."""

    at: float
    text: str


@dataclass(frozen=True, slots=True)
class Total:
    """One series over the whole chart, for the legend and the table."""

    key: str
    series: int
    cost_usd: float
    tokens: int
    count: int


@dataclass(frozen=True, slots=True)
class Chart:
    """A stacked bar chart ready to draw."""

    width: int
    height: int
    left: int
    bottom: float
    """y of the value axis' zero."""
    segments: list[Segment]
    values: list[Tick]
    buckets: list[Tick]
    totals: list[Total]
    empty: bool
    """Nothing to draw: no points, or every value is zero."""


def _value(point: CostPoint, measure: Measure) -> float:
    if measure == "cost":
        return point.cost_usd
    if measure == "tokens":
        return float(point.tokens)
    return float(point.runs or point.calls)


def _label(value: float, measure: Measure) -> str:
    if measure == "cost":
        return f"${value:,.2f}" if value >= 1 or value == 0 else f"${value:.4f}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _nice_top(peak: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``peak``."""
    if peak <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(peak))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= peak)


def stacked_bars(
    points: Sequence[CostPoint], measure: Measure = "cost", bucket: Bucket = "day"
) -> Chart:
    """A chart of ``points`` (one group: agents or tools) by bucket, stacked by key."""
    by_bucket: dict[str, dict[str, float]] = defaultdict(dict)
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0])
    for point in points:
        by_bucket[point.bucket][point.key] = _value(point, measure)
        total = sums[point.key]
        total[0] += point.cost_usd
        total[1] += point.tokens
        total[2] += point.runs or point.calls
    keys = sorted(sums, key=lambda k: (-_total_of(sums[k], measure), k))
    series = {key: index % SERIES_COLOURS for index, key in enumerate(keys)}
    buckets = sorted(by_bucket)
    peak = max((sum(values.values()) for values in by_bucket.values()), default=0.0)
    top = _nice_top(peak)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    zero = float(TOP + plot_h)
    slot = plot_w / max(len(buckets), 1)
    bar = min(slot * 0.7, MAX_BAR)
    segments: list[Segment] = []
    labels: list[Tick] = []
    every = max(1, math.ceil(len(buckets) / 8))  # at most ~8 dates under the axis
    for index, start in enumerate(buckets):
        x = LEFT + slot * index + (slot - bar) / 2
        y = zero
        when = _bucket_text(start, bucket)
        for key in keys:
            value = by_bucket[start].get(key, 0.0)
            if value <= 0:
                continue
            height = value / top * plot_h
            y -= height
            title = f"{key}, {when}: {_label(value, measure)}"
            segments.append(Segment(x, y, bar, height, series[key], title))
        if index % every == 0:
            labels.append(Tick(x + bar / 2, when))
    values = [Tick(zero - plot_h * f, _label(top * f, measure)) for f in (0.0, 0.5, 1.0)]
    totals = [
        Total(key, series[key], round(sums[key][0], 6), int(sums[key][1]), int(sums[key][2]))
        for key in keys
    ]
    return Chart(WIDTH, HEIGHT, LEFT, zero, segments, values, labels, totals, peak <= 0)


def _total_of(total: list[float], measure: Measure) -> float:
    return total[MEASURES.index(measure)]


def _bucket_text(start: str, bucket: Bucket) -> str:
    """``2026-11-24T13:00:00+00:00`` → ``11-24 13h`` by hour, ``2026-11-24`` by day."""
    day, _, time = start.partition("T")
    return day if bucket == "day" else f"{day[5:]} {time[:2]}h"
