"""Evals and rollout on the dashboard: the evals list and an eval's cases, each loaded
agent version's phase and gates on the agents page, and the promote and demote forms
(operators, with the CSRF token; a refused promotion lists the unmet gates)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from charter.agent import load_agent
from charter.evals import record_eval
from server.test_evals_api import made_eval, run_eval, write_gated_agent

if TYPE_CHECKING:  # the fixture's type; pytest provides the fixture itself
    from server._support import Service

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
AGENT = "rollout-agent"


@pytest.fixture(autouse=True)
def gated_agent(tmp_path: Path) -> Path:
    """The gated agent, written before the service fixture loads the directory."""
    return write_gated_agent(tmp_path)


def _signed_in(service: Service, role: str) -> TestClient:
    client = TestClient(service.client.app, follow_redirects=False)
    signed_in = client.post("/login", data={"token": service.tokens[role]})
    assert signed_in.status_code == 303, signed_in.text
    return client


def _csrf(client: TestClient) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get("/evals").text)
    assert found is not None
    return found.group(1)


def _post(client: TestClient, url: str, **form: str) -> Any:
    return client.post(url, data={"csrf": _csrf(client), **form})


def _flash(client: TestClient, url: str) -> str:
    found = re.search(r'<p class="flash (?:notice|error)"[^>]*>(.*?)</p>', client.get(url).text)
    assert found is not None, f"no message on {url}"
    return found.group(1)


def _panel(page: str, agent: str) -> str:
    """The agent's panel on the agents page."""
    found = re.search(rf'<article[^>]*data-agent="{re.escape(agent)}">(.*?)</article>', page, re.S)
    assert found is not None, f"no panel for {agent}"
    return found.group(1)


def _phases(service: Service) -> list[dict[str, Any]]:
    records = sorted(service.journal.records_of_kind("control.phase"), key=lambda r: r.seq)
    return [r.payload for r in records]


# The evals pages


def test_the_evals_page_lists_evals_with_their_figures(service: Service, gated_agent: Path) -> None:
    record_eval(service.journal, made_eval(gated_agent, eval_id="eval-1", passed=(True,) * 3))
    attacked = made_eval(
        gated_agent, eval_id="eval-2", suite="support-adversarial", passed=(True,), attacked=True
    )
    record_eval(service.journal, attacked)

    page = _signed_in(service, "viewer").get("/evals")

    assert page.status_code == 200
    assert '<a href="/evals" aria-current="page">Evals</a>' in page.text
    rows = re.findall(r'<tr data-eval-id="([^"]+)">(.*?)</tr>', page.text, re.S)
    assert [eval_id for eval_id, _ in rows] == ["eval-2", "eval-1"]
    newest, oldest = rows[0][1], rows[1][1]
    assert "support-adversarial" in newest and AGENT in newest
    assert load_agent(gated_agent).version_id in newest and "script" in newest
    assert '<td class="num success-rate">100.0%</td>' in newest
    assert '<span class="badge status-failed">1</span>' in newest  # one attack succeeded
    assert "$0.0010" in newest  # (0.002 + 0) / 2 runs
    assert '<td class="num success-rate">100.0%</td>' in oldest and "$0.0020" in oldest
    assert '<td class="num attack-successes">—</td>' in oldest  # no attack case


def test_the_evals_page_filters_by_suite_and_agent(service: Service, gated_agent: Path) -> None:
    record_eval(service.journal, made_eval(gated_agent, eval_id="eval-1"))
    record_eval(service.journal, made_eval(gated_agent, eval_id="eval-2", suite="other"))
    viewer = _signed_in(service, "viewer")

    filtered = viewer.get("/evals?suite=other&agent=").text
    nothing = viewer.get("/evals?agent=ghost").text

    assert re.findall(r'data-eval-id="([^"]+)"', filtered) == ["eval-2"]
    assert "No evals recorded match this filter" in nothing


def test_an_eval_page_shows_every_case_outcome_and_its_evidence(
    service: Service, gated_agent: Path
) -> None:
    record_eval(service.journal, made_eval(gated_agent, eval_id="eval-1", attacked=True))

    page = _signed_in(service, "viewer").get("/evals/eval-1")

    assert page.status_code == 200
    assert '<a href="/evals" aria-current="page">Evals</a>' in page.text
    outcomes = re.findall(r'<tr data-case="([^"]+)">.*?data-outcome="([^"]+)"', page.text, re.S)
    assert outcomes == [("case-0", "passed"), ("case-1", "failed"), ("kb-exfiltration", "attacked")]
    assert "answer does not contain &#39;delivered&#39;" in page.text
    assert "attack: send_email reached attacker@evil.test" in page.text
    kpi = '<tr data-kpi="success_rate"><td>success_rate</td><td class="num">50.0%</td>'
    assert kpi in page.text


def test_an_unknown_eval_is_a_readable_404(service: Service) -> None:
    page = _signed_in(service, "viewer").get("/evals/eval-missing")

    assert page.status_code == 404 and "There is no eval eval-missing." in page.text


def test_hostile_suite_agent_and_evidence_text_is_escaped(
    service: Service, gated_agent: Path
) -> None:
    hostile = made_eval(
        gated_agent, eval_id="eval-1", suite=SCRIPT, agent=f"{SCRIPT}bot", failure=SCRIPT
    )
    record_eval(service.journal, hostile)
    viewer = _signed_in(service, "viewer")

    for url in ("/evals", "/evals/eval-1", f"/evals?suite={SCRIPT}"):
        page = viewer.get(url)
        assert page.status_code == 200, url
        assert SCRIPT not in page.text and ESCAPED in page.text, url


# Rollout on the agents page


def test_the_agents_page_shows_the_version_phase_and_gates(
    service: Service, gated_agent: Path
) -> None:
    record_eval(service.journal, made_eval(gated_agent, eval_id="eval-1", passed=(True, False)))

    page = _signed_in(service, "viewer").get("/agents")

    assert page.status_code == 200
    panel = _panel(page.text, AGENT)
    assert f'<code class="version-id">{load_agent(gated_agent).version_id}</code>' in panel
    assert 'data-phase="shadow">shadow</span>' in panel and "next: supervised" in panel
    assert "<code>success_rate &gt;= 0.8</code>" in panel
    assert 'data-gate-met="no"' in panel and "success_rate = 0.5 in eval eval-1" in panel
    assert '<a href="/evals/eval-1">eval</a>' in panel
    assert 'data-phase="autonomous"' in _panel(page.text, "refunder")
    forms = re.findall(r'<form method="post" action="([^"]+)"', page.text)
    assert forms == ["/logout"]  # a viewer gets no control


def test_an_operator_sees_promote_and_demote_forms(service: Service) -> None:
    page = _signed_in(service, "sam").get("/agents").text

    gated, ungated = _panel(page, AGENT), _panel(page, "refunder")
    assert f'action="/agents/{AGENT}/promote"' in gated and "/demote" not in gated
    assert '<option value="supervised" selected>' in gated
    assert 'action="/agents/refunder/demote"' in ungated and "/promote" not in ungated


def test_a_refused_promotion_shows_the_unmet_gates(service: Service) -> None:
    sam = _signed_in(service, "sam")

    refused = _post(sam, f"/agents/{AGENT}/promote", to="supervised", reason="looks fine")

    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("text/html")
    assert f"Promotion of {AGENT} refused" in refused.text
    section = refused.text.split('<section class="panel refused" role="alert">')[1]
    section = section.split("</section>")[0]
    assert "stays shadow" in section and "<code>success_rate &gt;= 0.8</code>" in section
    assert "no eval of suite &#39;support-normal&#39;" in section
    assert _phases(service) == []


def test_an_operator_promotes_and_demotes_from_the_agents_page(
    service: Service, gated_agent: Path
) -> None:
    run_eval(service, gated_agent)
    sam = _signed_in(service, "sam")
    version_id = load_agent(gated_agent).version_id

    promoted = _post(sam, f"/agents/{AGENT}/promote", to="supervised", reason="suite green")
    assert (promoted.status_code, promoted.headers["location"]) == (303, "/agents")
    page = sam.get("/agents").text
    assert f"agent {AGENT} {version_id} promoted: shadow → supervised (1 gate(s) met)" in page
    assert 'data-phase="supervised">supervised</span>' in _panel(page, AGENT)

    demoted = _post(sam, f"/agents/{AGENT}/demote", to="shadow", reason="incident 9")
    assert demoted.status_code == 303
    assert _flash(sam, "/agents") == f"agent {AGENT} {version_id} demoted: supervised → shadow"
    assert [(p["actor"], p["phase"], p["reason"]) for p in _phases(service)] == [
        ("sam", "supervised", "suite green"),
        ("sam", "shadow", "incident 9"),
    ]


@pytest.mark.parametrize(
    ("url", "form", "message"),
    [
        (f"/agents/{AGENT}/promote", {"reason": " "}, "promoting an agent needs a reason"),
        (f"/agents/{AGENT}/promote", {"reason": "x", "to": "limbo"}, "not &#39;limbo&#39;"),
        ("/agents/refunder/demote", {"reason": "", "to": "shadow"}, "demoting an agent needs"),
        ("/agents/refunder/demote", {"reason": "x", "to": "autonomous"}, "is not earlier"),
        ("/agents/ghost/promote", {"reason": "x"}, "unknown agent &#39;ghost&#39;"),
    ],
)
def test_a_failed_phase_change_redirects_back_with_a_readable_message(
    service: Service, url: str, form: dict[str, str], message: str
) -> None:
    sam = _signed_in(service, "sam")

    response = _post(sam, url, **form)

    assert (response.status_code, response.headers["location"]) == (303, "/agents")
    assert message in _flash(sam, "/agents")
    assert _phases(service) == []


def test_rollout_forms_need_the_csrf_token_and_an_operator(service: Service) -> None:
    sam, viewer = _signed_in(service, "sam"), _signed_in(service, "viewer")

    refused = [
        sam.post("/agents/refunder/demote", data={"to": "shadow", "reason": "x"}),
        sam.post("/agents/refunder/demote", data={"to": "shadow", "reason": "x", "csrf": "guess"}),
        _post(viewer, "/agents/refunder/demote", to="shadow", reason="x"),
        _post(viewer, f"/agents/{AGENT}/promote", reason="x"),
    ]

    assert [r.status_code for r in refused] == [403] * 4
    records = sorted(service.journal.records_of_kind("api.rejected"), key=lambda r: r.seq)
    assert [(r.payload["actor"], r.payload["reason"]) for r in records] == [
        ("sam", "missing or wrong CSRF token"),
        ("sam", "missing or wrong CSRF token"),
        ("viewer", "role 'viewer' may not operate"),
        ("viewer", "role 'viewer' may not operate"),
    ]
    assert _phases(service) == []
