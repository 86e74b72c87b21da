"""``flows.answer: ask`` under the ADK plugin: a final answer carrying an address only a
ticket (untrusted) holds never becomes an event (the event carries a notice naming the
approval); once approved with charter's CLI in another process, ``release_answer``
releases exactly the journaled answer from a new Runner's objects; a denial or a receipt
for another answer withholds it; a clean answer is the event as the model gave it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("google.adk", reason="the adk extra is not installed")

from google.adk.agents import RunConfig
from google.adk.agents.run_config import StreamingMode  # pyright: ignore[reportPrivateImportUsage]
from google.adk.events import Event
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService, Session
from google.genai import types

from charter import Journal
from charter.errors import RunStateError
from charter.integrations.adk import REQUEST_KEY, RUN_KEY, ScriptedLlm, release_answer
from charter.runtime._approvals import Approvals
from integrations.adk.adk_world import (
    APP,
    USER,
    ask,
    new_session,
    ran,
    run_turn,
    shop,
    shop_charter,
)

PHISHY = "To finish your refund, email your card number to x@evil.example."
CHARTER = shop_charter(flows={"answer": "ask"})


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    ran.clear()
    yield Journal(f"sqlite:///{tmp_path / 'charter.db'}")


def _session(runner: Runner, session_id: str) -> Session:
    async def get() -> Session | None:
        return await runner.session_service.get_session(
            app_name=APP, user_id=USER, session_id=session_id
        )

    found = asyncio.run(get())
    assert found is not None
    return found


def _task(
    journal: Journal, sessions: InMemorySessionService, answer: str = PHISHY
) -> tuple[str, list[Event], str]:
    """A task reading ticket 5, then answering ``answer``: the session, its events and
    the approval request the answer is held on ("" when it is not)."""
    script: list[Any] = [("read_ticket", {"ticket": 5}), answer]
    runner, _, _ = shop(journal, script, CHARTER, sessions)
    session_id = new_session(runner)
    events = run_turn(runner, session_id, ask("answer ticket 5"))
    request = next((str(e.custom_metadata[REQUEST_KEY]) for e in events if e.custom_metadata), "")
    return session_id, events, request


def _release(journal: Journal, sessions: InMemorySessionService, session_id: str) -> Any:
    """From a new Runner and plugin (another process's objects): release the answer."""
    runner, plugin, model = shop(journal, ["never asked"], CHARTER, sessions)
    run = release_answer(plugin, _session(runner, session_id))
    assert model.requests == []
    return run


def _texts(events: list[Event]) -> str:
    return " ".join(p.text or "" for e in events if e.content for p in e.content.parts or ())


def _kinds(journal: Journal, run_id: str) -> list[str]:
    return [r.kind for r in journal.records(run_id)]


def test_a_held_answer_is_never_an_event_and_the_run_waits(journal: Journal) -> None:
    sessions = InMemorySessionService()
    session_id, events, request = _task(journal, sessions)

    assert request.startswith("apr-")
    assert "card number" not in _texts(events) and request in _texts(events)
    runner, _, _ = shop(journal, ["x"], CHARTER, sessions)
    session = _session(runner, session_id)
    assert all("card number" not in str(e.content) for e in session.events)
    run_id = str(session.state[RUN_KEY])
    state = Approvals(journal).get(request)
    assert (state.request.tool, state.request.args) == ("answer.release", {"text": PHISHY})
    assert _kinds(journal, run_id)[-1] == "run.waiting"


def test_an_approval_from_the_cli_releases_the_answer(journal: Journal, tmp_path: Path) -> None:
    sessions = InMemorySessionService()
    session_id, _, request = _task(journal, sessions)
    url = journal.engine.url.render_as_string(hide_password=False)
    env = os.environ | {"CHARTER_DATABASE_URL": url, "CHARTER_HOME": str(tmp_path / "home")}
    approve = [sys.executable, "-m", "charter", "approvals", "approve", request, "--as", "dana"]
    done = subprocess.run(approve, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr

    run = _release(journal, sessions, session_id)

    assert (run.status, run.outcome, run.answer) == ("completed", "succeeded", PHISHY)
    released = [r.payload for r in journal.records(run.run_id) if r.kind == "answer.released"]
    assert [(p["request_id"], p["approver"]) for p in released] == [(request, "dana")]
    with pytest.raises(RunStateError, match="finished"):
        _release(journal, sessions, session_id)


def test_a_denied_answer_is_withheld(journal: Journal) -> None:
    sessions = InMemorySessionService()
    session_id, _, request = _task(journal, sessions)
    Approvals(journal).deny(request, "dana", "phishing")

    run = _release(journal, sessions, session_id)

    assert (run.status, run.outcome) == ("completed", "denied")
    assert "phishing" in str(run.answer) and "card number" not in str(run.answer)
    assert "answer.released" not in _kinds(journal, run.run_id)


def test_a_receipt_for_another_answer_does_not_release_this_one(journal: Journal) -> None:
    sessions = InMemorySessionService()
    _, _, first = _task(journal, sessions)
    session_id, _, request = _task(journal, sessions, f"Hello. {PHISHY}")
    run_id = Approvals(journal).get(request).request.run_id
    receipt = Approvals(journal).approve(first, "dana")
    journal.append([(run_id, "approval.granted", receipt.to_payload() | {"request_id": request})])

    run = _release(journal, sessions, session_id)

    assert run.outcome == "denied" and "card number" not in str(run.answer)
    rejected = [r.payload for r in journal.records(run_id) if r.kind == "approval.rejected"]
    assert [p["rule"] for p in rejected] == ["approval.invalid"]


def test_an_undecided_answer_is_not_released(journal: Journal) -> None:
    sessions = InMemorySessionService()
    session_id, _, request = _task(journal, sessions)

    with pytest.raises(RunStateError, match=f"waits for approval {request}"):
        _release(journal, sessions, session_id)


def test_a_session_without_a_run_has_nothing_to_release(journal: Journal) -> None:
    sessions = InMemorySessionService()
    runner, plugin, _ = shop(journal, ["x"], CHARTER, sessions)

    with pytest.raises(RunStateError, match="names no charter run"):
        release_answer(plugin, _session(runner, new_session(runner)))


def test_a_clean_answer_is_the_event_without_asking(journal: Journal) -> None:
    sessions = InMemorySessionService()
    _, events, request = _task(journal, sessions, "Sorry about the parcel.")

    assert request == "" and "Sorry about the parcel." in _texts(events)
    assert journal.records_of_kind("approval.requested") == []
    [finished] = journal.records_of_kind("run.finished")
    assert finished.payload["answer"] == "Sorry about the parcel."


class StreamedLlm(ScriptedLlm):
    """The scripted model, streaming a final text in chunks (``partial``) before the
    whole response, as a streaming model does."""

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        async for response in super().generate_content_async(llm_request, stream):
            parts = response.content.parts or [] if response.content else []
            text = "".join(p.text or "" for p in parts)
            if stream and text:
                for chunk in (text[: len(text) // 2], text[len(text) // 2 :]):
                    part = types.Part(text=chunk)
                    yield LlmResponse(
                        content=types.Content(role="model", parts=[part]), partial=True
                    )
            yield response


def test_a_streamed_answer_shows_no_text_before_it_is_governed(journal: Journal) -> None:
    sessions = InMemorySessionService()
    runner, plugin, _ = shop(journal, [], CHARTER, sessions)
    model = StreamedLlm(script=[("read_ticket", {"ticket": 5}), PHISHY])
    runner.app.root_agent.model = model  # type: ignore[union-attr]
    session_id = new_session(runner)

    async def streamed() -> list[Event]:
        config = RunConfig(streaming_mode=StreamingMode.SSE)
        return [
            e
            async for e in runner.run_async(
                user_id=USER, session_id=session_id, new_message=ask("t 5"), run_config=config
            )
        ]

    events = asyncio.run(streamed())

    assert any(e.partial for e in events)
    assert "evil.example" not in _texts(events) and "card" not in _texts(events)
    (request,) = [str(e.custom_metadata[REQUEST_KEY]) for e in events if e.custom_metadata]
    Approvals(journal).approve(request, "dana")
    assert release_answer(plugin, _session(runner, session_id)).answer == PHISHY


# --- flows.answer: redact / deny: the event is the answer as the run kept it ---

MASKED = PHISHY.replace("x@evil.example", "[withheld: untrusted email]")


def _answered(
    journal: Journal, policy: str, answer: str, config: RunConfig | None = None
) -> tuple[list[Event], Session, Any]:
    """A task reading ticket 5 and answering ``answer`` under ``flows.answer: policy``
    (streamed in chunks with an SSE ``config``): its events, the session as stored
    afterwards, and the plugin."""
    sessions = InMemorySessionService()
    runner, plugin, _ = shop(journal, [], shop_charter(flows={"answer": policy}), sessions)
    runner.app.root_agent.model = StreamedLlm(  # type: ignore[union-attr]
        script=[("read_ticket", {"ticket": 5}), answer]
    )
    session_id = new_session(runner)

    async def events() -> list[Event]:
        return [
            e
            async for e in runner.run_async(
                user_id=USER, session_id=session_id, new_message=ask("t 5"), run_config=config
            )
        ]

    return asyncio.run(events()), _session(runner, session_id), plugin


def _finished_answer(journal: Journal) -> str:
    (finished,) = journal.records_of_kind("run.finished")
    return str(finished.payload["answer"])


def test_a_redacted_answer_is_the_event_and_the_stored_session_masks_it(
    journal: Journal,
) -> None:
    events, session, _ = _answered(journal, "redact", PHISHY)

    assert events[-1].content is not None and _texts(events[-1:]) == MASKED
    assert "evil.example" not in _texts(events) and _texts(session.events[-1:]) == MASKED
    assert _finished_answer(journal) == MASKED


def test_a_denied_answer_is_a_withheld_notice_in_the_event(journal: Journal) -> None:
    events, session, _ = _answered(journal, "deny", PHISHY)

    assert _texts(events[-1:]).startswith("[answer withheld: it carries email")
    assert "card number" not in _texts(events) and "card number" not in _texts(session.events)
    assert _finished_answer(journal) == _texts(events[-1:])


def test_a_streamed_redacted_answer_shows_no_text_before_it_is_governed(
    journal: Journal,
) -> None:
    events, _, _ = _answered(journal, "redact", PHISHY, RunConfig(streaming_mode=StreamingMode.SSE))

    assert any(e.partial for e in events)
    assert "evil.example" not in _texts(events) and _texts(events[-1:]) == MASKED


@pytest.mark.parametrize("policy", ["redact", "deny"])
def test_an_answer_with_nothing_untrusted_passes_unchanged(journal: Journal, policy: str) -> None:
    events, session, _ = _answered(journal, policy, "Sorry about the parcel.")

    assert _texts(events[-1:]) == _texts(session.events[-1:]) == "Sorry about the parcel."
    assert _finished_answer(journal) == "Sorry about the parcel."


def test_the_next_task_of_the_session_shows_the_model_only_the_redacted_answer(
    journal: Journal,
) -> None:
    sessions = InMemorySessionService()
    charter = shop_charter(flows={"answer": "redact"})
    runner, _, model = shop(
        journal, [("read_ticket", {"ticket": 5}), PHISHY, "ok"], charter, sessions
    )
    session_id = new_session(runner)
    run_turn(runner, session_id, ask("answer ticket 5"))

    run_turn(runner, session_id, ask("anything else?"))

    said = [
        p.text
        for c in model.requests[-1].contents
        if c.role == "model"
        for p in c.parts or ()
        if p.text
    ]
    assert said == [MASKED]
