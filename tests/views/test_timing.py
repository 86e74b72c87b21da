"""A run's waterfall: its phases from the records' timestamps, on real runs and on runs
whose timestamps are set exactly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charter import Charter, Journal, Runner, tool
from charter.testing import ScriptedReasoner, call, make_agent, respond
from charter.views._runs import RunDetail, run_detail
from charter.views._timing import waterfall

T0 = "2026-12-07T10:00:00+00:00"


def _at(ms: int) -> str:
    seconds, rest = divmod(ms, 1000)
    return f"2026-12-07T10:00:{seconds:02d}.{rest:03d}000+00:00"


def _detail(steps: list[dict[str, Any]], *, finished: str | None = None) -> RunDetail:
    summary = {
        "run_id": "r1",
        "agent": "a",
        "agent_version": "1",
        "policy": "p",
        "goal": "g",
        "actor": "x",
        "started_at": T0,
        "status": "completed" if finished else "running",
        "finished_at": finished,
        "steps": len(steps),
        "tokens": 0,
        "cost_usd": None,
        "denials": 0,
        "asks": 0,
        "anomalies": 0,
        "rolled_back": False,
        "seq": 1,
    }
    return RunDetail.model_validate({"summary": summary, "steps": steps, "events": []})


def _decision(verdict: str) -> dict[str, Any]:
    return {"verdict": verdict, "rules": [], "reason": "", "policy": "p"}


def test_a_write_held_for_approval_has_every_phase_in_order() -> None:
    step = {
        "index": 1,
        "tool": "refund",
        "decision": _decision("ask"),
        "effect": {"status": "ok", "us": 200_000},
        "times": {
            "step.proposed": _at(1000),
            "step.decided": _at(1100),
            "approval.requested": _at(1100),
            "step.effect": _at(9000),
            "step.observed": _at(9000),
        },
    }
    (row,) = waterfall(_detail([step], finished=_at(9500))).steps
    phases = [(s.phase, round(s.start_ms), round(s.ms)) for s in row.segments]
    assert phases == [
        ("reason", 0, 1000),
        ("decide", 1000, 100),
        ("wait", 1100, 7700),
        ("tool", 8800, 200),
    ]
    assert waterfall(_detail([step], finished=_at(9500))).total_ms == pytest.approx(9500)


def test_a_read_journaled_with_its_proposal_ends_its_reasoning_when_the_tool_started() -> None:
    first = {
        "index": 1,
        "tool": "lookup",
        "decision": _decision("allow"),
        "effect": {"status": "ok", "us": 300_000},
        "times": {k: _at(2000) for k in ("step.proposed", "step.decided", "step.effect")},
    }
    second = {"index": 2, "answer": "done", "times": {"step.proposed": _at(2500)}}
    rows = waterfall(_detail([first, second])).steps
    assert [(s.phase, round(s.start_ms), round(s.ms)) for s in rows[0].segments] == [
        ("reason", 0, 1700),
        ("decide", 1700, 0),
        ("tool", 1700, 300),
    ]
    # The next step reasons from the end of the previous one.
    assert [(s.phase, round(s.start_ms), round(s.ms)) for s in rows[1].segments] == [
        ("reason", 2000, 500)
    ]
    assert rows[1].label == "answer"


def test_a_denied_call_shows_as_denied_and_inherited_or_unproposed_steps_are_left_out() -> None:
    kept = {"index": 1, "tool": "lookup", "inherited": True, "times": {"step.proposed": _at(0)}}
    waiting = {"index": 2, "times": {"approval.requested": _at(100)}}
    denied = {
        "index": 3,
        "tool": "refund",
        "decision": _decision("deny"),
        "times": {"step.proposed": _at(400), "step.decided": _at(450)},
    }
    (row,) = waterfall(_detail([kept, waiting, denied])).steps
    assert row.step == 3 and [s.phase for s in row.segments] == ["reason", "deny"]


def test_unreadable_timestamps_give_an_empty_waterfall_not_an_error() -> None:
    detail = _detail([{"index": 1, "tool": "x", "times": {"step.proposed": "yesterday"}}])
    assert waterfall(detail).steps == []
    broken = detail.model_copy(
        update={"summary": detail.summary.model_copy(update={"started_at": "?"})}
    )
    assert waterfall(broken).steps == [] and waterfall(broken).total_ms == 0


@tool
def lookup_order(order_id: int) -> dict[str, int]:
    """Look up an order."""
    return {"order_id": order_id}


@tool(side_effect="write")
def refund_order(order_id: int, amount_cents: int) -> dict[str, int]:
    """Refund an order."""
    return {"refund_id": order_id}


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    opened = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    yield opened
    opened.close()


def test_a_real_run_has_a_row_per_step_within_the_run(journal: Journal) -> None:
    rule = {"id": "no-refunds", "effect": "deny", "tools": ["refund_order"], "reason": "no"}
    charter = Charter.model_validate({"name": "c", "rules": [rule]})
    script = [
        call("lookup_order", order_id=1),
        call("refund_order", order_id=1, amount_cents=5),
        respond("done"),
    ]
    agent = make_agent([lookup_order, refund_order], ScriptedReasoner(script), charter=charter)
    runner = Runner(journal)
    try:
        run_id = runner.run(agent, "refund order 1").run_id
    finally:
        runner.close()
    detail = run_detail(journal, run_id)
    assert detail is not None
    timing = waterfall(detail)
    assert [row.label for row in timing.steps] == ["lookup_order", "refund_order", "answer"]
    assert [s.phase for s in timing.steps[0].segments][-1] == "tool"
    assert "deny" in [s.phase for s in timing.steps[1].segments]
    for row in timing.steps:
        assert 0 <= row.start_ms <= row.end_ms <= timing.total_ms
        for segment in row.segments:
            assert segment.start_ms + segment.ms <= timing.total_ms + 1e-6
