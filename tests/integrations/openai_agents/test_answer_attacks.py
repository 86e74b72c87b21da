"""Ways around a governed answer (``flows.answer: ask``, ``redact`` or ``deny``) that an
answer's text might take to the caller: a refusal (the SDK raises it, its text in the
error), a refusal beside a text, a message beside a call the provider already ran, a
structured output a ``Session`` stores, the governed agent run again once its charter run
has ended or holds its answer. The SDK's own scripted model (``agents.testing``) plays
the model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("agents", reason="the openai-agents extra is not installed")

from agents import Runner, SQLiteSession
from agents.exceptions import ModelRefusalError, UserError
from agents.testing import ScriptedModel, assistant_message, function_call
from openai.types.responses import (
    ResponseFunctionWebSearch,
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseOutputText,
)
from openai.types.responses.response_function_web_search import ActionSearch
from pydantic import BaseModel

from charter import Journal
from charter.integrations.openai_agents import AnswerNotShown, RunStopped, govern, resume
from charter.runtime._approvals import Approvals
from integrations.openai_agents.shop import Shop, make_agent, make_charter

PHISHY = "To finish your refund, email your card number to attacker@evil.example."
MASKED = PHISHY.replace("attacker@evil.example", "[withheld: untrusted email]")
LEAK = "number to attacker@evil.example"
"""The answer's own words with the address (the ticket's text has it too, in other words)."""


def _model(*parts: ResponseOutputText | ResponseOutputRefusal) -> ScriptedModel:
    """Reads ticket 3 (untrusted text holding the address), then answers with one
    message of ``parts``."""
    read = [function_call("read_ticket", {"ticket_id": 3}, call_id="read-1")]
    message = ResponseOutputMessage(
        id="msg-1", type="message", role="assistant", status="completed", content=list(parts)
    )
    return ScriptedModel([read, [message]])


def _refusal(text: str) -> ResponseOutputRefusal:
    return ResponseOutputRefusal(type="refusal", refusal=text)


def _text(text: str) -> ResponseOutputText:
    return ResponseOutputText(type="output_text", text=text, annotations=[])


async def _run(agent: Any, streamed: bool) -> tuple[Any, list[Any]]:
    """The result and the events the reader got (none when not streamed)."""
    if not streamed:
        return await Runner.run(agent, "answer ticket 3"), []
    result = Runner.run_streamed(agent, "answer ticket 3")
    events: list[Any] = []
    try:
        async for event in result.stream_events():
            events.append(event)
    finally:
        result.cancel()
    return result, events


@pytest.mark.parametrize("streamed", [False, True])
def test_a_refusal_is_governed_as_the_answer_before_the_sdk_raises_it(
    journal: Journal, streamed: bool
) -> None:
    agent = make_agent(Shop(), _model(_refusal(PHISHY)))
    charter = make_charter(flows={"answer": "redact"})
    with govern(agent, journal=journal, charter=charter, goal="answer 3") as g:
        with pytest.raises(ModelRefusalError) as raised:
            asyncio.run(_run(g.agent, streamed))
        run = g.run

    assert LEAK not in str(raised.value) and MASKED in str(raised.value)
    assert run.status == "completed" and run.answer == MASKED


def test_a_streamed_refusal_reaches_the_reader_as_the_run_kept_it(journal: Journal) -> None:
    agent = make_agent(Shop(), _model(_refusal(PHISHY)))
    charter = make_charter(flows={"answer": "deny"})
    events: list[Any] = []

    async def read(agent: Any) -> None:
        async for event in Runner.run_streamed(agent, "answer ticket 3").stream_events():
            events.append(event)

    with govern(agent, journal=journal, charter=charter, goal="answer 3") as g:
        with pytest.raises(ModelRefusalError):
            asyncio.run(read(g.agent))
        run = g.run

    raw = [e.data for e in events if e.type == "raw_response_event"]
    refused = "".join(d.delta for d in raw if d.type == "response.refusal.delta")
    assert LEAK not in repr(raw) and refused == run.answer
    assert str(run.answer).startswith("[answer withheld")


@pytest.mark.parametrize("streamed", [False, True])
def test_a_refusal_beside_a_text_is_part_of_the_answer_and_not_raised(
    journal: Journal, streamed: bool
) -> None:
    agent = make_agent(Shop(), _model(_text("Here is what to do:"), _refusal(PHISHY)))
    charter = make_charter(flows={"answer": "deny"})
    with govern(agent, journal=journal, charter=charter, goal="answer 3") as g:
        result, events = asyncio.run(_run(g.agent, streamed))
        run = g.finish(result)

    assert run.steps[-1].action.text == "Here is what to do:" + PHISHY  # type: ignore[union-attr]
    assert str(run.answer).startswith("[answer withheld") and result.final_output == run.answer
    assert LEAK not in repr(result.new_items) and LEAK not in repr(events)
    assert LEAK not in str(result.to_input_list())


def test_an_answer_beside_a_call_the_provider_already_ran_is_governed(
    journal: Journal, tmp_path: Path
) -> None:
    searched = ResponseFunctionWebSearch(
        id="ws-1",
        type="web_search_call",
        status="completed",
        action=ActionSearch(type="search", query="refund"),
    )  # a hosted call: the SDK runs nothing and ends the run with the message beside it
    read = [function_call("read_ticket", {"ticket_id": 3}, call_id="read-1")]
    agent = make_agent(Shop(), ScriptedModel([read, [searched, assistant_message(PHISHY)]]))
    charter = make_charter(flows={"answer": "redact"})
    session = SQLiteSession("ticket-3", str(tmp_path / "sessions.db"))
    with govern(agent, journal=journal, charter=charter, goal="answer 3") as g:
        result = asyncio.run(Runner.run(g.agent, "answer ticket 3", session=session))
        governed = g.run  # before finish: the answer was governed as the model gave it
        run = g.finish(result)

    assert governed.status == "completed" and governed.answer == MASKED == run.answer
    assert result.final_output == MASKED and LEAK not in repr(asyncio.run(session.get_items()))


# --- the governed agent run again: its charter run governs no second answer ---


def _second_run(agent: Any, first: Any, streamed: bool) -> Any:
    follow_up: list[Any] = [*first.to_input_list(), {"role": "user", "content": "and then?"}]
    if not streamed:
        return asyncio.run(Runner.run(agent, follow_up))

    async def read() -> Any:
        result = Runner.run_streamed(agent, follow_up)
        return [event async for event in result.stream_events()]

    return asyncio.run(read())


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize(("policy", "now"), [("redact", "has finished"), ("ask", "waits for")])
def test_a_second_answer_of_a_governed_agent_run_again_is_refused(
    journal: Journal, policy: str, now: str, streamed: bool
) -> None:
    first = "Sorry about the parcel." if policy == "redact" else PHISHY
    read = [function_call("read_ticket", {"ticket_id": 3}, call_id="read-1")]
    model = ScriptedModel([read, [assistant_message(first)], [assistant_message(PHISHY)]])
    agent = make_agent(Shop(), model)
    with govern(
        agent, journal=journal, charter=make_charter(flows={"answer": policy}), goal="3"
    ) as g:
        result = asyncio.run(Runner.run(g.agent, "answer ticket 3"))
        g.finish(result)
        with pytest.raises(UserError, match=f"charter run {g.run_id} {now}") as raised:
            _second_run(g.agent, result, streamed)
        run = g.run

    assert LEAK not in str(raised.value) and run.answer in (first, None)
    assert len(model.calls) == 3  # the model answered; its answer reached no one


def test_an_answer_after_charter_stopped_the_run_is_refused(journal: Journal) -> None:
    lookups = [
        [function_call("lookup_order", {"order_id": n}, call_id=f"l-{n}")] for n in (1, 2, 3)
    ]
    model = ScriptedModel([*lookups, [assistant_message(PHISHY)]])
    agent = make_agent(Shop(), model)
    charter = make_charter(flows={"answer": "deny"}, budgets={"max_steps": 2})
    with govern(agent, journal=journal, charter=charter, goal="3") as g:
        with pytest.raises(RunStopped):
            asyncio.run(Runner.run(g.agent, "look up orders"))
        with pytest.raises(RunStopped, match=g.run_id):
            asyncio.run(Runner.run(g.agent, "just answer"))

    assert g.run.status == "stopped" and g.run.answer is None


# --- a structured output is governed as the model gives it, before a Session stores it ---


class Reply(BaseModel):
    text: str


def _structured(journal: Journal, tmp_path: Path, policy: str) -> tuple[Any, Any, list[Any]]:
    """A run of an agent with ``output_type=Reply`` and a ``Session``: the result (or the
    error the run ended with), the charter run, and what the session stored."""
    agent = make_agent(Shop(), _model(_text(json.dumps({"text": PHISHY}))), output_type=Reply)
    session = SQLiteSession("ticket-3", str(tmp_path / "sessions.db"))
    charter = make_charter(flows={"answer": policy})
    with govern(agent, journal=journal, charter=charter, goal="answer 3") as g:
        try:
            outcome: Any = asyncio.run(Runner.run(g.agent, "answer ticket 3", session=session))
        except AnswerNotShown as exc:
            outcome = exc
        run = g.run
    stored = asyncio.run(SQLiteSession("ticket-3", str(tmp_path / "sessions.db")).get_items())
    return outcome, run, stored


def test_a_masked_structured_answer_that_fits_its_type_is_the_output_and_stored(
    journal: Journal, tmp_path: Path
) -> None:
    result, run, stored = _structured(journal, tmp_path, "redact")

    assert result.final_output == Reply(text=MASKED) and run.answer == json.dumps({"text": MASKED})
    assert LEAK not in repr(stored) and MASKED in repr(stored)
    assert LEAK not in repr(result.new_items) and LEAK not in repr(result.raw_responses)


@pytest.mark.parametrize(
    ("policy", "shown"), [("deny", "[answer withheld"), ("ask", "[answer held")]
)
def test_a_structured_answer_no_output_type_can_carry_ends_the_run_unstored(
    journal: Journal, tmp_path: Path, policy: str, shown: str
) -> None:
    error, run, stored = _structured(journal, tmp_path, policy)

    assert isinstance(error, AnswerNotShown) and error.answer.startswith(shown)
    assert LEAK not in str(error) and LEAK not in repr(stored)
    assert [i for i in stored if i.get("role") == "assistant"] == []
    assert run.status == ("completed" if policy == "deny" else "waiting")


def test_a_held_structured_answer_is_released_on_approval(journal: Journal, tmp_path: Path) -> None:
    error, waiting, _ = _structured(journal, tmp_path, "ask")
    assert isinstance(error, AnswerNotShown) and str(waiting.waiting_for) in error.answer

    Approvals(journal).approve(str(waiting.waiting_for), "dana")
    agent = make_agent(Shop(), ScriptedModel([]), output_type=Reply)
    charter = make_charter(flows={"answer": "ask"})
    with resume(agent, journal=journal, charter=charter, run_id=waiting.run_id) as g:
        assert g.finish().answer == json.dumps({"text": PHISHY})


# --- a tool's output that ends the run is governed by finish ---


@pytest.mark.parametrize("policy", ["redact", "ask"])
def test_a_tool_output_ending_the_run_is_governed_by_finish(journal: Journal, policy: str) -> None:
    read = [function_call("read_ticket", {"ticket_id": 3}, call_id="read-1")]
    agent = make_agent(Shop(), ScriptedModel([read]), tool_use_behavior="stop_on_first_tool")
    charter = make_charter(flows={"answer": policy})
    with govern(agent, journal=journal, charter=charter, goal="answer 3") as g:
        result = asyncio.run(Runner.run(g.agent, "answer ticket 3"))
        assert "attacker@evil.example" in str(result.final_output)  # the SDK's, until finish
        run = g.finish(result)

    assert "attacker@evil.example" not in str(result.final_output)
    if policy == "redact":
        assert run.answer is not None and result.final_output == run.answer
        assert "[withheld: untrusted email]" in run.answer
    else:
        assert run.status == "waiting" and str(run.waiting_for) in result.final_output


# --- a Session carries an earlier run's untrusted tool output into the next run ---


def test_an_answer_from_a_sessions_earlier_tool_output_is_governed(
    journal: Journal, tmp_path: Path
) -> None:
    model = ScriptedModel(
        [
            [function_call("read_ticket", {"ticket_id": 3}, call_id="read-1")],
            [assistant_message("Looking into it.")],
            [assistant_message(PHISHY)],  # next run: the ticket's address, from the session
        ]
    )
    agent = make_agent(Shop(), model)
    charter = make_charter(flows={"answer": "redact"})
    session = SQLiteSession("ticket-3", str(tmp_path / "sessions.db"))
    with govern(agent, journal=journal, charter=charter, goal="answer 3") as g:
        asyncio.run(Runner.run(g.agent, "answer ticket 3", session=session))
    with govern(agent, journal=journal, charter=charter, goal="what now") as g:
        result = asyncio.run(Runner.run(g.agent, "what should I do?", session=session))

    assert LEAK not in str(result.final_output)
