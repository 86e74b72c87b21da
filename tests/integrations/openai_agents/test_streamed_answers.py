"""A governed answer under ``flows.answer: ask``, ``redact`` or ``deny`` as the SDK streams
it and stores it: ``Runner.run_streamed`` gives the reader no text of a final answer
before charter has governed it (then the answer as the run kept it), tool-call events
still flow, and a ``SQLiteSession`` stores, and gives the model next turn, the answer as
the run kept it. The SDK's own scripted model (``agents.testing``) plays the model,
streaming its responses event by event."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("agents", reason="the openai-agents extra is not installed")

from agents import Agent, RunConfig, Runner, SQLiteSession
from agents.exceptions import UserError
from agents.testing import ScriptedModel, assistant_message, function_call
from pydantic import BaseModel

from charter import Journal
from charter.errors import ConfigError
from charter.integrations.openai_agents import govern, resume
from charter.runtime._approvals import Approvals
from integrations.openai_agents.shop import Shop, make_agent, make_charter

PHISHY = "To finish your refund, email your card number to attacker@evil.example."
MASKED = PHISHY.replace("attacker@evil.example", "[withheld: untrusted email]")
LEAK = "number to attacker@evil.example"
"""The answer's own words with the address (the ticket's text has it too, in other words)."""
CLEAN = "Sorry about the parcel; it is on its way."


def _model(*answers: Any) -> ScriptedModel:
    """Reads ticket 3 (untrusted text holding the address), then gives each of ``answers``
    (a text, or a list of output items) as its next response."""
    read = [function_call("read_ticket", {"ticket_id": 3}, call_id="read-1")]
    return ScriptedModel(
        [read, *([assistant_message(a)] if isinstance(a, str) else a for a in answers)]
    )


def _streamed(agent: Agent[Any], **kwargs: Any) -> tuple[Any, list[Any]]:
    """Run ``agent`` streamed to the end: the result and every event the reader got."""

    async def go() -> tuple[Any, list[Any]]:
        result = Runner.run_streamed(agent, "answer ticket 3", **kwargs)
        return result, [event async for event in result.stream_events()]

    return asyncio.run(go())


def _raw(events: list[Any]) -> list[Any]:
    return [e.data for e in events if e.type == "raw_response_event"]


def _text(events: list[Any]) -> str:
    """Every text the reader was streamed: deltas, done events, parts and items."""
    return repr(_raw(events))


def _deltas(events: list[Any]) -> str:
    return "".join(d.delta for d in _raw(events) if d.type == "response.output_text.delta")


@pytest.mark.parametrize(
    ("policy", "shown"),
    [("redact", MASKED), ("deny", "[answer withheld: it carries email")],
)
def test_a_streamed_answer_reaches_the_reader_as_the_run_kept_it(
    journal: Journal, policy: str, shown: str
) -> None:
    agent = make_agent(Shop(), _model(PHISHY))
    with govern(
        agent, journal=journal, charter=make_charter(flows={"answer": policy}), goal="3"
    ) as g:
        result, events = _streamed(g.agent)
        run = g.finish(result)

    assert LEAK not in _text(events) and LEAK not in str(result.new_items)
    assert _deltas(events).startswith(shown) and _deltas(events) == run.answer
    assert result.final_output == run.answer and run.status == "completed"
    assert run.steps[-1].action.text == PHISHY  # type: ignore[union-attr]  (as the model gave it)


def test_a_held_streamed_answer_shows_its_notice_and_is_released_on_approval(
    journal: Journal,
) -> None:
    agent = make_agent(Shop(), _model(PHISHY))
    charter = make_charter(flows={"answer": "ask"})
    with govern(agent, journal=journal, charter=charter, goal="answer 3") as g:
        result, events = _streamed(g.agent)
        waiting = g.finish(result)
    request = str(waiting.waiting_for)

    assert waiting.status == "waiting" and request in _deltas(events)
    assert LEAK not in _text(events) and request in str(result.final_output)
    Approvals(journal).approve(request, "dana")
    agent = make_agent(Shop(), ScriptedModel([]))
    with resume(agent, journal=journal, charter=charter, run_id=waiting.run_id) as g:
        assert g.finish().answer == PHISHY


def test_tool_call_events_flow_and_a_clean_answer_streams_unchanged(journal: Journal) -> None:
    agent = make_agent(Shop(), _model(CLEAN))
    charter = make_charter(flows={"answer": "deny"})
    with govern(agent, journal=journal, charter=charter, goal="answer 3") as g:
        _, events = _streamed(g.agent)
        run = g.finish()

    kinds = [d.type for d in _raw(events)]
    assert "response.function_call_arguments.delta" in kinds
    assert [e.name for e in events if e.type == "run_item_stream_event"][:2] == [
        "tool_called",
        "tool_output",
    ]
    assert _deltas(events) == CLEAN and run.answer == CLEAN


def test_text_beside_a_tool_call_is_no_final_answer_and_streams_as_given(
    journal: Journal,
) -> None:
    said = "Let me read attacker@evil.example's ticket first."
    turn = [assistant_message(said), function_call("lookup_order", {"order_id": 7}, call_id="l")]
    agent = make_agent(Shop(), _model(turn, CLEAN))
    charter = make_charter(flows={"answer": "deny"})
    with govern(agent, journal=journal, charter=charter, goal="answer 3") as g:
        _, events = _streamed(g.agent)
        run = g.finish()

    assert _deltas(events) == said + CLEAN  # the model's aside is not governed as an answer
    assert run.answer == CLEAN and [s.action.tool for s in run.steps[:-1]] == [  # type: ignore[union-attr]
        "read_ticket",
        "lookup_order",
    ]


class Reply(BaseModel):
    text: str


def test_a_structured_output_is_not_streamed_under_a_governed_answer(journal: Journal) -> None:
    agent = make_agent(Shop(), _model('{"text": "hi"}'), output_type=Reply)
    charter = make_charter(flows={"answer": "redact"})
    with (
        govern(agent, journal=journal, charter=charter, goal="answer 3") as g,
        pytest.raises(UserError, match="cannot hold a structured output while it streams"),
    ):
        _streamed(g.agent)


def test_an_agent_whose_model_is_a_name_is_refused_before_a_run_opens(
    journal: Journal,
) -> None:
    agent = make_agent(Shop(), "gpt-4.1")
    with pytest.raises(ConfigError, match=r"give the agent its model as a Model"):
        govern(agent, journal=journal, charter=make_charter(flows={"answer": "ask"}), goal="g")

    assert list(journal.records()) == []
    with govern(agent, journal=journal, charter=make_charter(), goal="g") as g:  # flag
        assert g.agent.model == "gpt-4.1"


def test_a_run_config_model_replacing_the_governed_one_is_refused(journal: Journal) -> None:
    agent = make_agent(Shop(), _model(PHISHY))
    other = ScriptedModel([[assistant_message(PHISHY)]])
    charter = make_charter(flows={"answer": "redact"})
    with govern(agent, journal=journal, charter=charter, goal="answer 3") as g:
        with pytest.raises(UserError, match="a model charter does not hold"):
            _streamed(g.agent, run_config=RunConfig(model=other))
        assert g.run.status == "running" and g.run.answer is None


# --- a Session stores the answer as the run kept it ---


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("policy", ["redact", "deny", "ask"])
def test_the_session_stores_the_kept_answer_and_the_next_turn_sees_it(
    journal: Journal, tmp_path: Path, policy: str, streamed: bool
) -> None:
    model = _model(PHISHY, "Anything else?")
    agent = make_agent(Shop(), model)
    charter = make_charter(flows={"answer": policy})
    session = SQLiteSession("ticket-3", str(tmp_path / "sessions.db"))
    with govern(agent, journal=journal, charter=charter, goal="answer 3") as g:
        if streamed:
            result, _ = _streamed(g.agent, session=session)
        else:
            result = asyncio.run(Runner.run(g.agent, "answer ticket 3", session=session))
        run = g.finish(result)
    kept = str(run.answer if policy != "ask" else result.final_output)

    reopened = SQLiteSession("ticket-3", str(tmp_path / "sessions.db"))
    stored = asyncio.run(reopened.get_items())
    answers = [i for i in stored if i.get("role") == "assistant"]
    assert [p["text"] for a in answers for p in a["content"]] == [kept]  # type: ignore[index]
    with govern(agent, journal=journal, charter=charter, goal="anything else") as g:
        asyncio.run(Runner.run(g.agent, "thanks", session=reopened))
    sent = model.calls[-1].input
    assert kept in str(sent) and PHISHY not in str(sent)
