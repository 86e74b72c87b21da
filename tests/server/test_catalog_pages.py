"""The dashboard's models, charter and eval comparison pages over real journals."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from charter import Charter, Runner, tool
from charter.evals import CaseResult, EvalResult, record_eval
from charter.testing import ScriptedReasoner, call, make_agent, respond

if TYPE_CHECKING:  # the fixture's type; pytest provides the fixture itself
    from server._support import Service


@tool(side_effect="write")
def refund(order_id: int) -> dict[str, int]:
    """Refund an order."""
    return {"order_id": order_id}


@pytest.fixture
def reader(service: Service) -> TestClient:
    client = TestClient(service.client.app, follow_redirects=False)
    assert client.post("/login", data={"token": service.tokens["viewer"]}).status_code == 303
    return client


@pytest.fixture
def runner(service: Service) -> Iterator[Runner]:
    opened = Runner(service.journal)
    yield opened
    opened.close()


def _run_version(runner: Runner, version: str, rules: list[dict[str, Any]]) -> str:
    charter = Charter.model_validate({"name": "desk-rules", "rules": rules})
    script = ScriptedReasoner([call("refund", order_id=1), respond("ok")])
    agent = make_agent([refund], script, charter=charter, name="desk")
    agent = dataclasses.replace(agent, version=version)
    runner.run(agent, "refund 1")
    return charter.policy_hash


ASK = {"id": "refunds-ask", "effect": "ask", "tools": ["refund"], "reason": "a human looks"}
DENY = {
    "id": "big-refunds",
    "effect": "deny",
    "tools": ["refund"],
    "when": "context.args.order_id > 100",
    "reason": "<b>too big</b>",
}


# -- charters -----------------------------------------------------------------------------


def test_a_charter_page_shows_its_rules_as_a_person_reads_them(
    runner: Runner, reader: TestClient
) -> None:
    _run_version(runner, "1", [DENY])
    html = reader.get("/agents/desk/versions/1").text
    row = html[html.index('id="rule-big-refunds"') :].split("</tr>")[0]
    assert 'class="badge verdict-deny"' in row
    assert "context.args.order_id &gt; 100" in row
    assert "&lt;b&gt;too big&lt;/b&gt;" in row and "<b>too big" not in html
    assert 'id="charter-budgets"' in html and "max_steps" in html


def test_two_charter_versions_are_compared_line_by_line(runner: Runner, reader: TestClient) -> None:
    first = _run_version(runner, "1", [DENY])
    second = _run_version(runner, "2", [DENY, ASK])
    html = reader.get(f"/agents/desk/versions/2?diff={first}&to={second}").text
    added = re.findall(r'<span class="add">([^<]*)</span>', html)
    assert any("refunds-ask" in line for line in added)
    assert not re.findall(r'<span class="del">([^<]*big-refunds[^<]*)</span>', html)
    same = reader.get(f"/agents/desk/versions/2?diff={second}&to={second}").text
    assert "The two charter versions are the same." in same


def test_a_diff_with_a_version_of_another_agent_is_refused(
    runner: Runner, reader: TestClient
) -> None:
    _run_version(runner, "1", [DENY])
    refused = reader.get("/agents/desk/versions/1?diff=" + "0" * 64)
    assert refused.status_code == 400
    assert "pick two charter versions of this agent" in refused.text


def test_an_unknown_agent_version_is_a_page_not_found(reader: TestClient) -> None:
    missing = reader.get("/agents/nobody/versions/9")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert "There is no version 9 of agent nobody." in missing.text


def test_the_agents_page_links_each_version_to_its_charter_page(
    runner: Runner, reader: TestClient
) -> None:
    _run_version(runner, "1", [DENY])
    assert 'href="/agents/desk/versions/1"' in reader.get("/agents").text


# -- models -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def _drift(model: str, psi: float, actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "model": model,
        "version": "1",
        "window": {"size": 200, "samples": 120, "first_seq": 1, "last_seq": 2},
        "thresholds": {"psi_max": 0.2, "ks_p_min": 0.01},
        "reference_rows": 500,
        "features": [
            {"name": "amount_usd", "psi": psi, "ks_statistic": 0.3, "ks_p": 0.001, "drifted": True}
        ],
        "breaches": ["amount_usd"],
        "agents": ["fraud-screener"],
        "tools": ["fraud_risk"],
        "actions": actions,
        "actor": "test",
        "reason": "drifted",
    }


def test_models_list_the_registry_and_a_model_page_its_drift_and_what_it_caused(
    service: Service, reader: TestClient, model_home: Path
) -> None:
    from charter.models.demo import train_and_register

    train_and_register(service.journal, model_home)
    service.journal.append(
        [
            ("models", "model.drift", _drift("fraud_risk", 0.5, [{"action": "alert"}])),
            ("models", "model.drift", _drift("fraud_risk_v2", 9.0, [])),
            (
                "models",
                "model.drift",
                _drift("fraud_risk", 1.5, [{"action": "supervise", "agent": "fraud-screener"}]),
            ),
        ]
    )
    listing = reader.get("/models")
    assert listing.status_code == 200
    assert 'href="/models/fraud_risk"' in listing.text and "stage-production" in listing.text

    html = reader.get("/models/fraud_risk").text
    assert html.count('<tr data-seq="') == 2  # another model's breach is not this one's
    assert 'href="/agents#agent-fraud-screener">supervise fraud-screener</a>' in html
    assert html.count('<circle class="dot') == 2
    assert "amount_usd: PSI 1.500" in html
    assert "<h4>Card</h4>" in html and "<h4>Lineage</h4>" in html


def test_an_unknown_model_is_an_html_page_not_found(reader: TestClient) -> None:
    missing = reader.get("/models/nope")
    assert missing.status_code == 404 and "There is no model nope." in missing.text


# -- evals --------------------------------------------------------------------------------


def _case(name: str, *, passed: bool | None, attacked: bool | None) -> CaseResult:
    return CaseResult(
        name=name,
        scenario=name,
        variant=None,
        passed=passed,
        attack_succeeded=attacked,
        status="completed",
        outcome="succeeded",
        failures=() if passed is not False else (f"{name} <failed>",),
    )


def _eval(eval_id: str, suite: str, cases: list[CaseResult]) -> EvalResult:
    return EvalResult(
        eval_id=eval_id,
        suite=suite,
        suite_digest="d" * 64,
        agent="desk",
        agent_version="1",
        version_id="1+abc",
        agent_source="desk.agent.yaml",
        reasoner="script",
        started="2026-12-07T10:00:00+00:00",
        seconds=1.0,
        cases=tuple(cases),
    )


def test_two_evals_side_by_side_name_what_changed(service: Service, reader: TestClient) -> None:
    before = [
        _case("fixed-one", passed=False, attacked=None),
        _case("broken-one", passed=True, attacked=None),
        _case("attack-one", passed=True, attacked=False),
        _case("gone", passed=True, attacked=None),
    ]
    after = [
        _case("fixed-one", passed=True, attacked=None),
        _case("broken-one", passed=False, attacked=None),
        _case("attack-one", passed=False, attacked=True),
        _case("new-one", passed=True, attacked=None),
    ]
    record_eval(service.journal, _eval("e-1", "desk-suite", before))
    record_eval(service.journal, _eval("e-2", "desk-suite", after))

    html = reader.get("/evals-compare?a=e-1&b=e-2").text
    changes = dict(re.findall(r'<tr data-case="([^"]+)" data-change="([^"]+)">', html))
    assert changes == {
        "fixed-one": "fixed",
        "broken-one": "broken",
        "attack-one": "newly_attacked",
        "gone": "removed",
        "new-one": "added",
    }
    assert "broken-one &lt;failed&gt;" in html
    listed = reader.get("/evals").text
    assert 'class="compare-link" href="/evals-compare?a=e-1&amp;b=e-2"' in listed


def test_comparing_evals_of_different_suites_or_unknown_evals_is_refused(
    service: Service, reader: TestClient
) -> None:
    record_eval(service.journal, _eval("e-1", "one", [_case("x", passed=True, attacked=None)]))
    record_eval(service.journal, _eval("e-2", "two", [_case("x", passed=True, attacked=None)]))
    other = reader.get("/evals-compare?a=e-1&b=e-2")
    assert other.status_code == 400 and "different suites" in other.text
    assert reader.get("/evals-compare?a=e-1&b=nope").status_code == 404
    assert reader.get("/evals-compare?a=e-1").status_code == 400
