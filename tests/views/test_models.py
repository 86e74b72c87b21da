"""The drift chart of a model's page: geometry from the journaled breaches."""

from __future__ import annotations

from charter.views._models import HEIGHT, DriftPoint, drift_chart


def _point(seq: int, psi: dict[str, float]) -> DriftPoint:
    return DriftPoint(
        seq=seq,
        ts=f"2026-12-07T10:0{seq}:00+00:00",
        version="1",
        samples=100,
        psi=psi,
        psi_max=0.2,
        breaches=list(psi),
        actions=[],
        reason="",
    )


def test_no_breach_draws_no_chart() -> None:
    assert drift_chart([]) is None


def test_one_line_per_feature_higher_psi_drawn_higher_and_the_limit_below() -> None:
    chart = drift_chart([_point(1, {"a": 0.5, "b": 0.1}), _point(2, {"a": 1.0})])
    assert chart is not None
    lines = {line.name: line for line in chart.lines}
    assert set(lines) == {"a", "b"}
    (_, a1, _), (_, a2, _) = lines["a"].dots
    assert a2 < a1  # SVG y grows downwards: more drift, higher up
    # A feature missing from a breach is drawn at zero, on the axis.
    assert lines["b"].dots[1][1] > chart.threshold_y
    assert 0 < chart.threshold_y < HEIGHT
    assert [label for _, label in chart.x_labels] == ["2026-12-07 10:01:00", "2026-12-07 10:02:00"]
    assert lines["a"].dots[1][2] == "a: PSI 1.000 at 2026-12-07 10:02:00"


def test_a_single_breach_is_centred() -> None:
    chart = drift_chart([_point(1, {"a": 0.3})])
    assert chart is not None and len(chart.lines[0].dots) == 1
    assert chart.y_max >= 0.3
