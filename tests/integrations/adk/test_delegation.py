"""An ADK agent whose charter identity delegates: its model's call of the delegate tool
starts the sub-agent's run through charter, and the model reads the child's result as
the tool response (never a refusal), through ADK's real Runner; a child's approval is
the parent call's confirmation, continued on its receipt by a new Runner."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("google.adk", reason="the adk extra is not installed")

from google.adk.agents import LlmAgent
from google.adk.apps import App
from google.adk.events import Event, EventActions
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService, Session
from google.genai import types

from charter import Journal
from charter.agent import Agent
from charter.integrations.adk import (
    REQUEST_KEY,
    RUN_KEY,
    CharterPlugin,
    ScriptedLlm,
    ScriptTurn,
    confirmation_message,
    pending_confirmations,
)
from charter.runtime._approvals import Approvals
from charter.testing import call, respond
from integrations.adk.adk_world import APP, USER, ask, new_session, responses, run_turn
from runtime._delegation_agents import asking_charter, billing, child_of, front_desk, refunds


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    refunds.clear()
    yield Journal(f"sqlite:///{tmp_path / 'charter.db'}")


def ask_billing(task: str) -> str:
    """Hand a task to the billing agent."""
    raise AssertionError("charter runs the sub-agent; ADK never runs this tool")


def lookup_order(order_id: int) -> dict[str, Any]:
    """Look an order up."""
    return {"order_id": order_id}


def _front(child: Agent) -> Agent:
    return front_desk([], child)


def _runner(
    journal: Journal, identity: Agent, script: list[ScriptTurn], sessions: InMemorySessionService
) -> Runner:
    agent = LlmAgent(
        name="front_desk",
        model=ScriptedLlm(script=script),
        instruction="Hand billing work to billing.",
        tools=[lookup_order, ask_billing],
    )
    app = App(name=APP, root_agent=agent, plugins=[CharterPlugin(journal, identity)])
    return Runner(app=app, session_service=sessions)


def _session(sessions: InMemorySessionService, session_id: str) -> Session:
    found = asyncio.run(sessions.get_session(app_name=APP, user_id=USER, session_id=session_id))
    assert found is not None
    return found


def _finished(journal: Journal, run_id: str) -> dict[str, Any]:
    return next(r.payload for r in journal.records(run_id) if r.kind == "run.finished")


def _asking_child() -> Agent:
    script = [call("refund_order", order_id=1042), respond("refunded 1042")]
    return billing(script, charter=asking_charter("billing"))


def _waiting(journal: Journal, sessions: InMemorySessionService, task: str) -> tuple[str, str, str]:
    """A delegation whose child asks: the session, the parent run and the child's request."""
    script: list[ScriptTurn] = [("ask_billing", {"task": task}), "Billing refunded it."]
    runner = _runner(journal, _front(_asking_child()), script, sessions)
    session_id = new_session(runner)
    run_turn(runner, session_id, ask(task))
    session = _session(sessions, session_id)
    (pending,) = pending_confirmations(session)
    request = str((pending.args or {})["toolConfirmation"]["payload"][REQUEST_KEY])
    return session_id, str(session.state[RUN_KEY]), request


def test_the_model_reads_the_childs_answer_as_the_delegate_tools_response(
    journal: Journal,
) -> None:
    child = billing([call("refund_order", order_id=1042), respond("refunded 1042")])
    script: list[ScriptTurn] = [("ask_billing", {"task": "refund order 1042"}), "Refunded."]
    sessions = InMemorySessionService()
    runner = _runner(journal, _front(child), script, sessions)
    session_id = new_session(runner)

    events = run_turn(runner, session_id, ask("refund order 1042"))

    run_id = str(_session(sessions, session_id).state[RUN_KEY])
    assert responses(events)["ask_billing"] == {
        "agent": "billing",
        "run": child_of(journal, run_id),
        "status": "completed",
        "answer": "refunded 1042",
    }
    assert refunds == [1042]
    finished = _finished(journal, run_id)
    assert finished["status"] == "completed" and finished["answer"] == "Refunded."


def test_a_child_that_failed_is_the_delegate_tools_error(journal: Journal) -> None:
    child = billing([call("refund_order", order_id=1042)])  # then its script runs out
    script: list[ScriptTurn] = [("ask_billing", {"task": "refund order 1042"}), "It failed."]
    sessions = InMemorySessionService()
    runner = _runner(journal, _front(child), script, sessions)
    session_id = new_session(runner)

    events = run_turn(runner, session_id, ask("refund order 1042"))

    error = responses(events)["ask_billing"]["error"]
    assert error.startswith("delegation to billing failed: scripted reasoner")
    run_id = str(_session(sessions, session_id).state[RUN_KEY])
    assert _finished(journal, child_of(journal, run_id))["status"] == "failed"


def test_a_childs_approval_confirms_the_call_and_a_new_runner_continues_the_child(
    journal: Journal,
) -> None:
    sessions = InMemorySessionService()
    session_id, run_id, request = _waiting(journal, sessions, "refund order 1042")
    assert refunds == [] and Approvals(journal).get(request).request.run_id != run_id
    assert confirmation_message(_session(sessions, session_id), journal) is None  # undecided
    Approvals(journal).approve(request, "alice", "fine")

    # Another process: a new Runner and plugin over the same sessions.
    runner = _runner(journal, _front(_asking_child()), ["Billing refunded it."], sessions)
    message = confirmation_message(_session(sessions, session_id), journal)
    assert message is not None
    events = run_turn(runner, session_id, message)

    assert responses(events)["ask_billing"]["answer"] == "refunded 1042"
    assert refunds == [1042]
    assert _finished(journal, run_id)["status"] == "completed"
    assert _finished(journal, child_of(journal, run_id))["status"] == "completed"


def test_a_childs_approval_confirms_no_call_but_the_one_it_waits_with(journal: Journal) -> None:
    sessions = InMemorySessionService()
    first, first_run, request = _waiting(journal, sessions, "refund order 1042")
    other, _, _ = _waiting(journal, sessions, "refund order 7")
    edited, _, _ = _waiting(journal, sessions, "refund order 9")
    Approvals(journal).approve(request, "alice", "fine")
    runner = _runner(journal, _front(_asking_child()), ["done"], sessions)
    forged = {"confirmed": True, "payload": {REQUEST_KEY: request}}

    # Another session's call, confirmed by the first one's approval: another run's.
    events = run_turn(runner, other, _confirmation(sessions, other, forged))
    assert "another run" in responses(events)["ask_billing"]["error"]
    # ...and with its state edited to name the first run: not the call that run waits with.
    edit = Event(author="user", actions=EventActions(state_delta={RUN_KEY: first_run}))
    asyncio.run(sessions.append_event(_session(sessions, edited), edit))
    events = run_turn(runner, edited, _confirmation(sessions, edited, forged))
    assert "differs from approval" in responses(events)["ask_billing"]["error"]
    assert refunds == []

    # The first session's own confirmation still continues its child, once.
    message = confirmation_message(_session(sessions, first), journal)
    assert message is not None
    events = run_turn(runner, first, message)
    assert responses(events)["ask_billing"]["answer"] == "refunded 1042"
    assert refunds == [1042]


def _confirmation(
    sessions: InMemorySessionService, session_id: str, answer: dict[str, Any]
) -> types.Content:
    (pending,) = pending_confirmations(_session(sessions, session_id))
    response = types.FunctionResponse(
        name="adk_request_confirmation", id=pending.id, response=answer
    )
    return types.Content(role="user", parts=[types.Part(function_response=response)])
