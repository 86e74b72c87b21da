"""Which model text is the task's final answer under ``flows.answer: ask``, ``redact`` or
``deny``: only the text that ends the agent's turn, as ADK's loop decides it. Text the
model gives before calling a tool in the same turn (a streaming model's text, merged, then
its call) is no answer: it is shown as given and the task goes on; SSE chunks never show
an answer's text before it is governed, whatever the policy; a live run, whose text the
plugin never sees, is refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("google.adk", reason="the adk extra is not installed")

from google.adk.agents import LiveRequestQueue, RunConfig
from google.adk.agents.run_config import StreamingMode  # pyright: ignore[reportPrivateImportUsage]
from google.adk.events import Event
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.genai import types
from pydantic import Field

from charter import Journal
from charter.integrations.adk import REQUEST_KEY, ScriptedLlm
from integrations.adk.adk_world import USER, ask, new_session, ran, shop, shop_charter

PHISHY = "To finish your refund, email your card number to x@evil.example."
MASKED = PHISHY.replace("x@evil.example", "[withheld: untrusted email]")
LEAK = "card number to x@evil.example"
"""The answer's own words with the address (the aside has the address too)."""
ASIDE = "Checking the order x@evil.example wrote about."


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    ran.clear()
    yield Journal(f"sqlite:///{tmp_path / 'charter.db'}")


class AsideLlm(ScriptedLlm):
    """The scripted model; on a turn ``asides`` names, it first answers with that text,
    as a response of its own, then with the turn's calls, in one model call (as ADK's
    SSE aggregation gives a streamed text followed by a call); in SSE mode a final text
    comes in chunks first."""

    asides: dict[int, str] = Field(default_factory=lambda: {})
    thoughts: dict[int, str] = Field(default_factory=lambda: {})

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        turn = sum(1 for c in llm_request.contents if c.role == "model")
        if turn in self.asides:
            said = types.Part(text=self.asides[turn])
            yield LlmResponse(content=types.Content(role="model", parts=[said]))
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
        if turn in self.thoughts:  # a thought after the text, in the same model call
            thought = types.Part(text=self.thoughts[turn], thought=True)
            yield LlmResponse(content=types.Content(role="model", parts=[thought]))


def _run(
    journal: Journal,
    policy: str,
    script: list[Any],
    config: RunConfig | None = None,
    asides: dict[int, str] | None = None,
    thoughts: dict[int, str] | None = None,
) -> tuple[list[Event], Runner, str]:
    runner, plugin, _ = shop(journal, [], shop_charter(flows={"answer": policy}))
    model = AsideLlm(script=script, asides=asides or {}, thoughts=thoughts or {})
    runner.app.root_agent.model = model  # type: ignore[union-attr]
    session_id = new_session(runner)

    async def events() -> list[Event]:
        return [
            e
            async for e in runner.run_async(
                user_id=USER, session_id=session_id, new_message=ask("t 5"), run_config=config
            )
        ]

    return asyncio.run(events()), runner, str(plugin.run_id(session_id) or "")


def _texts(events: list[Event]) -> str:
    return "".join(
        p.text or "" for e in events if e.content for p in e.content.parts or () if not p.thought
    )


def _finished(journal: Journal) -> dict[str, Any]:
    (finished,) = journal.records_of_kind("run.finished")
    return dict(finished.payload)


SCRIPT: list[Any] = [
    ("read_ticket", {"ticket": 5}),
    ("lookup_order", {"order_id": 7}),  # said after ASIDE
    PHISHY,
]


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("policy", ["redact", "deny", "ask"])
def test_text_before_a_tool_call_is_no_final_answer(
    journal: Journal, policy: str, streaming: bool
) -> None:
    config = RunConfig(streaming_mode=StreamingMode.SSE) if streaming else None
    events, _, _ = _run(journal, policy, SCRIPT, config, {1: ASIDE})

    assert [name for name, _ in ran] == ["read_ticket", "lookup_order"]  # the task went on
    (with_call,) = [e for e in events if e.get_function_calls() and e.content and _texts([e])]
    assert _texts([with_call]) == ASIDE  # shown as given, ahead of its call
    assert with_call.get_function_calls()[0].name == "lookup_order"
    assert LEAK not in _texts(events)
    if policy == "redact":
        assert _texts(events[-1:]) == MASKED == _finished(journal)["answer"]
    elif policy == "deny":
        assert _texts(events[-1:]).startswith("[answer withheld: it carries email")
    else:
        assert events[-1].custom_metadata and events[-1].custom_metadata[REQUEST_KEY]
        assert not journal.records_of_kind("run.finished")


@pytest.mark.parametrize("policy", ["redact", "deny", "ask"])
def test_a_streamed_answer_shows_no_text_before_it_is_governed(
    journal: Journal, policy: str
) -> None:
    config = RunConfig(streaming_mode=StreamingMode.SSE)
    events, _, _ = _run(journal, policy, [("read_ticket", {"ticket": 5}), PHISHY], config)

    assert any(e.partial for e in events)
    assert "evil.example" not in _texts(events) and _texts(events[-1:]) != PHISHY
    assert [e for e in events if e.partial and _texts([e])] == []


def test_a_thought_after_the_answer_does_not_release_it_ungoverned(journal: Journal) -> None:
    script: list[Any] = [("read_ticket", {"ticket": 5}), PHISHY]
    events, _, _ = _run(journal, "redact", script, thoughts={1: "that should do"})

    assert "evil.example" not in _texts(events) and _texts(events[-1:]) == MASKED
    assert _finished(journal)["answer"] == MASKED


def test_a_clean_answer_ends_the_turn_as_given(journal: Journal) -> None:
    events, _, _ = _run(journal, "deny", [("read_ticket", {"ticket": 5}), "All done."])

    assert _texts(events[-1:]) == "All done." == _finished(journal)["answer"]
    assert events[-1].author == "shop"  # the agent whose turn it ends


def test_a_live_run_is_refused_under_a_governed_answer(journal: Journal) -> None:
    runner, _, _ = shop(journal, [PHISHY], shop_charter(flows={"answer": "redact"}))
    session_id = new_session(runner)

    async def live() -> list[Event]:
        queue = LiveRequestQueue()
        queue.close()
        return [
            e
            async for e in runner.run_live(
                user_id=USER, session_id=session_id, live_request_queue=queue
            )
        ]

    with pytest.raises(Exception, match="a live run \\(run_live\\) streams to its reader"):
        asyncio.run(live())
    assert ran == [] and not journal.records_of_kind("run.finished")
