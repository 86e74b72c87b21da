"""Rollout phases at run time: shadow simulates writes, supervised asks, demotion on KPIs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from charter import Agent, Charter, Journal, Runner, tool
from charter.errors import ReasonerUnavailableError
from charter.journal import canonical_json
from charter.policy import Demotion, Rollout, RunGate
from charter.reasoners import Action, RunContext
from charter.runtime import Controls
from charter.runtime._rollout import DEMOTER, production_kpis
from charter.testing import ScriptedReasoner, call, make_agent, respond

looked_up: list[int] = []
tagged: list[int] = []


@tool
def lookup_order(order_id: int) -> dict[str, int]:
    """Look up an order."""
    looked_up.append(order_id)
    return {"order_id": order_id}


@tool(side_effect="write")
def tag(order_id: int) -> str:
    """Tag an order."""
    tagged.append(order_id)
    return "tagged"


@tool(side_effect="write")
def explode(order_id: int) -> str:
    """A write that fails."""
    raise RuntimeError(f"backend down for {order_id}")


def _model_down(context: RunContext) -> Action:
    raise ReasonerUnavailableError("model endpoint unreachable")


@pytest.fixture(autouse=True)
def _reset() -> None:
    looked_up.clear()
    tagged.clear()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'journal.db'}")


def _payloads(journal: Journal, run_id: str, kind: str) -> list[dict[str, Any]]:
    return [r.payload for r in journal.records(run_id) if r.kind == kind]


def _charter(**fields: Any) -> Charter:
    return Charter(name="c", **fields)


def _agent(charter: Charter, *script: Any) -> Agent:
    """The same agent version whatever it is scripted to do (a scripted reasoner's
    description, part of the version id, counts its items: pad to four)."""
    padded = [*script, *[respond("done")] * (4 - len(script))]
    return make_agent([lookup_order, tag, explode], ScriptedReasoner(padded), charter=charter)


# Shadow: writes are simulated, reads run, denials stay denials.


def test_shadow_runs_reads_and_only_simulates_writes(journal: Journal) -> None:
    script = ScriptedReasoner(
        [call("lookup_order", order_id=7), call("tag", order_id=7), respond("tagged 7")]
    )
    agent = make_agent([lookup_order, tag], script, charter=_charter(phase="shadow"))

    run = Runner(journal).run(agent, "tag order 7")

    assert run.status == "completed"
    assert (looked_up, tagged) == ([7], [])  # the write never reached the world
    effects = _payloads(journal, run.run_id, "step.effect")
    assert effects[0]["status"] == "ok"
    assert effects[1] | {"us": 0} == {
        "step": 2,
        "tool": "tag",
        "agent": "test-agent",
        "status": "simulated",
        "would_have": "allow",
        "args": {"order_id": 7},
        "us": 0,
    }
    decided = _payloads(journal, run.run_id, "step.decided")
    assert decided[1]["verdict"] == "allow" and decided[1]["phase"] == "shadow"
    assert decided[1]["simulated"] is True and "simulated" not in decided[0]
    seen = script.contexts[-1].turns[-1].observation
    assert seen.status == "ok" and seen.content["simulated"] is True


def test_shadow_journals_a_would_be_approval_without_asking(journal: Journal) -> None:
    ask = {"id": "tags-ask", "effect": "ask", "tools": ["tag"], "reason": "tags need a human"}
    agent = make_agent(
        [tag],
        ScriptedReasoner([call("tag", order_id=3), respond("done")]),
        charter=_charter(phase="shadow", rules=[ask]),
    )

    run = Runner(journal).run(agent, "g")

    assert run.status == "completed" and tagged == []
    assert _payloads(journal, run.run_id, "approval.requested") == []
    assert _payloads(journal, run.run_id, "step.effect")[0]["would_have"] == "ask"


def test_shadow_keeps_denials(journal: Journal) -> None:
    agent = make_agent(
        [tag],
        ScriptedReasoner([call("tag", order_id=3), respond("could not")]),
        charter=_charter(phase="shadow", tools={"deny": ["tag"]}),
    )

    run = Runner(journal).run(agent, "g")

    assert run.steps[0].observation is not None
    assert run.steps[0].observation.status == "denied"
    assert _payloads(journal, run.run_id, "step.effect") == []


def test_a_simulate_rule_simulates_in_any_phase(journal: Journal) -> None:
    rule = {"id": "dry-run-tags", "effect": "simulate", "tools": ["tag"]}
    agent = make_agent(
        [tag],
        ScriptedReasoner([call("tag", order_id=4), respond("ok")]),
        charter=_charter(rules=[rule]),
    )

    run = Runner(journal).run(agent, "g")

    assert tagged == [] and run.status == "completed"
    effect = _payloads(journal, run.run_id, "step.effect")[0]
    assert (effect["status"], effect["would_have"]) == ("simulated", "simulate")


# Supervised: every write the charter allows asks.


def test_supervised_phase_asks_for_writes_and_runs_reads(journal: Journal) -> None:
    agent = make_agent(
        [lookup_order, tag],
        ScriptedReasoner([call("lookup_order", order_id=1), call("tag", order_id=1)]),
        charter=_charter(phase="supervised"),
    )

    run = Runner(journal).run(agent, "g")

    assert run.status == "waiting" and (looked_up, tagged) == ([1], [])
    decided = _payloads(journal, run.run_id, "step.decided")[-1]
    assert decided["verdict"] == "ask" and decided["rules"] == ["rollout.supervised"]


# Phases set by promotion belong to one exact version.


def test_a_promoted_version_acts_and_other_versions_keep_the_charters_phase(
    journal: Journal,
) -> None:
    def agent() -> Any:
        script = ScriptedReasoner([call("tag", order_id=5), respond("done")])
        return make_agent([tag], script, charter=_charter(phase="shadow"))

    promoted = agent()
    Controls(journal).set_phase(
        promoted.name, promoted.version_id, "autonomous", actor="lee", reason="gates met"
    )
    Runner(journal).run(agent(), "g")
    assert tagged == [5]

    edited = agent()
    edited.instructions = "a new prompt is a new version"
    Runner(journal).run(edited, "g")
    assert tagged == [5]  # still shadow: simulated


def test_conditions_see_the_versions_current_phase(journal: Journal) -> None:
    rule = {
        "id": "no-tags-before-autonomy",
        "effect": "deny",
        "tools": ["tag"],
        "when": 'context.phase != "autonomous"',
    }
    charter = _charter(phase="supervised", rules=[rule])

    def run_once() -> str:
        run = Runner(journal).run(_agent(charter, call("tag", order_id=6)), "g")
        return _payloads(journal, run.run_id, "step.decided")[0]["verdict"]

    assert run_once() == "deny"
    agent = _agent(charter)
    Controls(journal).set_phase(agent.name, agent.version_id, "autonomous", actor="a", reason="r")
    assert run_once() == "allow"


# Demotion on a KPI breach in production.


def _demoting_charter(min_runs: int = 3) -> Charter:
    watch = Demotion(
        window=4, min_runs=min_runs, kpis=[RunGate(kpi="failure_rate", max=0.5)], to="supervised"
    )
    return _charter(rollout=Rollout(demote=watch))


def _failing_run(journal: Journal, charter: Charter) -> None:
    run = Runner(journal).run(_agent(charter, call("explode", order_id=1), _model_down), "g")
    assert run.status == "failed"


def test_breaching_a_production_kpi_demotes_the_version(journal: Journal) -> None:
    charter = _demoting_charter()
    agent = _agent(charter)
    for _ in range(2):
        _failing_run(journal, charter)
    assert Controls(journal).state().phase_of(agent.name, agent.version_id) is None  # too early

    _failing_run(journal, charter)

    phases = [r.payload for r in journal.records_of_kind("control.phase")]
    assert len(phases) == 1
    demotion = phases[0]
    assert demotion["phase"] == "supervised" and demotion["previous"] == "autonomous"
    assert demotion["actor"] == DEMOTER and "failure_rate <= 0.5" in demotion["reason"]
    assert demotion["evidence"][0] | {"value": 1.0} == {
        "kpi": "failure_rate",
        "value": 1.0,
        "bound": "failure_rate <= 0.5",
        "runs": 3,
    }
    run = Runner(journal).run(_agent(charter, call("tag", order_id=9)), "g")
    assert run.status == "waiting" and tagged == []  # its writes now ask


def test_healthy_runs_are_not_demoted(journal: Journal) -> None:
    charter = _demoting_charter(min_runs=2)
    for order in range(3):
        Runner(journal).run(_agent(charter, call("tag", order_id=order)), "g")

    assert journal.records_of_kind("control.phase") == []
    agent = _agent(charter)
    kpis = production_kpis(journal, agent.name, agent.version_id, 10)
    assert kpis.runs == 3 and kpis.values["success_rate"] == 1.0
    assert kpis.values["failure_rate"] == 0.0


def test_production_kpis_count_only_the_versions_newest_runs(journal: Journal) -> None:
    charter = _demoting_charter(min_runs=4)
    for _ in range(2):
        _failing_run(journal, charter)
    for order in range(3):
        Runner(journal).run(_agent(charter, call("tag", order_id=order)), "g")
    other = make_agent([tag], ScriptedReasoner([call("tag", order_id=1), respond("ok")]))
    Runner(journal).run(other, "g")  # another version of the same agent name

    agent = _agent(charter)
    kpis = production_kpis(journal, agent.name, agent.version_id, 4)

    assert kpis.runs == 4
    assert kpis.values["failure_rate"] == 0.25  # one of the two failures is older than 4 runs


def _denied_run(journal: Journal, charter: Charter) -> None:
    revoked = Controls(journal)
    revoked.revoke("tag", actor="secops", reason="leak")
    run = Runner(journal).run(_agent(charter, call("tag", order_id=1)), "g")
    revoked.restore("tag", actor="secops")
    assert (run.status, run.outcome) == ("completed", "denied")


def test_runs_that_completed_after_a_denial_breach_a_success_rate_gate(journal: Journal) -> None:
    watch = Demotion(
        window=4, min_runs=3, kpis=[RunGate(kpi="success_rate", min=0.8)], to="supervised"
    )
    charter = _charter(rollout=Rollout(demote=watch))
    for _ in range(3):
        _denied_run(journal, charter)

    (demotion,) = [r.payload for r in journal.records_of_kind("control.phase")]
    assert "success_rate >= 0.8" in demotion["reason"]
    assert demotion["evidence"][0]["value"] == 0.0
    agent = _agent(charter)
    kpis = production_kpis(journal, agent.name, agent.version_id, 4)
    assert (kpis.values["denial_rate"], kpis.values["failure_rate"]) == (1.0, 0.0)


def test_production_kpis_derive_outcomes_a_journal_did_not_record(journal: Journal) -> None:
    charter = _demoting_charter(min_runs=4)  # three runs: too few to demote
    _denied_run(journal, charter)
    _failing_run(journal, charter)
    Runner(journal).run(_agent(charter, call("tag", order_id=2)), "g")
    with journal.engine.begin() as conn:  # as written before run.finished had an outcome
        for record in journal.records_of_kind("run.finished"):
            body = {k: v for k, v in record.payload.items() if k != "outcome"}
            conn.execute(
                text("UPDATE journal_records SET payload = :p WHERE seq = :s"),
                {"p": canonical_json(body), "s": record.seq},
            )
    agent = _agent(charter)

    kpis = production_kpis(journal, agent.name, agent.version_id, 10)

    assert kpis.runs == 3
    assert kpis.values["success_rate"] == pytest.approx(1 / 3)
    assert kpis.values["denial_rate"] == pytest.approx(1 / 3)
    assert kpis.values["failure_rate"] == pytest.approx(1 / 3)
