"""Operator controls: kill switch and revocation, seen at the next step, across processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter import Charter, Journal, Runner, tool
from charter.errors import ApprovalError, RunNotFoundError, RunStateError
from charter.reasoners import RunContext, ToolCall
from charter.runtime import Controls
from charter.testing import ScriptedReasoner, call, make_agent, record_kinds, respond

calls: list[int] = []
tagged: list[int] = []


@tool
def lookup_order(order_id: int) -> int:
    """Look up an order."""
    calls.append(order_id)
    return order_id


@tool(side_effect="write")
def tag(order_id: int) -> str:
    """Tag an order."""
    tagged.append(order_id)
    return "tagged"


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    tagged.clear()


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'journal.db'}"


def _operator(url: str) -> Controls:
    """Controls written through a second journal handle, as another process would."""
    return Controls(Journal(url))


def test_pause_stops_a_running_run_before_its_next_step(url: str) -> None:
    journal = Journal(url)

    def pause_then_call(context: RunContext) -> ToolCall:
        _operator(url).pause("test-agent", actor="oncall", reason="incident 42")
        return call("lookup_order", order_id=2)

    agent = make_agent(
        [lookup_order],
        ScriptedReasoner([call("lookup_order", order_id=1), pause_then_call, respond("x")]),
    )

    run = Runner(journal).run(agent, "g")

    assert calls == [1]  # the call proposed while the pause arrived did not run
    assert run.status == "stopped"
    assert run.error == "agent 'test-agent' paused: incident 42"
    assert "run.paused" in record_kinds(journal, run.run_id)


def test_a_paused_agent_starts_no_step_until_resumed(url: str) -> None:
    journal = Journal(url)
    operator = _operator(url)
    operator.pause("test-agent", actor="oncall", reason="incident 42")
    runner = Runner(journal)

    first = runner.run(make_agent([lookup_order], ScriptedReasoner([respond("x")])), "g")
    operator.resume("test-agent", actor="oncall")
    second = runner.run(make_agent([lookup_order], ScriptedReasoner([respond("x")])), "g")

    assert (first.status, second.status) == ("stopped", "completed")


def test_pausing_one_agent_leaves_others_running(url: str) -> None:
    _operator(url).pause("someone-else", actor="oncall", reason="r")

    run = Runner(Journal(url)).run(
        make_agent([lookup_order], ScriptedReasoner([respond("x")])), "g"
    )

    assert run.status == "completed"


def test_revocation_from_another_process_denies_the_next_step(url: str) -> None:
    journal = Journal(url)

    def revoke_then_call(context: RunContext) -> ToolCall:
        _operator(url).revoke("lookup_order", actor="secops", reason="data leak suspected")
        return call("lookup_order", order_id=2)

    reasoner = ScriptedReasoner([call("lookup_order", order_id=1), revoke_then_call, respond("x")])

    run = Runner(journal).run(make_agent([lookup_order], reasoner), "g")

    assert calls == [1]
    decided = [r.payload for r in journal.records(run.run_id) if r.kind == "step.decided"]
    assert decided[1]["rules"] == ["inventory.revoked"]
    assert "data leak suspected" in decided[1]["reason"]


def test_revocation_scoped_to_an_agent_spares_other_agents(url: str) -> None:
    _operator(url).revoke("lookup_order", actor="secops", reason="r", agent="intern")
    runner = Runner(Journal(url))
    script = [call("lookup_order", order_id=1), respond("x")]

    runner.run(make_agent([lookup_order], ScriptedReasoner(script), name="intern"), "g")
    runner.run(make_agent([lookup_order], ScriptedReasoner(script), name="support"), "g")

    assert calls == [1]


def test_restore_lifts_a_revocation(url: str) -> None:
    operator = _operator(url)
    operator.revoke("lookup_order", actor="secops", reason="r")
    operator.restore("lookup_order", actor="secops")

    Runner(Journal(url)).run(
        make_agent(
            [lookup_order], ScriptedReasoner([call("lookup_order", order_id=5), respond("x")])
        ),
        "g",
    )

    assert calls == [5]


def test_controls_are_chained_journal_records(url: str) -> None:
    operator = _operator(url)
    operator.pause("a", actor="oncall", reason="r")
    operator.revoke("t", actor="secops", reason="r")

    journal = Journal(url)
    assert [r.kind for r in journal.records("control")] == ["control.pause", "control.revoke"]
    assert journal.verify().ok
    state = Controls(journal).state()
    assert state.pause_reason("a") == "r"
    assert state.revocation("t", "anyone") == "r"


# Cancelling one run


def test_cancel_stops_a_running_run_before_its_next_step(url: str) -> None:
    journal = Journal(url)

    def cancel_then_call(context: RunContext) -> ToolCall:
        Runner(Journal(url)).cancel(context.run_id, actor="oncall", reason="wrong customer")
        return call("lookup_order", order_id=2)

    agent = make_agent(
        [lookup_order],
        ScriptedReasoner([call("lookup_order", order_id=1), cancel_then_call, respond("x")]),
    )

    run = Runner(journal).run(agent, "g")

    assert calls == [1]
    assert (run.status, run.error) == ("stopped", "cancelled by oncall: wrong customer")
    assert "run.cancelled" in record_kinds(journal, run.run_id)
    script = ScriptedReasoner([call("lookup_order", order_id=3), respond("y")])
    assert Runner(journal).run(make_agent([lookup_order], script), "g2").status == "completed"


def test_cancel_ends_a_waiting_run_which_can_no_longer_resume(url: str) -> None:
    journal = Journal(url)
    charter = Charter.model_validate(
        {"name": "c", "rules": [{"id": "ask", "effect": "ask", "tools": ["lookup_order"]}]}
    )
    script = ScriptedReasoner([call("lookup_order", order_id=1)])
    agent = make_agent([lookup_order], script, charter=charter)
    runner = Runner(journal)
    run = runner.run(agent, "g", actor="sam")
    assert run.status == "waiting"

    assert runner.cancel(run.run_id, actor="oncall", reason="not needed") == "waiting"

    finished = next(r for r in journal.records(run.run_id) if r.kind == "run.finished")
    assert finished.payload["status"] == "stopped"
    assert finished.payload["error"] == "cancelled by oncall: not needed"
    with pytest.raises(ApprovalError, match="is closed: run cancelled by oncall"):
        runner.approvals.approve(str(run.waiting_for), "dana")
    with pytest.raises(RunStateError, match="not waiting"):
        runner.resume(agent, run.run_id)
    assert calls == []
    assert journal.verify().ok


def test_cancel_refuses_finished_and_unknown_runs(url: str) -> None:
    journal = Journal(url)
    runner = Runner(journal)
    done = runner.run(make_agent([lookup_order], ScriptedReasoner([respond("x")])), "g")

    with pytest.raises(RunStateError, match="already finished"):
        runner.cancel(done.run_id, actor="oncall", reason="late")
    with pytest.raises(RunNotFoundError):
        runner.cancel("no-such-run", actor="oncall", reason="typo")
    assert journal.latest_seq(["control.cancel"]) == 0  # nothing journaled


# Supervised mode


def test_a_supervised_agents_writes_ask_and_its_reads_run(url: str) -> None:
    journal = Journal(url)
    Controls(journal).supervise("test-agent", actor="model-monitor", reason="fraud model drift")
    script = ScriptedReasoner([call("lookup_order", order_id=1), call("tag", order_id=1)])
    agent = make_agent([lookup_order, tag], script)

    run = Runner(journal).run(agent, "g", actor="sam")

    assert calls == [1] and tagged == []  # the read ran; the write waits
    assert run.status == "waiting"
    decided = [r.payload for r in journal.records(run.run_id) if r.kind == "step.decided"]
    assert decided[-1]["verdict"] == "ask" and decided[-1]["rules"] == ["control.supervised"]
    assert "fraud model drift" in decided[-1]["reason"]


def test_lifting_supervision_lets_the_charter_decide_again(url: str) -> None:
    journal = Journal(url)
    controls = Controls(journal)
    controls.supervise("test-agent", actor="oncall", reason="drift")
    controls.unsupervise("test-agent", actor="oncall")
    agent = make_agent([tag], ScriptedReasoner([call("tag", order_id=2), respond("done")]))

    run = Runner(journal).run(agent, "g")

    assert (run.status, tagged) == ("completed", [2])
