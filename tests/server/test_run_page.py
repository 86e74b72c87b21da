"""The run page: its waterfall, the links out of it (agent version, charter, approvals,
forks, trace id), its outcome at a glance, and recorded values shown readably and escaped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from charter import Runner, tool
from charter.agent import Agent
from charter.observe._tracing import run_trace_id
from charter.testing import ScriptedReasoner, call, make_agent, respond

if TYPE_CHECKING:  # the fixture's type; pytest provides the fixture itself
    from server._support import Service

LONG = "word " * 100
HOSTILE = "<img src=x onerror=alert(1)>"


@tool
def fetch_note(note_id: int) -> dict[str, object]:
    """Fetch a note."""
    return {"id": note_id, "body": LONG, "tags": [HOSTILE], "meta": {"a": {"b": {"c": 1}}}}


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


def _agent(*script: Any) -> Agent:
    return make_agent([fetch_note], ScriptedReasoner(list(script)), name="reader")


def test_the_run_page_has_a_waterfall_row_per_step_linked_to_the_step(
    runner: Runner, reader: TestClient
) -> None:
    run_id = runner.run(_agent(call("fetch_note", note_id=1), respond("ok")), "read").run_id
    html = reader.get(f"/runs/{run_id}").text
    rows = re.findall(r'<a class="what" href="#step-(\d+)">Step \d+ · ([^<]+)</a>', html)
    assert rows == [("1", "fetch_note"), ("2", "answer")]
    assert 'class="phase-tool"' in html and 'class="phase-reason"' in html
    assert 'id="step-1"' in html and 'id="step-2"' in html
    glance = html[html.index('id="run-glance"') :].split("</p>")[0]
    assert 'data-outcome="succeeded"' in glance and "2 step(s)" in glance


def test_the_run_page_links_its_agent_version_charter_and_trace(
    runner: Runner, reader: TestClient
) -> None:
    run = runner.run(_agent(call("fetch_note", note_id=1), respond("ok")), "read")
    html = reader.get(f"/runs/{run.run_id}").text
    version = re.search(r'href="/agents/reader/versions/([^"#]+)"', html)
    assert version is not None
    assert re.search(r'href="/agents/reader/versions/[^"#]+#policy-[0-9a-f]{16}"', html)
    assert run_trace_id(run.run_id) in html


def test_a_run_lists_its_forks_and_a_fork_its_origin(runner: Runner, reader: TestClient) -> None:
    script = (call("fetch_note", note_id=1), call("fetch_note", note_id=2), respond("ok"))
    origin = runner.run(_agent(*script), "read twice").run_id
    fork = runner.fork(_agent(call("fetch_note", note_id=3), respond("ok")), origin, 2).run_id
    assert f'href="/runs/{fork}"' in reader.get(f"/runs/{origin}").text
    assert f'href="/runs/{origin}"' in reader.get(f"/runs/{fork}").text


def test_values_are_formatted_folded_and_escaped(runner: Runner, reader: TestClient) -> None:
    run_id = runner.run(_agent(call("fetch_note", note_id=7), respond("ok")), "read").run_id
    html = reader.get(f"/runs/{run_id}").text
    effect = html[html.index("<h4>Effect</h4>") :]
    # The long text is folded behind its first words, with its length.
    assert re.search(r"<summary>(word ){15}.*….*\(500 characters\)", effect)
    assert "<dt>id</dt><dd><code>7</code></dd>" in effect
    # Nested deeper than two levels: folded as JSON.
    assert "<dt>a</dt><dd><details" in effect
    assert HOSTILE not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
