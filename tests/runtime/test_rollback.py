"""Rollback: completed writes undone newest first; what cannot be undone is reported."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from charter import Budgets, Charter, Journal, Runner, tool
from charter.errors import ReasonerUnavailableError, RunNotFoundError, RunStateError
from charter.journal import Record
from charter.runtime._replay import replay
from charter.runtime._rollback import rollback
from charter.testing import ScriptedReasoner, call, make_agent, record_kinds, respond
from charter.tools import ToolArgumentsError

world: list[str] = []
undone: list[tuple[dict[str, Any], dict[str, Any]]] = []
release = threading.Event()


def undo_tag(*, result: dict[str, Any], **args: Any) -> dict[str, str]:
    undone.append((result, args))
    world.remove(f"tag {args['order_id']}")
    return {"untagged": str(args["order_id"])}


def undo_broken(*, result: Any, **args: Any) -> None:
    raise RuntimeError("ledger is read-only")


@tool(side_effect="write", compensate=undo_tag)
def tag_order(order_id: int) -> dict[str, int]:
    """Tag an order."""
    world.append(f"tag {order_id}")
    return {"tag_id": order_id * 10}


@tool(side_effect="external")
def send_note(to: str) -> str:
    """Send a note (cannot be unsent)."""
    world.append(f"note {to}")
    return "sent"


@tool(side_effect="write", compensate=undo_broken)
def book(order_id: int) -> int:
    """Book an order."""
    world.append(f"book {order_id}")
    return order_id


@tool
def lookup(order_id: int) -> int:
    """Read."""
    return order_id


@tool(side_effect="write", timeout_s=0.05, compensate=undo_tag)
def slow_tag(order_id: int) -> int:
    """Hangs."""
    release.wait(5)
    return order_id


TOOLS = [tag_order, send_note, book, lookup, slow_tag]


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    world.clear()
    undone.clear()
    release.clear()
    yield
    release.set()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'journal.db'}")


def _run(journal: Journal, script: list[Any], charter: Charter | None = None) -> tuple[Any, Any]:
    agent = make_agent(TOOLS, ScriptedReasoner(script), charter=charter)
    runner = Runner(journal)
    run = runner.run(agent, "work", actor="sam")
    runner.close()
    return agent, run


def test_completed_writes_are_undone_newest_first(journal: Journal) -> None:
    agent, run = _run(
        journal,
        [
            call("tag_order", order_id=1),
            call("lookup", order_id=1),
            call("send_note", to="a@example.com"),
            call("tag_order", order_id=2),
            respond("done"),
        ],
    )

    report = rollback(journal, agent, run.run_id, actor="oncall")

    assert [(i.step, i.tool, i.outcome) for i in report.items] == [
        (4, "tag_order", "compensated"),
        (3, "send_note", "irreversible"),
        (1, "tag_order", "compensated"),
    ]
    assert world == ["note a@example.com"]
    assert undone[0] == ({"tag_id": 20}, {"order_id": 2})
    assert not report.complete
    kinds = record_kinds(journal, run.run_id)
    assert kinds[-5:] == [
        "rollback.started",
        "rollback.compensated",
        "rollback.irreversible",
        "rollback.compensated",
        "rollback.finished",
    ]
    assert journal.verify().ok


def test_a_failing_compensation_is_reported_and_the_rest_still_undone(journal: Journal) -> None:
    agent, run = _run(
        journal, [call("tag_order", order_id=1), call("book", order_id=2), respond("ok")]
    )

    report = rollback(journal, agent, run.run_id, actor="oncall")

    assert [(i.tool, i.outcome) for i in report.items] == [
        ("book", "failed"),
        ("tag_order", "compensated"),
    ]
    assert "ledger is read-only" in report.items[0].detail


def test_an_in_doubt_write_is_left_for_a_human(journal: Journal) -> None:
    agent, run = _run(journal, [call("slow_tag", order_id=3), respond("timed out")])

    report = rollback(journal, agent, run.run_id, actor="oncall")

    assert [(i.tool, i.outcome) for i in report.items] == [("slow_tag", "in_doubt")]
    assert undone == []


def test_a_run_is_rolled_back_once(journal: Journal) -> None:
    agent, run = _run(journal, [call("tag_order", order_id=1), respond("ok")])
    rollback(journal, agent, run.run_id, actor="oncall")

    with pytest.raises(RunStateError, match="already rolled back"):
        rollback(journal, agent, run.run_id, actor="oncall")
    assert len(undone) == 1


def test_an_interrupted_rollback_resumes_without_undoing_twice(journal: Journal) -> None:
    agent, run = _run(
        journal, [call("tag_order", order_id=1), call("tag_order", order_id=2), respond("ok")]
    )

    def crash_after_first_undo(record: Record) -> None:
        if record.kind == "rollback.compensated":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rollback(journal, agent, run.run_id, actor="oncall", on_record=crash_after_first_undo)
    report = rollback(journal, agent, run.run_id, actor="oncall")

    assert [i.step for i in report.items] == [1]
    assert [args["order_id"] for _, args in undone] == [2, 1]
    assert world == []


def test_a_rolled_back_waiting_run_cannot_resume(journal: Journal) -> None:
    charter = Charter.model_validate(
        {"name": "c", "rules": [{"id": "ask-notes", "effect": "ask", "tools": ["send_note"]}]}
    )
    agent, run = _run(
        journal, [call("tag_order", order_id=1), call("send_note", to="x@example.com")], charter
    )
    assert run.status == "waiting"

    rollback(journal, agent, run.run_id, actor="oncall")

    assert world == []
    with pytest.raises(RunStateError, match="not waiting"):
        Runner(journal).resume(agent, run.run_id)


def test_rollback_refuses_unknown_foreign_and_running_runs(journal: Journal) -> None:
    agent, run = _run(journal, [respond("nothing")])
    other = make_agent(TOOLS, ScriptedReasoner([]), name="other")
    journal.append([("live", "run.started", {"agent": "test-agent", "goal": "g"})])

    with pytest.raises(RunNotFoundError):
        rollback(journal, agent, "missing", actor="oncall")
    with pytest.raises(RunStateError, match="belongs to agent 'test-agent'"):
        rollback(journal, other, run.run_id, actor="oncall")
    with pytest.raises(RunStateError, match="still running"):
        rollback(journal, agent, "live", actor="oncall")
    assert rollback(journal, agent, run.run_id, actor="oncall").items == []


def test_a_fork_keeps_earlier_steps_and_continues_with_a_new_charter(journal: Journal) -> None:
    _, run = _run(
        journal,
        [call("tag_order", order_id=1), call("send_note", to="x@example.com"), respond("sent")],
    )
    strict = Charter.model_validate({"name": "strict", "tools": {"deny": ["send_note"]}})
    forked_agent = make_agent(
        TOOLS,
        ScriptedReasoner(
            [
                call("tag_order", order_id=1),  # never proposed again: kept from the parent
                call("send_note", to="x@example.com"),
                lambda ctx: respond(
                    f"{ctx.turns[0].observation.content} / {ctx.turns[1].observation.status}"
                ),
            ]
        ),
        charter=strict,
    )
    runner = Runner(journal)

    fork = runner.fork(forked_agent, run.run_id, 2, actor="analyst", reexecute_writes=True)
    runner.close()

    assert world == ["tag 1", "note x@example.com"]  # the fork re-ran nothing and sent nothing
    assert fork.answer == "{'tag_id': 10} / denied"
    assert [s.index for s in fork.steps] == [1, 2, 3]
    started = next(journal.records(fork.run_id)).payload
    assert started["forked_from"] == {
        "run": run.run_id,
        "step": 2,
        "reexecute_writes": ['step 2 send_note({"to":"x@example.com"}) ok'],
    }
    own = [r.payload["step"] for r in journal.records(fork.run_id) if r.kind == "step.proposed"]
    assert own == [2, 3]  # step 1 is the parent's, kept


def test_a_fork_needs_a_real_finished_step(journal: Journal) -> None:
    charter = Charter.model_validate(
        {"name": "c", "rules": [{"id": "ask-notes", "effect": "ask", "tools": ["send_note"]}]}
    )
    agent, run = _run(
        journal, [call("tag_order", order_id=1), call("send_note", to="x@example.com")], charter
    )
    runner = Runner(journal)

    with pytest.raises(RunStateError, match="cannot fork at step 9"):
        runner.fork(agent, run.run_id, 9)
    with pytest.raises(RunStateError, match="cannot fork at step 0"):
        runner.fork(agent, run.run_id, 0)
    with pytest.raises(RunNotFoundError):
        runner.fork(agent, "missing", 1)
    runner.close()


def test_a_waiting_fork_resumes_with_its_parents_steps(journal: Journal) -> None:
    _, run = _run(journal, [call("tag_order", order_id=1), respond("tagged")])
    asking = Charter.model_validate(
        {"name": "c", "rules": [{"id": "ask-notes", "effect": "ask", "tools": ["send_note"]}]}
    )
    agent = make_agent(
        TOOLS,
        ScriptedReasoner(
            [
                call("tag_order", order_id=1),
                call("send_note", to="x@example.com"),
                lambda ctx: respond(str(len(ctx.turns))),
            ]
        ),
        charter=asking,
    )
    runner = Runner(journal)
    fork = runner.fork(agent, run.run_id, 2, actor="sam")
    runner.approvals.approve(str(fork.waiting_for), "dana")

    resumed = runner.resume(agent, fork.run_id)
    runner.close()

    assert (resumed.status, resumed.answer) == ("completed", "2")
    assert world == ["tag 1", "note x@example.com"]


def test_replay_decides_again_without_executing(journal: Journal) -> None:
    agent, run = _run(
        journal,
        [call("tag_order", order_id=1), call("send_note", to="x@example.com"), respond("done")],
    )
    strict = make_agent(
        TOOLS,
        ScriptedReasoner([]),
        charter=Charter.model_validate({"name": "s", "tools": {"deny": ["send_note"]}}),
    )

    same = replay(journal, agent, run.run_id)
    stricter = replay(journal, strict, run.run_id)

    assert [(s.step, s.changed) for s in same] == [(1, False), (2, False), (3, False)]
    assert [(s.step, s.changed) for s in stricter] == [(1, False), (2, True), (3, False)]
    second = stricter[1]
    assert second.then is not None and second.then["verdict"] == "allow"
    assert second.now is not None and second.now.rules == ("tools.deny",)
    assert world == ["tag 1", "note x@example.com"]  # nothing ran again


def test_replay_uses_the_labels_each_call_carried(journal: Journal) -> None:
    @tool(trust="untrusted")
    def read_mail(mail_id: int) -> str:
        """Read mail."""
        return "tag order 5"

    @tool(side_effect="write", targets=("order_id",))
    def mark(order_id: int) -> str:
        """Mark an order."""
        return "marked"

    open_flows = Charter.model_validate({"name": "o", "flows": {"untrusted_target": "allow"}})
    agent = make_agent(
        [read_mail, mark],
        ScriptedReasoner([call("read_mail", mail_id=1), call("mark", order_id=5), respond("ok")]),
        charter=open_flows,
    )
    run = Runner(journal).run(agent, "handle mail")
    defended = make_agent([read_mail, mark], ScriptedReasoner([]))

    steps = replay(journal, defended, run.run_id)

    assert steps[1].now is not None and steps[1].now.rules == ("flow.untrusted-target",)


def test_writes_receive_and_journal_an_idempotency_key(journal: Journal) -> None:
    seen: list[str | None] = []

    @tool(side_effect="write")
    def charge(order_id: int, idempotency_key: str | None = None) -> str:
        """Charge an order once per key."""
        seen.append(idempotency_key)
        return "charged"

    agent = make_agent([charge], ScriptedReasoner([call("charge", order_id=4), respond("ok")]))
    run = Runner(journal).run(agent, "charge")

    assert "idempotency_key" not in charge.parameters_schema()["properties"]
    assert seen == [f"{run.run_id}:1:1"]
    (effect,) = [r.payload for r in journal.records(run.run_id) if r.kind == "step.effect"]
    assert effect["idempotency_key"] == f"{run.run_id}:1:1"
    with pytest.raises(ToolArgumentsError):  # a reasoner cannot supply or forge one
        charge.validate_args({"order_id": 4, "idempotency_key": "x"})


# Rollback by charter rule (rollback_on)


def _unavailable(context: Any) -> Any:
    raise ReasonerUnavailableError("model server went away")


def _bug(context: Any) -> Any:
    raise RuntimeError("reasoner bug")


def test_a_stopped_run_is_rolled_back_when_the_charter_says_so(journal: Journal) -> None:
    charter = Charter(name="c", budgets=Budgets(max_steps=2), rollback_on=["stopped"])
    script = [call("tag_order", order_id=1), call("tag_order", order_id=2), respond("never")]

    _agent, run = _run(journal, script, charter)
    records = list(journal.records(run.run_id))

    assert run.status == "stopped"
    assert run.rolled_back
    assert world == []
    finished = next(r for r in records if r.kind == "rollback.finished")
    assert finished.payload["actor"] == "charter:rollback_on:stopped"
    assert journal.verify().ok


def test_a_failed_run_is_rolled_back_when_the_charter_says_so(journal: Journal) -> None:
    charter = Charter(name="c", rollback_on=["failed"])

    _agent, run = _run(journal, [call("tag_order", order_id=1), _unavailable], charter)
    records = list(journal.records(run.run_id))

    assert (run.status, run.rolled_back, world) == ("failed", True, [])
    assert "rollback.finished" in [r.kind for r in records]


def test_a_run_that_crashes_on_a_bug_is_rolled_back_and_the_error_raised(
    journal: Journal,
) -> None:
    charter = Charter(name="c", rollback_on=["failed"])
    agent = make_agent(
        TOOLS, ScriptedReasoner([call("tag_order", order_id=1), _bug]), charter=charter
    )

    with pytest.raises(RuntimeError, match="reasoner bug"):
        Runner(journal).run(agent, "work")

    assert world == []
    assert "rollback.finished" in [r.kind for r in journal.records()]


def test_only_the_outcomes_listed_roll_back(journal: Journal) -> None:
    charter = Charter(name="c", budgets=Budgets(max_steps=1), rollback_on=["failed"])

    _agent, run = _run(journal, [call("tag_order", order_id=1), respond("x")], charter)
    records = list(journal.records(run.run_id))

    assert (run.status, run.rolled_back, world) == ("stopped", False, ["tag 1"])
    assert not any(r.kind.startswith("rollback.") for r in records)


def test_irreversible_effects_are_reported_by_the_automatic_rollback(journal: Journal) -> None:
    charter = Charter(name="c", rollback_on=["failed"])
    script = [call("send_note", to="ann"), call("tag_order", order_id=1), _unavailable]

    _agent, run = _run(journal, script, charter)
    records = list(journal.records(run.run_id))

    assert run.rolled_back
    assert world == ["note ann"]  # the note stays sent; the tag is undone
    finished = next(r for r in records if r.kind == "rollback.finished")
    assert finished.payload["outcomes"] == {"compensated": 1, "irreversible": 1}


def test_rollback_on_accepts_only_failure_outcomes() -> None:
    with pytest.raises(ValidationError, match="rollback_on"):
        Charter(name="c", rollback_on=["completed"])  # type: ignore[list-item]
