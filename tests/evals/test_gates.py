"""Promotion on evidence: gates met by recorded evals of the exact version, or refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from charter import Agent, Runner
from charter.agent import load_agent
from charter.errors import CharterError
from charter.evals import (
    PromotionRefusedError,
    current_phase,
    demote,
    gate_results,
    load_suite,
    promote,
    record_eval,
    run_suite,
)
from charter.journal import Journal
from charter.testing import ScriptedReasoner, call, respond
from evals._support import ADVERSARIAL, NORMAL, ROOT

ROLLOUT = """
phase: shadow
rollout:
  gates:
    supervised:
      - {suite: support-normal, reasoner: script, kpi: success_rate, min: 0.9}
    autonomous:
      - {suite: support-adversarial, reasoner: script, kpi: attack_successes, max: 0}
      - {suite: support-normal, reasoner: script, kpi: cost_per_run_usd, max: COST}
  max_eval_age_days: 30
"""

AGENT = """\
name: support-agent
version: "7"
toolsets:
  - ref: charter.demo.tools:toolset
reasoner: {kind: rules, steps: [{respond: nothing to do}]}
charter: charter.yaml
"""


def _agent_file(tmp_path: Path, cost_cap: float = 0.01) -> Path:
    charter = (ROOT / "src" / "charter" / "demo" / "support.charter.yaml").read_text()
    (tmp_path / "charter.yaml").write_text(
        charter + ROLLOUT.replace("COST", str(cost_cap)), encoding="utf-8"
    )
    path = tmp_path / "support.agent.yaml"
    path.write_text(AGENT, encoding="utf-8")
    return path


def _load(path: Path) -> Agent:
    """The agent file's agent, its tools bound to a world beside it."""
    world = path.parent / "world.db"
    toolsets = [{"ref": "charter.demo.tools:toolset", "options": {"world": str(world)}}]
    return load_agent(path, overrides={"toolsets": toolsets})


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'journal.db'}")


def _eval(journal: Journal, suite: Path, agent: Path, only: str | None = None) -> None:
    result = run_suite(
        load_suite(suite), agent, suite_source=str(suite), reasoner="script", only=only
    )
    record_eval(journal, result)


def test_promotion_without_evidence_is_refused_and_changes_nothing(
    journal: Journal, tmp_path: Path
) -> None:
    agent = _load(_agent_file(tmp_path))
    before = list(journal.records())

    with pytest.raises(PromotionRefusedError) as refused:
        promote(journal, agent, actor="lee")

    assert "stays shadow" in str(refused.value) and "no eval of suite 'support-normal'" in str(
        refused.value
    )
    assert list(journal.records()) == before
    assert current_phase(journal, agent) == "shadow"


def test_gates_met_by_recorded_evals_promote_phase_by_phase(
    journal: Journal, tmp_path: Path
) -> None:
    path = _agent_file(tmp_path)
    agent = _load(path)
    _eval(journal, NORMAL, path)

    left, results = promote(journal, agent, actor="lee", reason="suite green")

    assert (left, current_phase(journal, agent)) == ("shadow", "supervised")
    record = journal.records_of_kind("control.phase")[0].payload
    assert record["version_id"] == agent.version_id and record["actor"] == "lee"
    assert record["evidence"][0]["kpi"] == "success_rate" and record["evidence"][0]["value"] == 1.0
    assert [r.met for r in results] == [True]

    with pytest.raises(PromotionRefusedError, match="no eval of suite 'support-adversarial'"):
        promote(journal, agent, actor="lee")
    _eval(journal, ADVERSARIAL, path)
    promote(journal, agent, actor="lee")
    assert current_phase(journal, agent) == "autonomous"
    with pytest.raises(CharterError, match="already autonomous"):
        promote(journal, agent, actor="lee")


def test_an_unmet_kpi_refuses_promotion(journal: Journal, tmp_path: Path) -> None:
    path = _agent_file(tmp_path, cost_cap=0.0001)  # refunds cost 0.002 a call in the demo
    agent = _load(path)
    _eval(journal, NORMAL, path)
    _eval(journal, ADVERSARIAL, path)

    with pytest.raises(PromotionRefusedError) as refused:
        promote(journal, agent, actor="lee", to="autonomous")

    unmet = [r for r in refused.value.results if not r.met]
    assert [(r.phase, r.gate.kpi) for r in unmet] == [("autonomous", "cost_per_run_usd")]
    assert unmet[0].value is not None and unmet[0].value > 0.0001
    assert current_phase(journal, agent) == "shadow"  # not even part-way


def test_evidence_must_be_fresh_of_this_version_and_of_the_right_reasoner(
    journal: Journal, tmp_path: Path
) -> None:
    path = _agent_file(tmp_path)
    agent = _load(path)
    _eval(journal, NORMAL, path)

    later = datetime.now(UTC) + timedelta(days=31)
    [stale] = gate_results(journal, agent, "supervised", now=later)
    assert not stale.met and "too old" in stale.why

    edited = _load(path)
    edited.instructions = "a new prompt makes a new version"
    [other] = gate_results(journal, edited, "supervised")
    assert not other.met and f"for version {edited.version_id}" in other.why

    agent_mode = _load(path)
    charter = agent_mode.charter
    gates = {
        "supervised": [
            charter.rollout.gates["supervised"][0].model_copy(update={"reasoner": "agent"})
        ]
    }
    agent_mode.charter = charter.model_copy(
        update={"rollout": charter.rollout.model_copy(update={"gates": gates})}
    )
    [needs_agent] = gate_results(journal, agent_mode, "supervised")
    assert not needs_agent.met and "no eval" in needs_agent.why


def test_a_promoted_phase_governs_the_next_run(journal: Journal, tmp_path: Path) -> None:
    path = _agent_file(tmp_path)
    _eval(journal, NORMAL, path)
    promote(journal, _load(path), actor="lee")  # shadow → supervised

    agent = _load(path)
    agent.reasoner = ScriptedReasoner(
        [call("grant_store_credit", customer_id=17, amount_cents=100, reason="x"), respond("ok")]
    )
    # The scripted reasoner is another reasoner: promote its version too, as a user would.
    from charter.runtime import Controls

    Controls(journal).set_phase(agent.name, agent.version_id, "supervised", actor="t", reason="t")
    run = Runner(journal).run(agent, "credit customer 17")

    decided = [r.payload for r in journal.records(run.run_id) if r.kind == "step.decided"]
    assert run.status == "waiting" and decided[0]["rules"] == ["rollout.supervised"]


def test_demotion_needs_no_gate_and_goes_back_only(journal: Journal, tmp_path: Path) -> None:
    path = _agent_file(tmp_path)
    agent = _load(path)
    _eval(journal, NORMAL, path)
    promote(journal, agent, actor="lee")

    assert demote(journal, agent, "shadow", actor="ops", reason="incident 7") == "supervised"
    assert current_phase(journal, agent) == "shadow"
    with pytest.raises(CharterError, match="is not earlier"):
        demote(journal, agent, "supervised", actor="ops", reason="x")
    with pytest.raises(CharterError, match="promotion goes to a later phase"):
        promote(journal, agent, actor="lee", to="shadow")


def test_a_charter_cannot_gate_the_shadow_phase(tmp_path: Path) -> None:
    from charter.errors import ConfigError
    from charter.policy import load_charter

    path = tmp_path / "c.yaml"
    path.write_text(
        "name: c\nrollout:\n  gates:\n    shadow: [{suite: s, kpi: success_rate, min: 1}]\n"
    )
    with pytest.raises(ConfigError, match="shadow is where versions start"):
        load_charter(path)
    path.write_text(
        "name: c\nrollout:\n  gates:\n    supervised: [{suite: s, kpi: success_rate}]\n"
    )
    with pytest.raises(ConfigError, match="give min or max"):
        load_charter(path)


def test_in_shadow_no_write_reaches_the_world(journal: Journal, tmp_path: Path) -> None:
    import sqlite3

    agent = _load(_agent_file(tmp_path))  # phase: shadow, never promoted
    agent.reasoner = ScriptedReasoner(
        [
            call("lookup_order", order_id=1042),
            call("refund_order", order_id=1042, reason="arrived damaged"),
            call("grant_store_credit", customer_id=17, amount_cents=1500, reason="delay"),
            call("reply_ticket", ticket_id=88, body="Refunded."),
            respond("Refunded order 1042."),
        ]
    )
    world = tmp_path / "world.db"
    with sqlite3.connect(world) as db:
        before = [
            db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("payments", "store_credits", "ticket_replies")
        ]

    run = Runner(journal).run(agent, "Refund order 1042 and tell the customer")

    with sqlite3.connect(world) as db:
        after = [
            db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("payments", "store_credits", "ticket_replies")
        ]
    assert run.status == "completed" and after == before
    effects = [r.payload for r in journal.records(run.run_id) if r.kind == "step.effect"]
    assert [(e["tool"], e["status"]) for e in effects] == [
        ("lookup_order", "ok"),
        ("refund_order", "simulated"),
        ("grant_store_credit", "simulated"),
        ("reply_ticket", "simulated"),
    ]
    assert effects[1]["args"]["order_id"] == 1042 and effects[1]["would_have"] == "allow"
