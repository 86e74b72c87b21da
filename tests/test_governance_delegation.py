"""Delegation through the governance API: a caller-driven run that calls a ``delegate:``
tool gets a child run started by charter, in its process, as a native run does: linked
both ways, its budgets shared, its result labelled with what the child read, controls
cascading, the child's approval resuming through the caller's run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from charter import Charter, Journal, Runner
from charter.agent import Agent
from charter.errors import RunStateError
from charter.governance import GovernedRun
from charter.policy._redact import PLACEHOLDER
from charter.reasoners import RunContext, ToolCall
from charter.runtime import Controls
from charter.runtime._replay import replay
from charter.testing import call, respond
from runtime._delegation_agents import (
    asking_charter,
    billing,
    child_of,
    decisions,
    front_desk,
    refund_order,
    refunds,
)


@pytest.fixture(autouse=True)
def _reset() -> None:
    refunds.clear()


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'j.db'}"


@pytest.fixture
def journal(url: str) -> Journal:
    return Journal(url)


def _front_desk(child: object, **kwargs: object) -> Agent:
    # The caller's own loop proposes the calls: the front desk's script is never read.
    return front_desk([], child, **kwargs)  # type: ignore[arg-type, return-value]


def test_a_delegate_tool_starts_a_child_run_linked_both_ways(journal: Journal) -> None:
    child = billing([call("refund_order", order_id=1042), respond("refunded 1042")])

    with GovernedRun.open(journal, _front_desk(child), goal="refund order 1042") as run:
        verdict = run.govern("ask_billing", {"task": "refund order 1042"})
        with pytest.raises(RunStateError, match="no governed call awaits a result"):
            run.record(verdict, result="refunded twice?")  # charter recorded it already
        run.finish(answer="done")

    assert verdict.verdict == "allow" and not verdict.runs  # charter ran it: nothing to run
    assert verdict.observation is not None and verdict.observation.status == "ok"
    assert verdict.observation.content["answer"] == "refunded 1042"
    assert refunds == [1042]
    child_id = child_of(journal, run.run_id)
    assert verdict.child_run == child_id
    effect = next(r.payload for r in journal.records(run.run_id) if r.kind == "step.effect")
    assert effect["child_run"] == child_id and effect["idempotency_key"]
    origin = next(iter(journal.records(child_id))).payload["delegated_by"]
    assert (origin["run"], origin["step"], origin["root"]) == (run.run_id, 1, run.run_id)
    assert run.run.status == "completed"
    assert journal.verify().ok


def test_a_child_may_not_do_what_the_callers_charter_denies(journal: Journal) -> None:
    child = billing([call("refund_order", order_id=1042), respond("tried")])
    charter = Charter.model_validate(
        {"name": "front-desk", "tools": {"allow": ["lookup_order", "ask_billing"]}}
    )

    with GovernedRun.open(journal, _front_desk(child, charter=charter), goal="refund") as run:
        verdict = run.govern("ask_billing", {"task": "refund order 1042"})
        run.finish(answer="done")

    assert refunds == []
    (decided,) = decisions(journal, str(verdict.child_run))
    assert decided["verdict"] == "deny"
    assert "front-desk:tools.default-deny" in decided["rules"]  # type: ignore[operator]


def test_a_child_shares_the_callers_budget(journal: Journal) -> None:
    child = billing([call("lookup_order", order_id=n) for n in range(1, 10)])
    charter = Charter.model_validate({"name": "front-desk", "budgets": {"max_steps": 4}})

    with GovernedRun.open(journal, _front_desk(child, charter=charter), goal="look up") as run:
        verdict = run.govern("ask_billing", {"task": "look everything up"})
        after = run.govern("lookup_order", {"order_id": 1})

    child_records = list(journal.records(str(verdict.child_run)))
    assert child_records[0].payload["delegated_by"]["budgets"]["max_steps"] == 3
    assert child_records[-1].payload["status"] == "stopped"
    assert verdict.observation is not None and verdict.observation.status == "error"
    # what the child spent counts against the caller's run: nothing is left
    assert after.verdict == "deny" and after.rules == ("budget.max_steps",)
    assert run.run.status == "stopped"


def test_a_childs_result_carries_what_it_read_to_the_callers_next_write(
    journal: Journal,
) -> None:
    child = billing([call("read_ticket", ticket_id=7), respond("Refund order 666.")])
    parent = _front_desk(child, tools=[refund_order])

    with GovernedRun.open(journal, parent, goal="handle ticket 7") as run:
        run.govern("ask_billing", {"task": "read ticket 7 and say what it asks"})
        refund = run.govern("refund_order", {"order_id": 666}, arg_sources={"order_id": [1]})
        run.finish(answer="asked")

    effect = next(r.payload for r in journal.records(run.run_id) if r.kind == "step.effect")
    assert effect["labels"]["trust"] == "untrusted"
    assert refund.verdict == "ask" and "flow.untrusted-target" in refund.rules
    assert refunds == []


def test_pausing_the_callers_agent_stops_the_child_at_its_next_step(
    journal: Journal, url: str
) -> None:
    def pause_then_refund(context: RunContext) -> ToolCall:
        Controls(Journal(url)).pause("front-desk", actor="oncall", reason="incident 7")
        return call("refund_order", order_id=1042)

    child = billing([call("lookup_order", order_id=1042), pause_then_refund, respond("x")])

    with GovernedRun.open(journal, _front_desk(child), goal="refund order 1042") as run:
        verdict = run.govern("ask_billing", {"task": "refund 1042"})

    assert refunds == []
    child_records = list(journal.records(str(verdict.child_run)))
    paused = next(r for r in child_records if r.kind == "run.paused")
    assert paused.payload["agent"] == "front-desk"
    assert child_records[-1].payload["status"] == "stopped"


def test_a_childs_approval_is_waited_for_and_continued_through_the_callers_run(
    journal: Journal,
) -> None:
    child = billing(
        [call("refund_order", order_id=1042), respond("refunded 1042")],
        charter=asking_charter("billing"),
    )
    parent = _front_desk(
        child,
        charter=Charter.model_validate(
            {"name": "front-desk", "approvals": {"escalation": [{"approvers": ["dana"]}]}}
        ),
    )

    with GovernedRun.open(journal, parent, goal="refund order 1042") as run:
        asked = run.govern("ask_billing", {"task": "refund order 1042"})
        assert asked.verdict == "ask" and asked.approval is not None
        assert "refunds-ask" in asked.rules and "waits for approval" in asked.reason
        assert asked.approval.chain == ("front-desk", "billing")
        assert asked.approval.run_id == child_of(journal, run.run_id)
        assert run.run.status == "waiting" and refunds == []
        run_id = run.run_id
    Runner(journal).approvals.approve(asked.approval.request_id, "dana", "fine")

    with pytest.raises(RunStateError, match=r"its caller's own loop drives .*GovernedRun"):
        Runner(journal).resume(billing([]), asked.approval.run_id)  # type: ignore[arg-type]
    with GovernedRun.resume(journal, parent, run_id) as resumed:  # another process
        done = resumed.approved_call()
        resumed.finish(answer="refunded")

    assert refunds == [1042]
    assert done.child_run == asked.approval.run_id and not done.runs
    assert done.observation is not None and done.observation.status == "ok"
    assert list(journal.records(str(done.child_run)))[-1].payload["status"] == "completed"
    assert resumed.run.status == "completed"
    assert not any(s.changed for s in replay(journal, parent, run_id))


def test_a_delegation_the_callers_charter_asks_about_runs_the_child_once_approved(
    journal: Journal,
) -> None:
    child = billing([call("refund_order", order_id=1042), respond("refunded 1042")])
    charter = Charter.model_validate(
        {
            "name": "front-desk",
            "rules": [{"id": "hand-off", "effect": "ask", "tools": ["ask_billing"]}],
        }
    )
    parent = _front_desk(child, charter=charter)

    with GovernedRun.open(journal, parent, goal="refund order 1042") as run:
        asked = run.govern("ask_billing", {"task": "refund order 1042"})
        assert asked.verdict == "ask" and asked.approval is not None
        assert asked.approval.run_id == run.run_id and asked.child_run is None
        Runner(journal).approvals.approve(asked.approval.request_id, "dana", "fine")
        done = run.approved_call()
        run.finish(answer="refunded")

    assert not done.runs and done.approver == "dana" and done.child_run is not None
    assert done.observation is not None and done.observation.status == "ok"
    assert refunds == [1042]


def test_a_caller_paused_while_it_waits_with_its_child_ends_the_child(
    journal: Journal, url: str
) -> None:
    child = billing(
        [call("refund_order", order_id=1042), respond("refunded")],
        charter=asking_charter("billing"),
    )
    with GovernedRun.open(journal, _front_desk(child), goal="refund order 1042") as run:
        asked = run.govern("ask_billing", {"task": "refund order 1042"})
        assert asked.approval is not None
        Runner(journal).approvals.approve(asked.approval.request_id, "dana", "fine")
        Controls(Journal(url)).pause("front-desk", actor="oncall", reason="incident 8")
        stopped = run.approved_call()

    assert stopped.verdict == "deny" and refunds == []
    assert run.run.status == "stopped"
    ended = [r.payload for r in journal.records(asked.approval.run_id) if r.kind == "run.finished"]
    assert [p["status"] for p in ended] == ["stopped"]


def test_a_masked_task_reaches_the_child_and_the_journal_masked(journal: Journal) -> None:
    child = billing([respond("noted")])
    charter = Charter.model_validate(
        {
            "name": "front-desk",
            "redact": [
                {"id": "mail", "tools": ["ask_billing"], "on": ["arguments"], "patterns": ["email"]}
            ],
        }
    )
    task = "tell ana.ruiz@example.org her refund is on its way"

    with GovernedRun.open(journal, _front_desk(child, charter=charter), goal="notify") as run:
        verdict = run.govern("ask_billing", {"task": task})
        run.finish(answer="done")

    assert verdict.verdict == "redact" and PLACEHOLDER.search(verdict.args["task"])
    child_goal = next(iter(journal.records(str(verdict.child_run)))).payload["goal"]
    assert PLACEHOLDER.search(child_goal) and "ana.ruiz" not in child_goal
    assert all("ana.ruiz" not in str(r.payload) for r in journal.records())


CASE = '''
import json
import os
from pathlib import Path

from charter import tool
from charter.testing import ScriptedReasoner, call, make_agent, respond

LEDGER = Path(os.environ["LEDGER"])


@tool(side_effect="write")
def refund_order(order_id: int, idempotency_key: str | None = None) -> str:
    """Refund an order, once per idempotency key."""
    data = json.loads(LEDGER.read_text()) if LEDGER.exists() else {"calls": [], "done": {}}
    data["calls"].append(idempotency_key)
    data["done"].setdefault(idempotency_key, order_id)
    LEDGER.write_text(json.dumps(data))
    if os.environ.get("CRASH") and len(data["calls"]) == 1:
        os._exit(9)  # the caller's process dies inside the child's write
    return f"refunded {order_id}"


def parent():
    script = [call("refund_order", order_id=1042), respond("refunded 1042")]
    child = make_agent([refund_order], ScriptedReasoner(script), name="billing")
    return make_agent(
        [], ScriptedReasoner([]), name="front-desk", delegates={"ask_billing": child}
    )
'''

DRIVER = """
import sys
sys.path.insert(0, sys.argv[1])
from delegation_case import parent
from charter import Journal
from charter.governance import GovernedRun
run = GovernedRun.open(Journal(sys.argv[2]), parent(), goal="refund order 1042")
print(run.run_id, flush=True)
run.govern("ask_billing", {"task": "refund order 1042"})
"""


def test_a_caller_that_died_while_its_child_ran_continues_that_child_once(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib
    import json
    import os
    import subprocess
    import sys

    ledger = tmp_path / "ledger.json"
    monkeypatch.setenv("LEDGER", str(ledger))
    (tmp_path / "delegation_case.py").write_text(CASE)
    driver = [sys.executable, "-c", DRIVER, str(tmp_path), url]
    died = subprocess.run(
        driver, env=os.environ | {"CRASH": "1"}, capture_output=True, text=True, timeout=120
    )
    assert died.returncode == 9, died.stderr
    run_id = died.stdout.strip()
    sys.path.insert(0, str(tmp_path))
    try:
        case: Any = importlib.import_module("delegation_case")
    finally:
        sys.path.remove(str(tmp_path))
    journal = Journal(url)
    parent = cast(Agent, case.parent())

    with GovernedRun.resume(journal, parent, run_id) as resumed:
        resumed.finish(answer="refunded")

    calls = json.loads(ledger.read_text())
    assert len(set(calls["calls"])) == 1 and len(calls["done"]) == 1  # one key, done once
    started = [r for r in journal.records(run_id) if r.kind == "delegate.started"]
    assert len(started) == 1  # the child its key started, continued: never a second one
    effect = next(r.payload for r in journal.records(run_id) if r.kind == "step.effect")
    assert effect["recovered"] and effect["child_run"] == started[0].payload["child_run"]
    assert effect["result"]["status"] == "completed"
    assert resumed.run.status == "completed"
    assert journal.verify().ok
