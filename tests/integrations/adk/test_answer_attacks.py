"""Ways around a governed ADK answer (``flows.answer: ask``, ``redact`` or ``deny``): a
workflow agent whose agents each end their turn with text in one task (the task's charter
run takes one answer, so a later one is withheld, never shown ungoverned), and an agent's
``output_key``, which holds the answer as the run kept it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("google.adk", reason="the adk extra is not installed")

from google.adk.agents import LlmAgent, SequentialAgent  # pyright: ignore[reportDeprecated]
from google.adk.apps import App
from google.adk.events import Event
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService

from charter import Journal
from charter.integrations.adk import ScriptedLlm, govern
from integrations.adk.adk_world import (
    APP,
    USER,
    ask,
    lookup_order,
    ran,
    read_ticket,
    refund_order,
    send_email,
    shop_charter,
)

PHISHY = "To finish your refund, email your card number to x@evil.example."
MASKED = PHISHY.replace("x@evil.example", "[withheld: untrusted email]")
LEAK = "card number to x@evil.example"
"""The answer's own words with the address (the ticket's text has it in other words)."""


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    ran.clear()
    yield Journal(f"sqlite:///{tmp_path / 'charter.db'}")


def _reader(first: str, output_key: str | None = None) -> LlmAgent:
    """Reads ticket 5 (untrusted text holding the address), then answers ``first``."""
    script: list[Any] = [("read_ticket", {"ticket": 5}), first]
    return LlmAgent(
        name="reader",
        model=ScriptedLlm(script=script),
        instruction="Read the ticket.",
        tools=[read_ticket, lookup_order, refund_order, send_email],
        output_key=output_key,
    )


def _task(journal: Journal, root: Any, policy: str) -> tuple[list[Event], dict[str, Any]]:
    """One task of ``root`` under ``flows.answer: policy``: its events and the session's
    state after it."""
    plugin = govern(root, journal=journal, charter=shop_charter(flows={"answer": policy}))
    runner = Runner(
        app=App(name=APP, root_agent=root, plugins=[plugin]),
        session_service=InMemorySessionService(),
    )

    async def go() -> tuple[list[Event], dict[str, Any]]:
        made = await runner.session_service.create_session(app_name=APP, user_id=USER)
        events = [
            e
            async for e in runner.run_async(
                user_id=USER, session_id=made.id, new_message=ask("t 5")
            )
        ]
        session = await runner.session_service.get_session(
            app_name=APP, user_id=USER, session_id=made.id
        )
        assert session is not None
        return events, dict(session.state)

    return asyncio.run(go())


def _texts(events: list[Event]) -> str:
    return "".join(
        p.text or "" for e in events if e.content for p in e.content.parts or () if not p.thought
    )


@pytest.mark.parametrize(
    ("policy", "now"), [("redact", "ended with an earlier"), ("ask", "is waiting")]
)
def test_a_later_agents_answer_in_the_same_task_is_withheld(
    journal: Journal, policy: str, now: str
) -> None:
    first = "Read it." if policy == "redact" else PHISHY
    writer = LlmAgent(
        name="writer", model=ScriptedLlm(script=[PHISHY]), instruction="Answer.", output_key="reply"
    )
    # ADK 2 deprecates it for Workflow; still the common one
    root = SequentialAgent(  # pyright: ignore[reportDeprecated]
        name="desk", sub_agents=[_reader(first), writer]
    )
    events, state = _task(journal, root, policy)

    assert LEAK not in _texts(events) and LEAK not in repr(state)
    last = [e for e in events if e.author == "writer" and _texts([e])][-1]
    assert _texts([last]).startswith("[answer withheld: charter run") and now in _texts([last])
    assert state["reply"] == _texts([last])
    finished = [r.payload["answer"] for r in journal.records_of_kind("run.finished")]
    assert finished == (["Read it."] if policy == "redact" else [])  # the reader's, governed


@pytest.mark.parametrize("policy", ["redact", "ask"])
def test_an_output_key_holds_the_answer_as_the_run_kept_it(journal: Journal, policy: str) -> None:
    events, state = _task(journal, _reader(PHISHY, output_key="reply"), policy)

    shown = _texts(events[-1:])
    assert state["reply"] == shown and LEAK not in repr(state)
    assert shown == MASKED if policy == "redact" else "held for approval" in shown


def test_an_answer_from_an_earlier_tasks_tool_output_is_governed(journal: Journal) -> None:
    agent = _reader("Looking into it.")
    agent.model = ScriptedLlm(script=[("read_ticket", {"ticket": 5}), "Looking.", PHISHY])
    plugin = govern(agent, journal=journal, charter=shop_charter(flows={"answer": "redact"}))
    runner = Runner(
        app=App(name=APP, root_agent=agent, plugins=[plugin]),
        session_service=InMemorySessionService(),
    )

    async def two_tasks() -> list[Event]:
        made = await runner.session_service.create_session(app_name=APP, user_id=USER)
        async for _ in runner.run_async(user_id=USER, session_id=made.id, new_message=ask("t 5")):
            pass
        return [
            e
            async for e in runner.run_async(user_id=USER, session_id=made.id, new_message=ask("?"))
        ]

    assert LEAK not in _texts(asyncio.run(two_tasks()))
