"""The read model: views of real runs in a real journal (SQLite, and PostgreSQL when
``CHARTER_TEST_POSTGRES_URL`` is set)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import event, text

from charter import Charter, Journal, Runner, tool
from charter.agent import Agent
from charter.journal import JournalSigner, canonical_json
from charter.runtime import Controls
from charter.runtime._rollback import rollback
from charter.testing import (
    ScriptedReasoner,
    ScriptExhaustedError,
    ScriptItem,
    call,
    make_agent,
    respond,
)
from charter.views._runs import (
    RUN_STATUSES,
    RunSummary,
    ToolInfo,
    agents,
    audit_status,
    cost_by,
    list_runs,
    metrics,
    prometheus_text,
    run_detail,
    tools_inventory,
    violations,
)
from databases import fresh_url

undone: list[int] = []


@tool
def lookup_order(order_id: int) -> dict[str, int]:
    """Look up an order."""
    return {"order_id": order_id}


@tool(confidentiality="pii")
def lookup_customer(customer_id: int) -> dict[str, str]:
    """Look up a customer."""
    return {"email": f"c{customer_id}@example.com"}


def _undo_refund(result: dict[str, int], order_id: int, amount_cents: int) -> str:
    undone.append(order_id)
    return "reversed"


@tool(side_effect="write", cost_usd=0.25, owner="payments", compensate=_undo_refund)
def refund_order(order_id: int, amount_cents: int) -> dict[str, int]:
    """Refund an order."""
    return {"refund_id": order_id}


@tool(side_effect="external", owner="comms", targets=("to",))
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return "sent"


TOOLS = [lookup_order, lookup_customer, refund_order, send_email]
PRICES = {"scripted": {"prompt_per_million": 0, "completion_per_million": 1000}}
"""$0.001 per completion token of the scripted reasoner."""
ASK_BIG = {
    "id": "big-refunds",
    "effect": "ask",
    "tools": ["refund_order"],
    "when": "context.args.amount_cents > 5000",
    "reason": "refunds over $50 need a manager",
}


class Clock:
    """A UTC clock that starts now and moves only when told."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journal]:
    url = fresh_url(request.param, tmp_path)
    opened = Journal(url, JournalSigner(Ed25519PrivateKey.generate()))
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def _reset() -> None:
    undone.clear()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runner(journal: Journal, clock: Clock) -> Iterator[Runner]:
    opened = Runner(journal, clock=clock)
    yield opened
    opened.close()


def agent(*script: ScriptItem, name: str = "refunder", tokens: int = 0, **charter: Any) -> Agent:
    body: dict[str, Any] = {"name": f"{name}-charter", "rules": [ASK_BIG]} | charter
    reasoner = ScriptedReasoner(list(script), tokens_per_step=tokens)
    return make_agent(TOOLS, reasoner, charter=Charter.model_validate(body), name=name)


def lookup(name: str = "refunder") -> Agent:
    return agent(call("lookup_order", order_id=1), respond("found"), name=name)


def big_refund() -> Agent:
    return agent(
        call("lookup_order", order_id=7),
        call("refund_order", order_id=7, amount_cents=9000),
        lambda ctx: respond(ctx.turns[-1].observation.render()),
    )


def waiting_run(runner: Runner) -> str:
    run = runner.run(big_refund(), "refund order 7", actor="sam")
    assert run.status == "waiting"
    return run.run_id


def test_runs_are_listed_newest_first_with_their_status(runner: Runner, journal: Journal) -> None:
    completed = runner.run(lookup(), "look up order 1", actor="sam").run_id
    waiting = waiting_run(runner)
    over_budget = agent(call("lookup_order", order_id=1), respond("-"), budgets={"max_steps": 1})
    stopped = runner.run(over_budget, "look up order 1").run_id
    with pytest.raises(ScriptExhaustedError):
        runner.run(agent(call("lookup_order", order_id=1)), "look up order 1")

    listed = list_runs(journal)
    failed = listed[0].run_id
    assert [(r.run_id, r.status) for r in listed] == [
        (failed, "failed"),
        (stopped, "stopped"),
        (waiting, "waiting"),
        (completed, "completed"),
    ]
    assert (listed[0].error or "").startswith("ScriptExhaustedError")
    assert listed[1].error == "step budget of 1 used up"
    assert listed[2].waiting_for == journal.records_of_kind("run.waiting")[0].payload["request_id"]
    assert (listed[2].cost_usd, listed[2].steps) == (None, 2)
    assert (listed[3].answer, listed[3].actor, listed[3].steps) == ("found", "sam", 2)
    assert {s: [r.run_id for r in list_runs(journal, status=s)] for s in RUN_STATUSES} == {
        "running": [],
        "waiting": [waiting],
        "completed": [completed],
        "failed": [failed],
        "stopped": [stopped],
    }
    assert list_runs(journal, status="lost") == []


def test_a_run_in_progress_is_running(runner: Runner, journal: Journal) -> None:
    seen: list[list[RunSummary]] = []

    @tool(side_effect="write")  # a write: its proposal is journaled before it runs
    def peek() -> str:
        """Look at the runs while this one runs."""
        seen.append(list_runs(journal, status="running"))
        return "looked"

    live = make_agent([peek], ScriptedReasoner([call("peek"), respond("done")]), name="peeker")
    run_id = runner.run(live, "peek").run_id

    assert [[(r.run_id, r.status, r.steps, r.cost_usd) for r in page] for page in seen] == [
        [(run_id, "running", 1, None)]
    ]
    assert list_runs(journal)[0].status == "completed"


def test_a_summary_counts_denials_anomalies_tokens_and_cost(
    runner: Runner, journal: Journal
) -> None:
    watched = agent(
        call("lookup_order", order_id=1),
        call("send_email", to="a@example.com", body="hi"),
        call("refund_order", order_id=1, amount_cents=100),
        respond("done"),
        tokens=10,
        tools={"deny": ["send_email"]},
        prices=PRICES,
        anomalies=[{"id": "denied-once", "kind": "repeated_denials", "max_denials": 1}],
    )
    run = runner.run(watched, "refund order 1")

    (summary,) = list_runs(journal)
    assert (summary.status, summary.steps, summary.tokens) == ("completed", 4, 40)
    assert summary.cost_usd == pytest.approx(0.25 + 40 * 0.001) == run.cost_usd
    assert (summary.denials, summary.anomalies, summary.asks) == (1, 1, 0)
    assert (summary.forked_from, summary.rolled_back) == (None, False)


def test_pages_follow_before_seq_without_gaps_or_overlaps(runner: Runner, journal: Journal) -> None:
    ids = [runner.run(lookup(), f"run {n}").run_id for n in range(5)]

    pages: list[list[str]] = []
    before: int | None = None
    while page := list_runs(journal, limit=2, before_seq=before):
        pages.append([r.run_id for r in page])
        before = page[-1].seq
    assert pages == [ids[4:2:-1], ids[2:0:-1], ids[:1]]


def test_runs_filter_by_agent_and_by_status(runner: Runner, journal: Journal) -> None:
    mine = [runner.run(lookup("alpha"), "look").run_id for _ in range(2)]
    runner.run(lookup("beta"), "look")
    waiting = waiting_run(runner)

    assert [r.run_id for r in list_runs(journal, agent="alpha")] == mine[::-1]
    assert list_runs(journal, agent='alpha"') == []
    assert [r.run_id for r in list_runs(journal, status="waiting")] == [waiting]
    assert [r.agent for r in list_runs(journal, status="completed", limit=1)] == ["beta"]
    assert list_runs(journal, limit=0) == []


def test_a_fork_names_its_parent_and_inherits_earlier_steps(
    runner: Runner, journal: Journal
) -> None:
    parent = runner.run(
        agent(call("lookup_order", order_id=1), call("lookup_order", order_id=2), respond("a")),
        "look twice",
    )
    fork_agent = agent(
        call("lookup_order", order_id=1), call("lookup_order", order_id=3), respond("b")
    )
    fork = runner.fork(fork_agent, parent.run_id, 2)

    newest = list_runs(journal, limit=1)[0]
    assert (newest.run_id, newest.forked_from, newest.forked_at) == (fork.run_id, parent.run_id, 2)
    detail = run_detail(journal, fork.run_id)
    assert detail is not None
    assert [(s.index, s.inherited, s.args) for s in detail.steps] == [
        (1, True, {"order_id": 1}),
        (2, False, {"order_id": 3}),
        (3, False, None),
    ]
    assert (detail.summary.steps, detail.summary.answer) == (3, "b")


def test_a_rolled_back_waiting_run_is_stopped_and_its_cost_unknown(
    runner: Runner, journal: Journal
) -> None:
    waiting = waiting_run(runner)
    refund = agent(
        call("refund_order", order_id=2, amount_cents=100), respond("refunded"), prices=PRICES
    )
    done = runner.run(refund, "refund order 2")
    rollback(journal, big_refund(), waiting, actor="oncall")
    rollback(journal, refund, done.run_id, actor="oncall")

    by_id = {r.run_id: r for r in list_runs(journal)}
    assert (by_id[waiting].status, by_id[waiting].rolled_back) == ("stopped", True)
    assert (by_id[waiting].cost_usd, by_id[waiting].steps) == (None, 2)
    assert (by_id[done.run_id].rolled_back, by_id[done.run_id].cost_usd) == (True, 0.25)
    assert undone == [2]


def test_run_detail_shows_decisions_effects_approvals_and_events(
    runner: Runner, journal: Journal
) -> None:
    run_id = waiting_run(runner)
    request_id = str(journal.records_of_kind("approval.requested")[0].payload["request_id"])
    runner.approvals.approve(request_id, "dana", "checked the courier report")
    runner.resume(big_refund(), run_id, actor="dana")

    detail = run_detail(journal, run_id)
    assert detail is not None
    lookup_step, refund_step, answer_step = detail.steps
    assert lookup_step.decision is not None and lookup_step.decision.rules == ["tools.allow"]
    assert lookup_step.observation == '{"order_id": 7}'
    assert refund_step.decision is not None and refund_step.decision.verdict == "ask"
    assert refund_step.approval is not None
    assert (refund_step.approval.request_id, refund_step.approval.status) == (request_id, "used")
    assert refund_step.approval.approver == "dana"
    assert refund_step.approval.decision_reason == "checked the courier report"
    assert refund_step.arg_labels is not None and set(refund_step.arg_labels) == {
        "order_id",
        "amount_cents",
    }
    assert refund_step.effect is not None
    assert (refund_step.effect.status, refund_step.effect.result) == ("ok", {"refund_id": 7})
    assert refund_step.effect.idempotency_key == f"{run_id}:2:1"
    assert answer_step.answer == '{"refund_id": 7}'
    assert [e.kind for e in detail.events] == [
        "approval.requested",
        "run.waiting",
        "approval.granted",
        "run.resumed",
        "approval.used",
        "run.finished",
    ]
    assert detail.events[2].text == (f"{request_id} approved by dana: checked the courier report")
    assert detail.summary.status == "completed"


def test_run_detail_of_an_unknown_run_is_none(runner: Runner, journal: Journal) -> None:
    assert run_detail(journal, "no-such-run") is None
    runner.run(lookup(), "look")
    assert run_detail(journal, "no-such-run") is None


def test_violations_are_listed_newest_first_by_kind(
    runner: Runner, journal: Journal, clock: Clock
) -> None:
    runner.run(
        agent(
            call("send_email", to="x@example.com", body="hi"),
            respond("-"),
            tools={"deny": ["send_email"]},
            anomalies=[{"id": "denied-once", "kind": "repeated_denials", "max_denials": 1}],
        ),
        "email",
    )
    runner.run(
        agent(
            call("lookup_customer", customer_id=3),
            lambda ctx: call(
                "send_email", to="x@example.com", body=ctx.turns[-1].observation.render()
            ),
            respond("-"),
        ),
        "mail the customer's details to x@example.com",
    )
    runner.run(agent(call("lookup_order", order_id=1), respond("-"), budgets={"max_steps": 1}), "b")
    waiting = waiting_run(runner)
    request_id = str(journal.records_of_kind("approval.requested")[0].payload["request_id"])
    runner.approvals.approve(request_id, "dana")
    clock.now += timedelta(seconds=901)  # the receipt lives 900 s
    runner.resume(big_refund(), waiting)
    runner.run(lookup(), "harmless")

    found = violations(journal)
    assert [(v.kind, v.rules) for v in found] == [
        ("approval", ["approval.expired"]),
        ("budget", ["budget.max_steps"]),
        ("flow", ["flow.confidential-to-external"]),
        ("anomaly", ["anomaly.denied-once"]),
        ("denial", ["tools.deny"]),
    ]
    assert [v.seq for v in found] == sorted((v.seq for v in found), reverse=True)
    assert {v.agent for v in found} == {"refunder"}
    assert (found[2].tool, found[2].step, found[2].verdict) == ("send_email", 2, "deny")
    assert found[0].run_id == waiting
    assert [v.kind for v in violations(journal, limit=2)] == ["approval", "budget"]


def test_cost_by_agent_books_finished_runs_per_bucket(runner: Runner, journal: Journal) -> None:
    priced = agent(
        call("refund_order", order_id=1, amount_cents=100), respond("-"), tokens=10, prices=PRICES
    )
    runner.run(priced, "refund")
    runner.run(lookup("other"), "look")
    waiting_run(runner)  # not finished: not booked yet

    finished = journal.records_of_kind("run.finished")
    day = finished[0].ts[:10] + "T00:00:00+00:00"
    points = cost_by(journal, group="agent")
    assert [(p.bucket, p.key, p.runs, p.tokens) for p in points] == [
        (day, "other", 1, 0),
        (day, "refunder", 1, 20),
    ]
    assert points[1].cost_usd == pytest.approx(0.25 + 20 * 0.001)
    hour = cost_by(journal, group="agent", bucket="hour")[0].bucket
    assert hour == finished[-1].ts[:13] + ":00:00+00:00"


def test_cost_by_tool_prices_proposals_and_adds_given_tool_costs(
    runner: Runner, journal: Journal
) -> None:
    priced = agent(
        call("lookup_order", order_id=1),
        call("refund_order", order_id=1, amount_cents=100),
        call("refund_order", order_id=2, amount_cents=100),
        respond("-"),
        tokens=10,
        prices=PRICES,
    )
    runner.run(priced, "refund two")

    journaled = {p.key: p for p in cost_by(journal, group="tool")}
    assert {k: (p.calls, p.tokens) for k, p in journaled.items()} == {
        "lookup_order": (1, 10),
        "refund_order": (2, 20),
    }
    assert journaled["refund_order"].cost_usd == pytest.approx(20 * 0.001)
    with_contracts = cost_by(journal, group="tool", tool_costs={"refund_order": 0.25})
    assert [p.cost_usd for p in with_contracts] == pytest.approx([0.01, 0.5 + 0.02])


def test_agents_list_versions_and_pauses(runner: Runner, journal: Journal) -> None:
    runner.run(lookup(), "look")
    newer = lookup()
    newer.version = "2"
    runner.run(newer, "look")
    runner.run(newer, "look")
    Controls(journal).pause("refunder", actor="oncall", reason="incident 42")
    Controls(journal).pause("ghost", actor="oncall", reason="never ran")

    ghost, refunder = agents(journal)
    assert (refunder.name, refunder.runs, refunder.paused) == ("refunder", 3, True)
    assert (refunder.pause_reason, refunder.paused_by) == ("incident 42", "oncall")
    assert [(v.version, v.runs, v.charter) for v in refunder.versions] == [
        ("1", 1, "refunder-charter"),
        ("2", 2, "refunder-charter"),
    ]
    assert refunder.versions[0].policy == newer.charter.policy_hash
    assert refunder.last_run_at == refunder.versions[1].last_seen
    assert (ghost.name, ghost.runs, ghost.versions, ghost.paused) == ("ghost", 0, [], True)
    Controls(journal).resume("refunder", actor="oncall")
    assert not agents(journal)[1].paused


def test_tools_inventory_shows_contracts_revocations_and_use(
    runner: Runner, journal: Journal
) -> None:
    runner.run(
        agent(
            call("lookup_order", order_id=1),
            call("lookup_order", order_id=2),
            call("send_email", to="a@example.com", body="hi"),
            respond("-"),
            tools={"deny": ["send_email"]},
        ),
        "look",
    )
    controls = Controls(journal)
    controls.revoke("send_email", actor="oncall", reason="phishing wave")
    controls.revoke("refund_order", actor="lead", reason="audit", agent="refunder")
    controls.revoke("lookup_customer", actor="lead", reason="gone")
    controls.restore("lookup_customer", actor="lead")
    inventory = {"refunder": [ToolInfo.from_tool(t) for t in TOOLS]}

    tools = {t.name: t for t in tools_inventory(journal, inventory)}
    assert list(tools) == ["lookup_customer", "lookup_order", "refund_order", "send_email"]
    lookups = tools["lookup_order"]
    assert (lookups.calls, lookups.denials, lookups.revoked) == (2, 0, False)
    assert lookups.last_used == journal.records_of_kind("step.effect")[0].ts
    email = tools["send_email"]
    assert (email.side_effect, email.owner, email.calls, email.denials) == (
        "external",
        "comms",
        0,
        1,
    )
    assert [(r.agent, r.reason, r.actor) for r in email.revocations] == [
        (None, "phishing wave", "oncall")
    ]
    refunds = tools["refund_order"]
    assert (refunds.revoked, refunds.cost_usd) == (True, 0.25)
    assert [(r.agent, r.actor) for r in refunds.revocations] == [("refunder", "lead")]
    assert not tools["lookup_customer"].revoked
    bare = tools_inventory(journal)
    assert [(t.name, t.agents, t.side_effect) for t in bare][1] == (
        "lookup_order",
        ["refunder"],
        None,
    )


SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"\})? '
    r"(-?[0-9.e+-]+|NaN|[+-]Inf)$"
)


def parse_prometheus(body: str) -> dict[str, float]:
    """Each line of the exposition format, checked; the samples by series."""
    samples: dict[str, float] = {}
    typed: set[str] = set()
    for line in body.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:]
            assert kind in ("counter", "gauge", "untyped") and name not in typed
            typed.add(name)
            continue
        assert SAMPLE.match(line), line
        series, value = line.rsplit(" ", 1)
        assert series.partition("{")[0] in typed, line
        samples[series] = float(value)
    return samples


def test_metrics_count_runs_steps_denials_approvals_and_cost(
    runner: Runner, journal: Journal
) -> None:
    runner.run(
        agent(
            call("send_email", to="a@example.com", body="hi"),
            call("refund_order", order_id=1, amount_cents=100),
            respond("-"),
            tools={"deny": ["send_email"]},
        ),
        "refund",
    )
    waiting_run(runner)
    Controls(journal).revoke("send_email", actor="oncall", reason="x")

    found = metrics(journal)
    assert found['charter_runs_total{status="completed"}'] == 1
    assert found['charter_runs_total{status="waiting"}'] == 1
    assert found['charter_runs_total{status="running"}'] == 0
    assert found['charter_run_outcomes_total{outcome="denied"}'] == 1  # completed, email denied
    assert found['charter_run_outcomes_total{outcome="succeeded"}'] == 0
    assert (found["charter_steps_total"], found["charter_tool_calls_total"]) == (5, 2)
    assert (found["charter_denials_total"], found['charter_decisions_total{verdict="ask"}']) == (
        1,
        1,
    )
    assert (found["charter_approvals_pending"], found["charter_tools_revoked"]) == (1, 1)
    assert found["charter_cost_usd_total"] == pytest.approx(0.25)
    assert found["charter_journal_records"] == len(list(journal.records()))
    assert parse_prometheus(prometheus_text(found)) == found


def test_metrics_count_outcomes_after_rollbacks_and_in_journals_without_them(
    runner: Runner, journal: Journal
) -> None:
    plain = agent(call("lookup_order", order_id=1), respond("-"))
    for _ in range(2):
        runner.run(plain, "look")
    tagged = runner.run(agent(call("refund_order", order_id=1, amount_cents=1), respond("-")), "r")
    found = metrics(journal)
    assert found['charter_run_outcomes_total{outcome="succeeded"}'] == 3
    first = journal.records_of_kind("run.finished")[0]
    body = {k: v for k, v in first.payload.items() if k != "outcome"}
    with journal.engine.begin() as conn:  # as written before run.finished had an outcome
        conn.execute(
            text("UPDATE journal_records SET payload = :p WHERE seq = :s"),
            {"p": canonical_json(body), "s": first.seq},
        )
    journal.append(  # a rollback that undid the refund run's write
        [(tagged.run_id, "rollback.finished", {"outcomes": {"compensated": 1}, "actor": "ops"})]
    )

    found = metrics(journal)

    assert found['charter_run_outcomes_total{outcome="succeeded"}'] == 2
    assert found['charter_run_outcomes_total{outcome="rolled_back"}'] == 1
    assert sum(v for k, v in found.items() if k.startswith("charter_run_outcomes_total")) == 3


def test_an_empty_journal_has_empty_views_and_zero_metrics(journal: Journal) -> None:
    assert list_runs(journal) == []
    assert violations(journal) == []
    assert cost_by(journal, group="agent") == cost_by(journal, group="tool") == []
    assert agents(journal) == tools_inventory(journal) == []
    found = metrics(journal)
    assert set(found.values()) == {0.0}
    assert parse_prometheus(prometheus_text(found)) == found
    assert prometheus_text({}) == ""
    status = audit_status(journal)
    assert (status.ok, status.checked, status.head_seq, status.problems) == (True, 0, 0, [])


def test_audit_status_reports_signatures_and_tampering(runner: Runner, journal: Journal) -> None:
    runner.run(lookup(), "look")

    intact = audit_status(journal)
    assert (intact.ok, intact.checked, intact.problems) == (True, intact.head_seq, [])
    assert intact.checkpoints_checked == 1 and intact.signed_through == intact.head_seq
    with journal.engine.begin() as conn:
        conn.execute(
            text("UPDATE journal_records SET payload = :p WHERE seq = 3"),
            {"p": '{"edited": true}'},
        )
    tampered = audit_status(journal, full=True)
    assert not tampered.ok
    assert (tampered.problems[0].kind, tampered.problems[0].seq) == ("edited", 3)


def test_a_page_of_runs_costs_the_same_queries_however_long_the_journal(
    runner: Runner, journal: Journal
) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    for _ in range(3):
        runner.run(lookup(), "look")
    event.listen(journal.engine, "before_cursor_execute", count)
    list_runs(journal, limit=2)
    few = len(statements)
    for _ in range(20):
        runner.run(lookup(), "look")
    statements.clear()
    page = list_runs(journal, limit=2)
    event.remove(journal.engine, "before_cursor_execute", count)

    assert len(page) == 2 and len(statements) == few == 3
    assert "journal_records.run_id IN" in statements[1]  # the page's runs, by index
    assert "journal_records.seq IN" in statements[2]  # their run.finished records
