"""A governed Pydantic AI agent run streamed (``run_stream``, ``iter``, an
``event_stream_handler``), its model streaming its answer in pieces: under
``flows.answer: redact``, ``ask`` or ``deny`` no piece of the answer reaches the reader
before the run has governed it, and the stream gives the answer as the run kept it;
where the framework hands the text out as it comes (``iter``, a handler), the run is
refused with a clear error; otherwise the stream is the framework's own, the tool calls
in it governed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pydantic_ai", reason="the pydantic-ai extra is not installed")

from pydantic import BaseModel
from pydantic_ai import Agent, DeferredToolRequests
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

from charter import Journal
from charter.errors import ConfigError
from charter.integrations.pydantic_ai import approvals, govern
from charter.runtime._approvals import Approvals
from integrations.pydantic_ai.pyd_world import PLANTED, Script, charter

ADDRESS = "attacker@evil.example"
PHISHY = f"Your refund needs a form: write to {ADDRESS} with your card number."
MASKED = PHISHY.replace(ADDRESS, "[withheld: untrusted email]")


class Reply(BaseModel):
    """A structured answer."""

    message: str


def _streaming_agent(script: Script, ran: list[str], output_type: Any = str) -> Agent[None, Any]:
    """An agent reading a ticket, whose model streams each answer in small pieces."""

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        response = script(messages, info)
        for part in response.parts:
            if part.part_kind == "text":
                text = part.content
                for start in range(0, len(text), 8):
                    yield text[start : start + 8]
            elif part.part_kind == "tool-call":
                args = json.dumps(part.args)
                calls: DeltaToolCalls = {
                    0: DeltaToolCall(part.tool_name, args[:5], tool_call_id=part.tool_call_id)
                }
                yield calls
                yield {0: DeltaToolCall(json_args=args[5:])}

    agent = Agent(
        FunctionModel(script, stream_function=stream), name="support", output_type=output_type
    )

    @agent.tool_plain
    def read_ticket(ticket: int) -> str:
        """Read a customer's ticket."""
        ran.append("read_ticket")
        return f"Ticket {ticket}: my parcel arrived damaged. {PLANTED}"

    return agent


def _governed(journal: Journal, policy: str, answer: Any, output_type: Any = str) -> Any:
    final = answer if isinstance(answer, str) else [("final_result", answer)]
    script = Script([[("read_ticket", {"ticket": 7})], final])
    ran: list[str] = []
    agent = _streaming_agent(script, ran, output_type)
    return govern(agent, journal=journal, charter=charter(flows={"answer": policy})), ran


async def _read(governed: Any, **kwargs: Any) -> tuple[list[str], Any]:
    """Stream a governed run's text (as deltas): the pieces the reader saw, and the
    output."""
    async with governed.run_stream("answer ticket 7", **kwargs) as streamed:
        seen = [piece async for piece in streamed.stream_text(delta=True, debounce_by=None)]
        return seen, await streamed.get_output()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'charter.db'}")


def _calls(journal: Journal) -> list[tuple[str, str]]:
    """The tool calls charter decided: (tool, verdict)."""
    decided = [r.payload for r in journal.records_of_kind("step.decided")]
    return [(p["tool"], p["verdict"]) for p in decided if p["tool"] == "read_ticket"]


def _finished(journal: Journal) -> Any:
    (finished,) = journal.records_of_kind("run.finished")
    return finished.payload


def test_an_ungoverned_answer_streams_in_pieces_its_tool_call_governed(journal: Journal) -> None:
    governed, ran = _governed(journal, "flag", PHISHY)

    seen, output = asyncio.run(_read(governed))

    assert len(seen) > 1 and "".join(seen) == PHISHY == output  # streamed as it came
    assert ran == ["read_ticket"]
    assert _calls(journal) == [("read_ticket", "allow")]
    assert _finished(journal)["answer"] == PHISHY


def test_a_redacted_answer_reaches_the_stream_only_masked(journal: Journal) -> None:
    governed, ran = _governed(journal, "redact", PHISHY)

    seen, output = asyncio.run(_read(governed))

    assert seen == [MASKED] and output == MASKED  # whole, once governed
    assert not any(ADDRESS in piece for piece in seen)
    assert ran == ["read_ticket"] and _finished(journal)["answer"] == MASKED


def test_a_denied_answer_streams_only_the_withheld_notice(journal: Journal) -> None:
    governed, _ = _governed(journal, "deny", PHISHY)

    seen, output = asyncio.run(_read(governed))

    assert len(seen) == 1 and seen[0].startswith("[answer withheld:") and output == seen[0]
    assert "card number" not in seen[0]


def test_a_held_answer_streams_nothing_until_released(journal: Journal) -> None:
    governed, _ = _governed(journal, "ask", PHISHY)

    async def held() -> tuple[Any, list[ModelMessage]]:
        async with governed.run_stream("answer ticket 7") as streamed:
            with pytest.raises(Exception, match="text responses"):  # the framework's own
                async for _ in streamed.stream_text():
                    pass
            return await streamed.get_output(), streamed.all_messages()

    output, messages = asyncio.run(held())

    assert isinstance(output, DeferredToolRequests)
    (call,) = output.approvals
    assert call.tool_name == "answer.release"
    assert ADDRESS not in str([m for m in messages if isinstance(m, ModelResponse)])
    Approvals(journal).approve(call.tool_call_id, "dana")

    async def release() -> Any:
        async with governed.run_stream(
            message_history=messages, deferred_tool_results=approvals(output)
        ) as streamed:
            return [piece async for piece in streamed.stream_text(delta=True)]

    assert asyncio.run(release()) == [PHISHY]


def test_a_structured_output_streams_typed_once_governed(journal: Journal) -> None:
    governed, _ = _governed(journal, "redact", {"message": PHISHY}, Reply)

    async def outputs() -> list[Any]:
        async with governed.run_stream("answer ticket 7") as streamed:
            return [o async for o in streamed.stream_output(debounce_by=None)]

    assert asyncio.run(outputs()) == [Reply(message=MASKED)]


def test_iter_is_refused_while_the_charter_governs_the_answer(journal: Journal) -> None:
    governed, ran = _governed(journal, "redact", PHISHY)

    async def walk() -> None:
        async with governed.iter("answer ticket 7") as run:
            async for _ in run:
                pass

    with pytest.raises(ConfigError, match=r"flows.answer: redact .* iter\(\) .* run_stream\(\)"):
        asyncio.run(walk())
    assert ran == [] and journal.records_of_kind("run.started") == []


def test_iter_without_answer_governance_is_governed_node_by_node(journal: Journal) -> None:
    governed, ran = _governed(journal, "flag", PHISHY)

    async def walk() -> Any:
        async with governed.iter("answer ticket 7") as run:
            async for _ in run:
                pass
            return run.result

    result = asyncio.run(walk())

    assert result is not None and result.output == PHISHY and ran == ["read_ticket"]
    assert _calls(journal) == [("read_ticket", "allow")]
    assert _finished(journal)["answer"] == PHISHY


@pytest.mark.parametrize("on_agent", [False, True])
def test_an_event_stream_handler_is_refused_while_the_charter_governs_the_answer(
    journal: Journal, on_agent: bool
) -> None:
    governed, ran = _governed(journal, "ask", PHISHY)
    texts: list[str] = []

    async def handler(ctx: Any, events: Any) -> None:
        async for event in events:
            texts.append(str(event))

    if on_agent:  # what a durable-execution agent carries (no public setter)
        governed.agent._event_stream_handler = handler  # pyright: ignore[reportPrivateUsage]
    kwargs: dict[str, Any] = {} if on_agent else {"event_stream_handler": handler}

    with pytest.raises(ConfigError, match="an event_stream_handler"):
        governed.run_sync("answer ticket 7", **kwargs)
    assert texts == [] and ran == []


def test_an_event_stream_handler_sees_the_run_when_the_answer_is_not_governed(
    journal: Journal,
) -> None:
    governed, _ = _governed(journal, "flag", PHISHY)
    kinds: list[str] = []

    async def handler(ctx: Any, events: Any) -> None:
        async for event in events:
            kinds.append(event.event_kind)

    result = governed.run_sync("answer ticket 7", event_stream_handler=handler)

    assert result.output == PHISHY and "function_tool_call" in kinds
