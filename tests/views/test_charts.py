"""Stacked bar geometry for the costs page."""

from __future__ import annotations

import pytest

from charter.views._charts import HEIGHT, stacked_bars
from charter.views._runs import CostPoint

DAY1, DAY2 = "2026-11-23T00:00:00+00:00", "2026-11-24T00:00:00+00:00"


def _point(bucket: str, key: str, cost: float) -> CostPoint:
    return CostPoint(bucket=bucket, key=key, cost_usd=cost, runs=1, tokens=10)


def test_bars_stack_each_bucket_biggest_series_first() -> None:
    chart = stacked_bars(
        [_point(DAY1, "a", 1.0), _point(DAY1, "b", 3.0), _point(DAY2, "b", 5.0)], "cost"
    )

    assert [(t.key, t.series, t.cost_usd, t.count) for t in chart.totals] == [
        ("b", 0, 8.0, 2),
        ("a", 1, 1.0, 1),
    ]
    day1 = [s for s in chart.segments if DAY1[:10] in s.title]
    assert [s.series for s in day1] == [0, 1]  # b at the bottom, a on top of it
    assert day1[0].y == pytest.approx(day1[1].y + day1[1].height)
    assert day1[0].height == pytest.approx(3 * day1[1].height)
    assert chart.values[-1].text == "$5.00"  # the axis tops at the peak, rounded up nicely
    assert [t.text for t in chart.buckets] == ["2026-11-23", "2026-11-24"]
    assert all(0 <= s.y <= HEIGHT for s in chart.segments)


def test_zero_values_draw_nothing_but_keep_their_totals() -> None:
    chart = stacked_bars([_point(DAY1, "a", 0.0)], "cost")

    assert chart.empty and chart.segments == []
    assert [t.key for t in chart.totals] == ["a"]
    assert not stacked_bars([_point(DAY1, "a", 0.0)], "count").empty


def test_hourly_buckets_are_labelled_by_day_and_hour() -> None:
    chart = stacked_bars([_point("2026-11-24T13:00:00+00:00", "a", 1.0)], "tokens", "hour")

    assert [t.text for t in chart.buckets] == ["11-24 13h"]
    assert chart.segments[0].title == "a, 11-24 13h: 10"
