"""The cost read model over a journal of real runs (SQLite, and PostgreSQL when
``CHARTER_TEST_POSTGRES_URL`` is set): costs by hand from the prices set here, outcomes,
violations, approvals, durations and the ROI against the charter's baseline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from charter import Charter, CharterError, Journal, Runner, tool
from charter.agent import Agent
from charter.observe import CostReport, Figures, cost_report, parse_period
from charter.reasoners import Proposal, RunContext
from charter.reasoners._base import Usage
from charter.testing import ScriptedReasoner, ScriptExhaustedError, call, make_agent, respond
from databases import fresh_url


@tool(cost_usd=0.01)
def lookup_order(order_id: int) -> dict[str, int]:
    """Look up an order."""
    return {"order_id": order_id}


@tool(side_effect="write", cost_usd=0.25)
def refund_order(order_id: int, amount_cents: int) -> dict[str, int]:
    """Refund an order."""
    return {"refund_id": order_id}


@tool(side_effect="external", cost_usd=0.05)
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return "sent"


TOOLS = [lookup_order, refund_order, send_email]
MODEL = "m-large"
PRICES = {MODEL: {"prompt_per_million": 2.0, "completion_per_million": 10.0}}
PROMPT, COMPLETION = 1000, 200
STEP_USD = (PROMPT * 2.0 + COMPLETION * 10.0) / 1_000_000
"""$0.004: one proposal of the priced model."""
BASELINE = {
    "minutes_per_run": 15,
    "hourly_cost_usd": 60,
    "minutes_per_approval": 3,
    "description": "an agent of the <b>refunds</b> desk",
}
REFUNDS = {
    "name": "refunds",
    "version": "7",
    "prices": PRICES,
    "baseline": BASELINE,
    "rules": [
        {"id": "no-email", "effect": "deny", "tools": ["send_email"], "reason": "no mail"},
        {
            "id": "big-refunds",
            "effect": "ask",
            "tools": ["refund_order"],
            "when": "context.args.amount_cents > 5000",
            "reason": "refunds over $50 need a manager",
        },
    ],
}


class PricedReasoner(ScriptedReasoner):
    """The scripted reasoner, as a priced model spending prompt and completion tokens."""

    def propose(self, context: RunContext) -> Proposal:
        action = super().propose(context).action
        return Proposal(action, Usage(prompt_tokens=PROMPT, completion_tokens=COMPLETION), MODEL)


def refunder(*script: Any, name: str = "refunder") -> Agent:
    charter = Charter.model_validate(REFUNDS)
    return make_agent(TOOLS, PricedReasoner(list(script)), charter=charter, name=name)


def mailer(name: str = "mailer") -> Agent:
    reasoner = ScriptedReasoner([call("send_email", to="a@example.com", body="hi"), respond("ok")])
    return make_agent(TOOLS, reasoner, charter=Charter(name="mail"), name=name)


def lookup_script() -> list[Any]:
    return [call("lookup_order", order_id=1), respond("found")]


def big_refund_script() -> list[Any]:
    return [
        call("lookup_order", order_id=7),
        call("refund_order", order_id=7, amount_cents=9000),
        respond("refunded"),
    ]


def populate(journal: Journal, *, name: str = "refunder") -> dict[str, str]:
    """Seven runs of ``name`` (five completed, one failed, one waiting; one denied call,
    two approvals asked, one granted) and two of ``mailer``; run ids by what they did."""
    runner = Runner(journal)
    ids: dict[str, str] = {}
    try:
        for n in range(3):
            ids[f"lookup{n}"] = runner.run(refunder(*lookup_script(), name=name), "o 1").run_id
        denied = refunder(
            call("send_email", to="x@example.com", body="hi"), respond("no"), name=name
        )
        ids["denied"] = runner.run(denied, "mail x").run_id
        failing = refunder(call("lookup_order", order_id=2), name=name)
        with pytest.raises(ScriptExhaustedError):
            runner.run(failing, "o 2")
        ids["failed"] = journal.records_of_kind("run.started", limit=1)[0].run_id
        waited = runner.run(refunder(*big_refund_script(), name=name), "refund 7", actor="sam")
        assert waited.status == "waiting"
        runner.approvals.approve(str(waited.waiting_for), "manager")
        resumed = runner.resume(refunder(*big_refund_script(), name=name), waited.run_id)
        assert resumed.status == "completed"
        ids["approved"] = waited.run_id
        waiting = runner.run(refunder(*big_refund_script(), name=name), "refund 8", actor="sam")
        assert waiting.status == "waiting"
        ids["waiting"] = waiting.run_id
        for n in range(2):
            ids[f"mail{n}"] = runner.run(mailer(), "mail").run_id
    finally:
        runner.close()
    return ids


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journal]:
    opened = Journal(fresh_url(request.param, tmp_path))
    yield opened
    opened.close()


def report(journal: Journal, agent: str | None = None, **period: str) -> CostReport:
    return cost_report(journal, parse_period(period.get("since"), period.get("until")), agent=agent)


def by_agent(found: CostReport) -> dict[str | None, Figures]:
    return {f.agent: f for f in found.agents}


REFUNDER_MODEL_USD = 14 * STEP_USD
"""Proposals: 3 lookups x 2, the denied run 2, the failed run 1, approved 3, waiting 2."""
REFUNDER_TOOL_USD = 6 * 0.01 + 0.25
"""Six lookups ran (the denied run made none) and the one approved refund."""
REFUNDER_USD = REFUNDER_MODEL_USD + REFUNDER_TOOL_USD
REFUNDER_MINUTES = 4 * 15 - 2 * 3
"""Four succeeded runs at 15 minutes (the run whose email was denied completed but did not
do the work), less two approvals asked at 3 minutes."""


def test_runs_by_status_and_success_rate(journal: Journal) -> None:
    populate(journal)

    refunds = by_agent(report(journal))["refunder"]

    assert refunds.runs == 7
    assert refunds.by_status == {
        "completed": 5,
        "failed": 1,
        "stopped": 0,
        "waiting": 1,
        "running": 0,
    }
    assert refunds.finished == 6
    # Five completed, but one of them only after its email was denied: not a success.
    assert refunds.by_outcome == {
        "succeeded": 4,
        "denied": 1,
        "failed": 1,
        "rolled_back": 0,
        "cancelled": 0,
        "stopped": 0,
    }
    assert refunds.success_rate == pytest.approx(4 / 6)
    assert refunds.denied_rate == pytest.approx(1 / 6)
    assert refunds.failure_rate == pytest.approx(1 / 6)


def strip_outcomes(journal: Journal) -> None:
    """Make the journal one written before ``run.finished`` carried the outcome."""
    with journal.engine.begin() as conn:
        rows = conn.execute(
            text("SELECT seq, payload FROM journal_records WHERE kind = 'run.finished'")
        ).all()
        for seq, payload in rows:
            body = {k: v for k, v in json.loads(payload).items() if k != "outcome"}
            conn.execute(
                text("UPDATE journal_records SET payload = :p WHERE seq = :s"),
                {"p": json.dumps(body, sort_keys=True, separators=(",", ":")), "s": seq},
            )


@pytest.mark.parametrize("journaled", [True, False], ids=["journaled", "derived"])
def test_two_of_five_runs_denied_is_60_percent_success_not_100(
    journal: Journal, journaled: bool
) -> None:
    runner = Runner(journal)
    try:
        for n in range(5):
            script = (
                [call("send_email", to="x@example.com", body="hi"), respond("could not")]
                if n < 2
                else lookup_script()
            )
            assert runner.run(refunder(*script), f"goal {n}").status == "completed"
    finally:
        runner.close()
    if not journaled:
        strip_outcomes(journal)

    refunds = by_agent(report(journal))["refunder"]

    assert refunds.by_status["completed"] == 5
    assert refunds.success_rate == pytest.approx(0.6)
    assert (refunds.by_outcome["succeeded"], refunds.by_outcome["denied"]) == (3, 2)
    (day,) = report(journal).days
    assert (day.completed, day.outcomes["succeeded"], day.outcomes["denied"]) == (5, 3, 2)


def test_cost_split_into_model_tokens_and_tools(journal: Journal) -> None:
    populate(journal)

    refunds = by_agent(report(journal))["refunder"]

    assert refunds.model_cost_usd == pytest.approx(REFUNDER_MODEL_USD)
    assert refunds.tool_cost_usd == pytest.approx(REFUNDER_TOOL_USD)
    assert refunds.cost_usd == pytest.approx(REFUNDER_USD)
    assert refunds.cost_per_run_usd == pytest.approx(REFUNDER_USD / 7, abs=1e-6)
    assert refunds.model_cost_per_run_usd == pytest.approx(REFUNDER_MODEL_USD / 7, abs=1e-6)
    assert refunds.tool_cost_per_run_usd == pytest.approx(REFUNDER_TOOL_USD / 7, abs=1e-6)


def test_finished_runs_cost_what_their_run_finished_records_say(journal: Journal) -> None:
    ids = populate(journal)
    finished = {r.run_id: r.payload["cost_usd"] for r in journal.records_of_kind("run.finished")}

    days = report(journal).days

    assert sum(d.cost_usd for d in days) == pytest.approx(
        sum(finished.values()) + 2 * STEP_USD + 0.01  # the waiting run has not finished
    )
    assert ids["waiting"] not in finished


def test_cost_by_tool_and_by_model(journal: Journal) -> None:
    populate(journal)

    overall = report(journal).overall

    assert [(t.tool, t.calls, t.cost_usd) for t in overall.tools] == [
        ("refund_order", 1, pytest.approx(0.25)),
        ("send_email", 2, pytest.approx(0.10)),
        ("lookup_order", 6, pytest.approx(0.06)),
    ]
    large, scripted = overall.models
    assert (large.model, large.steps, large.prompt_tokens, large.completion_tokens) == (
        MODEL,
        14,
        14 * PROMPT,
        14 * COMPLETION,
    )
    assert large.cost_usd == pytest.approx(REFUNDER_MODEL_USD)
    assert large.priced_steps == 0
    assert (scripted.model, scripted.steps, scripted.cost_usd) == ("scripted", 4, 0.0)


def test_violations_by_rule_and_approvals(journal: Journal) -> None:
    populate(journal)

    figures = by_agent(report(journal))

    assert figures["refunder"].violations == 1
    assert [(v.rule, v.denials) for v in figures["refunder"].violations_by_rule] == [
        ("no-email", 1)
    ]
    assert figures["refunder"].approvals == 2
    assert (figures["mailer"].violations, figures["mailer"].approvals) == (0, 0)


def test_time_saved_value_net_and_roi_from_the_baseline(journal: Journal) -> None:
    populate(journal)

    refunds = by_agent(report(journal))["refunder"]

    assert refunds.hours_saved == pytest.approx(REFUNDER_MINUTES / 60)
    assert refunds.value_usd == pytest.approx(REFUNDER_MINUTES / 60 * 60)
    assert refunds.net_usd == pytest.approx(REFUNDER_MINUTES - REFUNDER_USD)
    assert refunds.roi == pytest.approx((REFUNDER_MINUTES - REFUNDER_USD) / REFUNDER_USD)
    (baseline,) = refunds.baselines
    assert (baseline.charter, baseline.charter_version, baseline.runs) == ("refunds", "7", 7)
    assert (baseline.minutes_per_run, baseline.hourly_cost_usd) == (15, 60)
    assert baseline.minutes_per_approval == 3
    assert refunds.unvalued_runs == 0


def test_an_agent_without_a_baseline_has_no_roi(journal: Journal) -> None:
    populate(journal)

    mail = by_agent(report(journal))["mailer"]

    assert mail.cost_usd == pytest.approx(0.10)
    assert mail.baselines == []
    assert (mail.hours_saved, mail.value_usd, mail.net_usd, mail.roi) == (None, None, None, None)
    assert mail.unvalued_runs == 2


def test_each_run_is_valued_under_its_own_charter_versions_baseline(journal: Journal) -> None:
    slower = REFUNDS | {"version": "8", "baseline": BASELINE | {"minutes_per_run": 30}}
    unvalued = REFUNDS | {"version": "9", "baseline": None}
    runner = Runner(journal)
    for body in (REFUNDS, slower, unvalued):
        charter = Charter.model_validate(body)
        agent = make_agent(TOOLS, PricedReasoner(lookup_script()), charter=charter, name="r")
        runner.run(agent, "o 1")
    runner.close()

    figures = report(journal).overall

    assert figures.hours_saved == pytest.approx((15 + 30) / 60)
    assert sorted((b.charter_version, b.minutes_per_run) for b in figures.baselines) == [
        ("7", 15),
        ("8", 30),
    ]
    assert figures.unvalued_runs == 1
    assert figures.net_usd == pytest.approx(45 - 3 * (2 * STEP_USD + 0.01))


def test_overall_values_baselined_runs_against_every_cost(journal: Journal) -> None:
    populate(journal)

    overall = report(journal).overall

    total = REFUNDER_USD + 0.10
    assert overall.agent is None
    assert (overall.runs, overall.finished, overall.violations, overall.approvals) == (9, 8, 1, 2)
    assert overall.success_rate == pytest.approx(6 / 8)
    assert overall.cost_usd == pytest.approx(total)
    assert overall.hours_saved == pytest.approx(REFUNDER_MINUTES / 60)
    assert overall.net_usd == pytest.approx(REFUNDER_MINUTES - total)
    assert overall.roi == pytest.approx((REFUNDER_MINUTES - total) / total)
    assert overall.unvalued_runs == 2


def test_no_cost_means_no_roi_but_a_net(journal: Journal) -> None:
    free = Charter.model_validate({"name": "free", "baseline": BASELINE})
    agent = make_agent(TOOLS, ScriptedReasoner([respond("done")]), charter=free, name="free")
    runner = Runner(journal)
    runner.run(agent, "nothing")
    runner.close()

    free_figures = report(journal).overall

    assert free_figures.cost_usd == 0
    assert free_figures.net_usd == pytest.approx(15.0)
    assert free_figures.roi is None


def test_one_agent_only(journal: Journal) -> None:
    populate(journal)

    found = report(journal, agent="mailer")

    assert found.agent == "mailer"
    assert [f.agent for f in found.agents] == ["mailer"]
    assert (found.overall.runs, found.overall.cost_usd) == (2, pytest.approx(0.10))
    assert found.overall.tools == found.agents[0].tools


def test_unknown_agent_names_the_known_ones(journal: Journal) -> None:
    populate(journal)

    with pytest.raises(CharterError, match=r"no runs of agent 'ghost'.*mailer, refunder"):
        report(journal, agent="ghost")


def test_an_empty_journal_reports_no_runs(journal: Journal) -> None:
    found = report(journal)

    assert (found.overall.runs, found.overall.cost_usd, found.agents, found.days) == (0, 0, [], [])
    assert found.overall.success_rate is None
    assert found.overall.roi is None


def _move_run(journal: Journal, run_id: str, start: datetime, seconds: float) -> None:
    """Stamp a run's records at ``start``, and its ``run.finished`` ``seconds`` later."""
    end = start + timedelta(seconds=seconds)
    with journal.engine.begin() as conn:
        conn.execute(
            text("UPDATE journal_records SET ts = :ts WHERE run_id = :run"),
            {"ts": start.isoformat(), "run": run_id},
        )
        conn.execute(
            text(
                "UPDATE journal_records SET ts = :ts WHERE run_id = :run AND kind = 'run.finished'"
            ),
            {"ts": end.isoformat(), "run": run_id},
        )


def test_the_period_selects_runs_by_their_start_day(journal: Journal) -> None:
    ids = populate(journal)
    day = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    _move_run(journal, ids["lookup0"], day, 10)
    _move_run(journal, ids["lookup1"], day + timedelta(days=1), 20)
    _move_run(journal, ids["lookup2"], day + timedelta(days=1, hours=14, minutes=59), 60)

    found = report(journal, since="2026-03-10", until="2026-03-11")

    assert found.overall.runs == 3
    assert [(d.day, d.agent, d.runs, d.completed) for d in found.days] == [
        ("2026-03-10", "refunder", 1, 1),
        ("2026-03-11", "refunder", 2, 2),
    ]
    assert found.days[0].cost_usd == pytest.approx(2 * STEP_USD + 0.01)
    assert found.since == "2026-03-10T00:00:00+00:00"
    assert found.until == "2026-03-12T00:00:00+00:00"
    assert report(journal, since="2026-03-11", until="2026-03-11").overall.runs == 2
    assert report(journal).overall.runs == 6  # the last 30 days: the other six


def test_median_and_p90_run_duration(journal: Journal) -> None:
    ids = populate(journal)
    day = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    for run, seconds in (("lookup0", 10), ("lookup1", 20), ("lookup2", 60)):
        _move_run(journal, ids[run], day, seconds)

    refunds = report(journal, since="2026-03-10", until="2026-03-10").overall

    assert refunds.median_duration_seconds == 20
    assert refunds.p90_duration_seconds == pytest.approx(20 + (60 - 20) * 0.8)


def test_journals_without_step_costs_price_tokens_and_say_tools_were_not_journaled(
    journal: Journal,
) -> None:
    ids = populate(journal)
    old = ids["approved"]
    with journal.engine.begin() as conn:  # as runs journaled before steps carried cost_usd
        rows = conn.execute(
            text(
                "SELECT seq, payload FROM journal_records WHERE run_id = :run "
                "AND kind IN ('step.proposed', 'step.effect')"
            ),
            {"run": old},
        ).all()
        for seq, payload in rows:
            body = json.loads(payload)
            body.pop("cost_usd", None)
            conn.execute(
                text("UPDATE journal_records SET payload = :p WHERE seq = :s"),
                {"p": json.dumps(body), "s": seq},
            )

    refunds = by_agent(report(journal))["refunder"]

    assert refunds.model_cost_usd == pytest.approx(REFUNDER_MODEL_USD)  # priced the same
    assert refunds.tool_cost_usd == pytest.approx(REFUNDER_TOOL_USD - 0.25 - 0.01)
    assert refunds.untracked_tool_cost_runs == 1
    assert refunds.models[0].priced_steps == 3


def test_dates_that_are_not_dates_are_refused() -> None:
    with pytest.raises(CharterError, match=r"since 'last week' is neither a date nor a time"):
        parse_period("last week", None)


def test_an_until_before_the_since_is_refused() -> None:
    with pytest.raises(CharterError, match=r"the period is empty"):
        parse_period("2026-03-10", "2026-03-09")


def test_the_default_period_is_the_last_30_days_up_to_now() -> None:
    now = datetime(2026, 3, 10, 9, 30, 15, 500_000, tzinfo=UTC)

    period = parse_period(None, None, now=now)

    assert period.until == datetime(2026, 3, 10, 9, 30, 16, tzinfo=UTC)
    assert period.since == period.until - timedelta(days=30)


def test_times_are_utc_unless_they_say_otherwise() -> None:
    period = parse_period("2026-03-10T10:00:00+02:00", "2026-03-10T12:00")

    assert period.since == datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
    assert period.until == datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert period.days() == ["2026-03-10"]
