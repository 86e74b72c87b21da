"""One damaged journal record (not JSON, a missing key, a wrong type) is named where it
lies, and everything else stays readable: the run list, a run's detail, the violations
feed, the API and the dashboard (SQLite, and PostgreSQL when it is provided)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from charter import Journal, Runner, tool
from charter.testing import ScriptedReasoner, call, make_agent, respond
from charter.views._runs import agents, list_runs, run_detail, tools_inventory, violations
from databases import fresh_url
from server._support import Service
from tampering import damage_record


@tool
def look(order_id: int) -> dict[str, int]:
    """Look up an order."""
    return {"order_id": order_id}


def _runs(journal: Journal, count: int) -> list[str]:
    runner = Runner(journal)
    ids: list[str] = []
    for n in range(count):
        reasoner = ScriptedReasoner([call("look", order_id=n), respond("found")])
        agent = make_agent([look], reasoner, name="looker")
        ids.append(runner.run(agent, f"look {n}").run_id)
    return ids


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journal]:
    opened = Journal(fresh_url(request.param, tmp_path))
    yield opened
    opened.close()


DAMAGE = [
    ("run.started", "{not json"),
    ("run.started", '{"goal":"no agent"}'),
    ("run.finished", '{"status":"completed","steps":"two","tokens":0}'),
    ("run.finished", "[1,2]"),
    ("step.decided", '{"step":1,"verdict":"allow"}'),
    ("step.proposed", '{"step":1,"action":"look"}'),
]


@pytest.mark.parametrize(("kind", "payload"), DAMAGE)
def test_a_damaged_run_is_listed_as_damaged_and_the_others_as_usual(
    journal: Journal, kind: str, payload: str
) -> None:
    first, bad, last = _runs(journal, 3)
    seq = damage_record(journal, kind, payload, run_id=bad)

    shown = {run.run_id: run for run in list_runs(journal)}

    assert shown[first].status == shown[last].status == "completed"
    if kind in ("step.decided", "step.proposed"):  # a finished run's list entry skips them
        assert shown[bad].status == "completed"
    else:
        assert shown[bad].status == "damaged"
        damaged = shown[bad].damaged
        assert damaged is not None
        assert damaged.startswith(f"record {seq} ({kind}): ")


@pytest.mark.parametrize(("kind", "payload"), DAMAGE)
def test_a_damaged_runs_detail_names_the_record_and_shows_the_rest(
    journal: Journal, kind: str, payload: str
) -> None:
    (run_id,) = _runs(journal, 1)
    seq = damage_record(journal, kind, payload, run_id=run_id)

    detail = run_detail(journal, run_id)

    assert detail is not None
    damaged = [e for e in detail.events if e.kind == "damaged"]
    if kind == "run.started":
        assert detail.summary.status == "damaged"
    else:
        assert [e.seq for e in damaged] == [seq]
        assert f"journal record {seq} ({kind}, run {run_id}) is damaged" in damaged[0].text
    if kind != "step.proposed":
        assert any(step.tool == "look" for step in detail.steps)


def test_the_violations_feed_skips_a_damaged_denial(journal: Journal) -> None:
    runner = Runner(journal)
    reasoner = ScriptedReasoner([call("look", order_id=1), respond("refused")])
    charter = {"name": "c", "tools": {"deny": ["look"]}}
    from charter import Charter

    agent = make_agent([look], reasoner, charter=Charter.model_validate(charter), name="x")
    runner.run(agent, "look twice")
    denials = violations(journal)
    damage_record(journal, "step.decided", '{"verdict":"deny","rules":"x"', run_id=None)

    after = violations(journal)

    assert len(denials) >= 1
    assert len(after) == len(denials) - 1


def test_a_manifest_whose_tools_are_not_a_list_hides_no_other_tool(journal: Journal) -> None:
    first, _ = _runs(journal, 2)
    damage_record(journal, "run.started", '{"agent":"looker","goal":"g","tools":5}', run_id=first)

    assert [tool.name for tool in tools_inventory(journal)] == ["look"]


@pytest.mark.parametrize("kind", ["run.started", "step.effect", "step.decided"])
def test_agents_and_tools_leave_out_a_payload_that_is_not_json(journal: Journal, kind: str) -> None:
    first, bad = _runs(journal, 2)
    damage_record(journal, kind, "{oops", run_id=bad)

    (seen,) = agents(journal)
    (tool,) = tools_inventory(journal)

    assert seen.name == "looker" and seen.runs == (1 if kind == "run.started" else 2)
    assert tool.name == "look" and tool.agents == ["looker"]
    assert tool.calls == (1 if kind == "step.effect" else 2)
    assert first


def test_the_api_and_dashboard_survive_a_record_that_is_not_json(service: Service) -> None:
    first, bad = _runs(service.journal, 2)
    seq = damage_record(service.journal, "run.started", "{oops", run_id=bad)
    viewer = service.auth("viewer")

    runs = service.client.get("/api/runs", headers=viewer)
    tools = service.client.get("/api/tools", headers=viewer)
    detail = service.client.get(f"/api/runs/{bad}", headers=viewer)
    service.client.post("/login", data={"token": service.tokens["viewer"]})
    page = service.client.get("/")

    assert runs.status_code == tools.status_code == detail.status_code == 200
    by_id = {run["run_id"]: run for run in runs.json()}
    assert by_id[first]["status"] == "completed"
    assert by_id[bad]["status"] == "damaged"
    assert by_id[bad]["damaged"].startswith(f"record {seq} (run.started)")
    assert "look" in {tool["name"] for tool in tools.json()}
    assert page.status_code == 200
    assert first[:8] in page.text and "damaged" in page.text
    run_page = service.client.get(f"/runs/{bad}")
    assert run_page.status_code == 200 and f"record {seq} (run.started)" in run_page.text
