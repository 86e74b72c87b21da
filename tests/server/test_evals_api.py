"""Evals and rollout over the JSON API: recorded evals listed and shown, each loaded
agent version's phase and gates, promotion on evidence (refused without it, journaling
nothing) and demotion."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from charter.agent import load_agent
from charter.evals import CaseResult, EvalResult, load_suite, record_eval, run_suite
from evals._support import GATED_AGENT, NORMAL

if TYPE_CHECKING:  # the fixture's type; pytest provides the fixture itself
    from server._support import Service

AGENT = "rollout-agent"
PROMOTE = f"/api/agents/{AGENT}/promote"
DEMOTE = f"/api/agents/{AGENT}/demote"


def write_gated_agent(directory: Path) -> Path:
    """A shadow agent gated on the normal suite, its tools bound to a world beside it."""
    path = directory / "rollout.agent.yaml"
    path.write_text(GATED_AGENT.replace("WORLD", str(directory / "world.db")), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def gated_agent(tmp_path: Path) -> Path:
    """The gated agent, in the directory the service loads (autouse, so it is written
    before the service fixture reads the directory)."""
    return write_gated_agent(tmp_path)


def run_eval(service: Service, agent_file: Path) -> EvalResult:
    """The normal suite's order-status case, scripted, recorded in the service's journal."""
    result = run_suite(
        load_suite(NORMAL),
        agent_file,
        suite_source=str(NORMAL),
        reasoner="script",
        only="^order-status$",
    )
    record_eval(service.journal, result)
    return result


def made_eval(
    agent_file: Path,
    *,
    eval_id: str = "eval-20261124-120000-aaaaaa",
    suite: str = "support-normal",
    agent: str | None = None,
    passed: tuple[bool, ...] = (True, False),
    attacked: bool | None = None,
    failure: str = "answer does not contain 'delivered'",
) -> EvalResult:
    """An eval of ``agent_file``'s version built by hand: one case per ``passed``, plus an
    attack case if ``attacked`` is not None."""
    loaded = load_agent(agent_file)
    cases = [
        CaseResult(
            name=f"case-{i}",
            scenario=f"case-{i}",
            variant=None,
            passed=ok,
            attack_succeeded=None,
            status="completed",
            steps=2,
            cost_usd=0.002,
            denials=0 if ok else 1,
            failures=() if ok else (failure,),
        )
        for i, ok in enumerate(passed)
    ]
    if attacked is not None:
        cases.append(
            CaseResult(
                name="kb-exfiltration",
                scenario="kb-exfiltration",
                variant="planted",
                passed=None,
                attack_succeeded=attacked,
                status="completed",
                steps=3,
                attack_evidence=("send_email reached attacker@evil.test",) if attacked else (),
            )
        )
    return EvalResult(
        eval_id=eval_id,
        suite=suite,
        suite_digest="d" * 64,
        agent=agent or loaded.name,
        agent_version=loaded.version,
        version_id=loaded.version_id,
        agent_source=str(agent_file),
        reasoner="script",
        started=datetime.now(UTC).isoformat(),
        seconds=1.5,
        cases=tuple(cases),
    )


def _entry(service: Service, name: str = AGENT) -> dict[str, Any]:
    listed = service.client.get("/api/agents", headers=service.auth("viewer"))
    assert listed.status_code == 200, listed.text
    (entry,) = [a for a in listed.json()["agents"] if a["name"] == name]
    return entry


def _phases(service: Service) -> list[dict[str, Any]]:
    records = sorted(service.journal.records_of_kind("control.phase"), key=lambda r: r.seq)
    return [r.payload for r in records]


# Evals


def test_evals_are_listed_newest_first_with_their_kpis(service: Service, gated_agent: Path) -> None:
    first = made_eval(gated_agent, eval_id="eval-1", passed=(True, True, True, False))
    second = made_eval(gated_agent, eval_id="eval-2", suite="support-adversarial", attacked=True)
    record_eval(service.journal, first)
    record_eval(service.journal, second)

    listed = service.client.get("/api/evals", headers=service.auth("viewer")).json()

    assert [e["eval_id"] for e in listed] == ["eval-2", "eval-1"]
    newest, oldest = listed
    assert oldest["kpis"]["success_rate"] == 0.75 and oldest["case_count"] == 4
    assert newest["kpis"]["attack_successes"] == 1.0
    assert newest["version_id"] == load_agent(gated_agent).version_id
    assert (newest["suite"], newest["agent"], newest["reasoner"]) == (
        "support-adversarial",
        AGENT,
        "script",
    )
    assert newest["started"] == second.started and newest["seconds"] == 1.5


def test_evals_are_filtered_by_suite_and_agent_and_limited(
    service: Service, gated_agent: Path
) -> None:
    record_eval(service.journal, made_eval(gated_agent, eval_id="eval-1"))
    record_eval(service.journal, made_eval(gated_agent, eval_id="eval-2", suite="other"))
    record_eval(service.journal, made_eval(gated_agent, eval_id="eval-3", agent="someone"))

    def ids(query: str) -> list[str]:
        found = service.client.get(f"/api/evals?{query}", headers=service.auth("viewer"))
        assert found.status_code == 200, found.text
        return [e["eval_id"] for e in found.json()]

    assert ids("suite=other") == ["eval-2"]
    assert ids(f"agent={AGENT}") == ["eval-2", "eval-1"]
    assert ids("suite=support-normal&agent=someone") == ["eval-3"]
    assert ids("limit=1") == ["eval-3"]
    assert ids("suite=nothing") == []


def test_an_eval_shows_every_case_with_its_outcome(service: Service, gated_agent: Path) -> None:
    record_eval(service.journal, made_eval(gated_agent, eval_id="eval-1", attacked=False))

    shown = service.client.get("/api/evals/eval-1", headers=service.auth("viewer"))

    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["eval_id"] == "eval-1" and body["suite_digest"] == "d" * 64
    assert [(c["name"], c["outcome"]) for c in body["cases"]] == [
        ("case-0", "passed"),
        ("case-1", "failed"),
        ("kb-exfiltration", "defended"),
    ]
    assert body["cases"][1]["failures"] == ["answer does not contain 'delivered'"]
    assert body["kpis"]["attack_successes"] == 0


def test_an_unknown_eval_is_404(service: Service, gated_agent: Path) -> None:
    record_eval(service.journal, made_eval(gated_agent, eval_id="eval-12345"))

    for eval_id in ("eval-missing", "eval-123"):  # an exact id, not a prefix
        missing = service.client.get(f"/api/evals/{eval_id}", headers=service.auth("viewer"))
        assert missing.status_code == 404 and eval_id in missing.json()["detail"]


def test_evals_need_a_token(service: Service) -> None:
    assert service.client.get("/api/evals").status_code == 401
    assert service.client.get("/api/evals/eval-1").status_code == 401


# Rollout in the agents listing


def test_agents_show_the_loaded_versions_phase_and_gates(
    service: Service, gated_agent: Path
) -> None:
    entry = _entry(service)

    assert entry["loaded"] and entry["runs"] == 0
    assert entry["version_id"] == load_agent(gated_agent).version_id
    assert (entry["phase"], entry["next_phase"]) == ("shadow", "supervised")
    (gate,) = entry["gates"]
    assert {k: gate[k] for k in ("phase", "suite", "kpi", "bound", "met")} == {
        "phase": "supervised",
        "suite": "support-normal",
        "kpi": "success_rate",
        "bound": "success_rate >= 0.8",
        "met": False,
    }
    assert "no eval of suite 'support-normal'" in gate["why"] and gate["eval_id"] is None
    ungated = _entry(service, "refunder")  # no phase declared: autonomous, nothing to pass
    assert (ungated["phase"], ungated["next_phase"], ungated["gates"]) == ("autonomous", None, [])


def test_a_gate_is_judged_by_the_newest_eval_of_the_version(
    service: Service, gated_agent: Path
) -> None:
    record_eval(service.journal, made_eval(gated_agent, eval_id="eval-1", passed=(True, False)))

    (gate,) = _entry(service)["gates"]

    assert not gate["met"] and gate["eval_id"] == "eval-1" and gate["value"] == 0.5
    assert gate["why"] == "success_rate >= 0.8: success_rate = 0.5 in eval eval-1"


# Promotion and demotion


def test_a_promotion_without_evidence_is_refused_and_journals_nothing(service: Service) -> None:
    before = len(list(service.journal.records()))

    refused = service.client.post(
        PROMOTE, json={"reason": "looks fine"}, headers=service.auth("sam")
    )

    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert "stays shadow" in body["detail"]
    (unmet,) = body["unmet"]
    assert (unmet["phase"], unmet["suite"], unmet["kpi"]) == (
        "supervised",
        "support-normal",
        "success_rate",
    )
    assert "no eval of suite 'support-normal'" in unmet["why"]
    assert len(list(service.journal.records())) == before and _phases(service) == []
    assert _entry(service)["phase"] == "shadow"


def test_a_promotion_past_an_unmet_gate_is_refused(service: Service, gated_agent: Path) -> None:
    record_eval(service.journal, made_eval(gated_agent, passed=(True, False, False)))

    refused = service.client.post(
        PROMOTE, json={"reason": "skip ahead", "to": "autonomous"}, headers=service.auth("sam")
    )

    assert refused.status_code == 409
    (unmet,) = refused.json()["unmet"]
    assert unmet["phase"] == "supervised" and "success_rate = 0.333" in unmet["why"]
    assert _phases(service) == []


def test_an_eval_that_meets_the_gate_lets_an_operator_promote(
    service: Service, gated_agent: Path
) -> None:
    evaluated = run_eval(service, gated_agent)

    promoted = service.client.post(
        PROMOTE, json={"reason": "suite green"}, headers=service.auth("sam")
    )

    assert promoted.status_code == 200, promoted.text
    body = promoted.json()
    version_id = load_agent(gated_agent).version_id
    assert (body["previous"], body["phase"], body["version_id"]) == (
        "shadow",
        "supervised",
        version_id,
    )
    (evidence,) = body["evidence"]
    assert evidence["met"] and evidence["eval_id"] == evaluated.eval_id
    assert evidence["value"] == 1.0
    (record,) = _phases(service)
    assert (record["actor"], record["reason"]) == ("sam", "suite green")
    assert record["phase"] == "supervised"
    assert record["version_id"] == version_id
    assert record["evidence"][0]["eval_id"] == evaluated.eval_id
    entry = _entry(service)
    assert (entry["phase"], entry["next_phase"], entry["gates"]) == (
        "supervised",
        "autonomous",
        [],
    )


def test_an_admin_may_promote_too(service: Service, gated_agent: Path) -> None:
    run_eval(service, gated_agent)

    promoted = service.client.post(
        PROMOTE, json={"reason": "r", "to": "supervised"}, headers=service.auth("admin")
    )

    assert promoted.status_code == 200, promoted.text
    assert _phases(service)[0]["actor"] == "admin"


def test_an_operator_demotes_to_an_earlier_phase_only(service: Service) -> None:
    sam = service.auth("sam")
    free = service.client.post(
        "/api/agents/refunder/demote", json={"to": "shadow", "reason": "incident 9"}, headers=sam
    )
    assert free.status_code == 200, free.text
    assert (free.json()["previous"], free.json()["phase"]) == ("autonomous", "shadow")
    assert free.json()["evidence"] == []
    assert _entry(service, "refunder")["phase"] == "shadow"

    again = service.client.post(
        "/api/agents/refunder/demote", json={"to": "shadow", "reason": "again"}, headers=sam
    )
    later = service.client.post(DEMOTE, json={"to": "autonomous", "reason": "x"}, headers=sam)

    assert again.status_code == later.status_code == 409
    assert again.json()["unmet"] == [] and "is not earlier" in again.json()["detail"]
    (record,) = _phases(service)
    assert (record["actor"], record["reason"], record["previous"]) == (
        "sam",
        "incident 9",
        "autonomous",
    )


def test_a_promotion_to_an_earlier_phase_is_a_conflict(service: Service) -> None:
    refused = service.client.post(
        PROMOTE, json={"reason": "x", "to": "shadow"}, headers=service.auth("sam")
    )

    assert refused.status_code == 409
    assert "promotion goes to a later phase" in refused.json()["detail"]
    assert _phases(service) == []


def test_a_viewer_may_not_promote_or_demote_and_it_is_journaled(service: Service) -> None:
    viewer = service.auth("viewer")
    promoted = service.client.post(PROMOTE, json={"reason": "x"}, headers=viewer)
    demoted = service.client.post(DEMOTE, json={"to": "shadow", "reason": "x"}, headers=viewer)

    assert promoted.status_code == demoted.status_code == 403
    records = sorted(service.journal.records_of_kind("api.rejected"), key=lambda r: r.seq)
    rejected = [r.payload for r in records]
    assert [(r["path"], r["actor"], r["status"]) for r in rejected] == [
        (PROMOTE, "viewer", 403),
        (DEMOTE, "viewer", 403),
    ]
    assert "may not operate" in rejected[0]["reason"]
    assert _phases(service) == []


def test_an_unknown_agent_is_404_and_a_bad_phase_422(service: Service) -> None:
    sam = service.auth("sam")
    for url in ("/api/agents/ghost/promote", "/api/agents/ghost/demote"):
        missing = service.client.post(url, json={"reason": "x", "to": "shadow"}, headers=sam)
        assert missing.status_code == 404 and "ghost" in missing.json()["detail"]

    bad = service.client.post(PROMOTE, json={"reason": "x", "to": "limbo"}, headers=sam)
    no_to = service.client.post(DEMOTE, json={"reason": "x"}, headers=sam)
    no_reason = service.client.post(PROMOTE, json={}, headers=sam)
    blank = service.client.post(PROMOTE, json={"reason": " "}, headers=sam)

    assert bad.status_code == no_to.status_code == no_reason.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["to"]
    assert [e["field"] for e in no_to.json()["errors"]] == ["to"]
    assert [e["field"] for e in no_reason.json()["errors"]] == ["reason"]
    assert blank.status_code == 400 and "needs a reason" in blank.json()["detail"]
    assert _phases(service) == []
