"""The local reasoner: prompt and schema building (fast), and the real model (``llm``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from pydantic import BaseModel

from charter.errors import ReasonerUnavailableError
from charter.reasoners._base import FinalAnswer, Observation, RunContext, ToolCall, Turn
from charter.reasoners.local import (
    UNPARSEABLE_PREFIX,
    LocalReasoner,
    build_messages,
    build_response_schema,
    parse_action,
    respond_name,
    system_prompt,
)
from charter.tools import Tool, tool

INSTRUCTIONS = "You are a customer-support agent for an online shop."


@tool
def lookup_order(order_id: int) -> dict[str, Any]:
    """Look up an order by its numeric id."""
    return {"order_id": order_id}


@tool
def list_customers(limit: int = 10) -> list[str]:
    """List customers, newest first."""
    return []


@tool(side_effect="write")
def refund_order(order_id: int, reason: str) -> dict[str, Any]:
    """Refund an order."""
    return {}


TOOLS = [lookup_order, list_customers, refund_order]


def _options(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["properties"]["name"]["const"]: o for o in schema["anyOf"]}


def test_response_schema_offers_each_tool_and_respond() -> None:
    schema = build_response_schema(TOOLS)
    options = _options(schema)

    assert set(options) == {"lookup_order", "list_customers", "refund_order", "respond"}
    for t in TOOLS:
        assert options[t.name]["properties"]["arguments"] == t.parameters_schema()
    for option in options.values():
        assert option["required"] == ["name", "arguments"]
        assert option["additionalProperties"] is False
    assert options["respond"]["properties"]["arguments"]["properties"] == {
        "text": {"type": "string"}
    }


def test_respond_is_renamed_when_a_tool_takes_the_name() -> None:
    @tool
    def respond(text: str) -> str:
        """Send a message."""
        return text

    tools: list[Tool] = [respond, lookup_order]
    assert respond_name(tools) == "final_respond"
    assert set(_options(build_response_schema(tools))) == {
        "respond",
        "lookup_order",
        "final_respond",
    }
    assert isinstance(
        parse_action('{"name":"respond","arguments":{"text":"x"}}', "final_respond"), ToolCall
    )


class Address(BaseModel):
    street: str
    city: str


@tool
def ship(order_id: int, to: Address) -> None:
    """Ship an order."""


def test_nested_models_are_hoisted_to_root_defs() -> None:
    schema = build_response_schema([ship])

    assert set(schema["$defs"]) == {"ship__Address"}
    to = _options(schema)["ship"]["properties"]["arguments"]["properties"]["to"]
    assert to == {"$ref": "#/$defs/ship__Address"}


def test_response_schema_compiles_to_a_grammar() -> None:
    xllamacpp: Any = pytest.importorskip("xllamacpp")
    grammar = xllamacpp.json_schema_to_grammar(build_response_schema([*TOOLS, ship]))
    assert "lookup_order" in grammar


def test_parse_action() -> None:
    assert parse_action('{"name":"lookup_order","arguments":{"order_id":1042}}') == ToolCall(
        "lookup_order", {"order_id": 1042}
    )
    assert parse_action('{"name":"respond","arguments":{"text":"Shipped."}}') == FinalAnswer(
        "Shipped."
    )
    # Unknown tools and odd arguments pass through; the runtime reports them to the model.
    assert parse_action('{"name":"nope","arguments":{"a":1}}') == ToolCall("nope", {"a": 1})
    assert parse_action('{"name":"lookup_order","arguments":[1]}') == ToolCall("lookup_order", {})
    assert parse_action('{"name":"respond","arguments":{}}') == ToolCall("respond", {})


@pytest.mark.parametrize("text", ['{"name":"respond","argu', "hello", "[1, 2]", '{"name": 3}', ""])
def test_unparseable_output_becomes_a_marked_final_answer(text: str) -> None:
    action = parse_action(text)
    assert isinstance(action, FinalAnswer)
    assert action.text.startswith(UNPARSEABLE_PREFIX)


def _shipped_turn() -> Turn:
    return Turn(
        ToolCall("lookup_order", {"order_id": 1042}),
        Observation("ok", {"order_id": 1042, "status": "shipped", "carrier": "DHL"}),
    )


def test_system_message_is_stable_across_steps_and_runs() -> None:
    first = RunContext(goal="Look up order 1042", instructions=INSTRUCTIONS, tools=TOOLS)
    later = RunContext(
        goal="Something else entirely",
        instructions=INSTRUCTIONS,
        tools=TOOLS,
        turns=[_shipped_turn()],
        run_id="run-123",
    )
    a, b = build_messages(first)[0], build_messages(later)[0]

    assert a == b == {"role": "system", "content": system_prompt(INSTRUCTIONS, TOOLS)}
    assert "run-123" not in json.dumps(build_messages(later))
    signatures = [
        json.loads(line) for line in a["content"].splitlines() if line.startswith('{"type"')
    ]
    assert [s["function"]["name"] for s in signatures] == [t.name for t in TOOLS] + ["respond"]
    assert signatures[0]["function"]["description"] == "Look up an order by its numeric id."
    assert signatures[0]["function"]["parameters"] == TOOLS[0].parameters_schema()


def test_messages_replay_turns() -> None:
    context = RunContext(
        goal="What is the status of order 1042?",
        instructions=INSTRUCTIONS,
        tools=TOOLS,
        turns=[_shipped_turn()],
    )
    messages = build_messages(context)

    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "What is the status of order 1042?"
    call = messages[2]["content"].removeprefix("<tool_call>\n").removesuffix("\n</tool_call>")
    assert json.loads(call) == {"name": "lookup_order", "arguments": {"order_id": 1042}}
    result = _shipped_turn().observation.render()
    assert messages[3]["content"].startswith(f"<tool_response>\n{result}\n</tool_response>")


def test_latest_result_restates_the_goal_and_the_calls_made() -> None:
    context = RunContext(
        goal="What is the status of order 1042?",
        instructions=INSTRUCTIONS,
        tools=TOOLS,
        turns=[_shipped_turn(), _shipped_turn()],
    )
    messages = build_messages(context)

    assert "Goal:" not in messages[3]["content"]
    latest = messages[5]["content"]
    assert "Calls so far: lookup_order (ok); lookup_order (ok)." in latest
    assert "Goal: What is the status of order 1042?" in latest
    assert "You already made this exact call before." in latest


def test_failed_result_asks_for_a_different_call() -> None:
    failed = Turn(ToolCall("lookup_order", {"order_id": 9}), Observation("error", "no order 9"))
    context = RunContext(goal="g", instructions=INSTRUCTIONS, tools=TOOLS, turns=[failed])

    assert "That call failed." in build_messages(context)[3]["content"]


def test_tool_call_tags_are_stripped_when_parsing() -> None:
    text = '<tool_call>\n{"name": "lookup_order", "arguments": {"order_id": 7}}\n</tool_call>'

    assert parse_action(text) == ToolCall("lookup_order", {"order_id": 7})


def test_describe_is_journal_safe() -> None:
    reasoner = LocalReasoner(n_ctx=2048, threads=2)
    description = reasoner.describe()

    assert reasoner.kind == "local"
    assert description["model"] == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert description["sha256"] == "cc324af070c2"
    assert (description["n_ctx"], description["threads"]) == (2048, 2)
    assert not any("key" in k for k in description)


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="n_ctx"):
        LocalReasoner(n_ctx=0)
    with pytest.raises(ValueError, match="threads"):
        LocalReasoner(threads=0)


# --- the real model --------------------------------------------------------------------


@pytest.fixture(scope="module")
def reasoner() -> LocalReasoner:
    local = LocalReasoner()
    local.load()
    return local


@pytest.mark.llm
def test_model_calls_the_right_tool(reasoner: LocalReasoner) -> None:
    context = RunContext(goal="Look up order 1042", instructions=INSTRUCTIONS, tools=TOOLS)

    proposal = reasoner.propose(context)

    assert proposal.action == ToolCall("lookup_order", {"order_id": 1042})
    assert proposal.model == "qwen2.5-coder-1.5b-instruct-q4_k_m"
    assert proposal.usage.prompt_tokens > 0
    assert proposal.usage.completion_tokens > 0


@pytest.mark.llm
def test_model_answers_from_an_observation(reasoner: LocalReasoner) -> None:
    context = RunContext(
        goal="What is the status of order 1042?",
        instructions=INSTRUCTIONS,
        tools=TOOLS,
        turns=[_shipped_turn()],
    )

    action = reasoner.propose(context).action

    assert isinstance(action, FinalAnswer)
    assert "shipped" in action.text.lower()


@pytest.mark.llm
@pytest.mark.parametrize("key", [None, "not-the-key"])
def test_model_server_rejects_requests_without_the_key(
    reasoner: LocalReasoner, key: str | None
) -> None:
    address = reasoner.listening_address
    assert address is not None
    assert address.startswith("http://127.0.0.1:")
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1})
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(
        f"{address}/v1/chat/completions", data=body.encode(), headers=headers
    )

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)

    assert info.value.code == 401


@pytest.mark.llm
def test_second_configuration_in_one_process_is_refused(reasoner: LocalReasoner) -> None:
    with pytest.raises(ReasonerUnavailableError, match="already loaded"):
        LocalReasoner(n_ctx=reasoner.n_ctx * 2).load()
    assert LocalReasoner().load() == 0.0  # same settings share the loaded model


class _ScriptedEngine:
    """Stands in for the llama.cpp server: replies in order, records each request."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.requests: list[dict[str, object]] = []

    def grammar(self, schema: dict[str, object]) -> str:
        return "grammar"

    def chat(self, request: dict[str, object]) -> dict[str, object]:
        self.requests.append(dict(request))
        text = self.replies[len(self.requests) - 1]
        return {
            "choices": [{"message": {"content": text}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3},
        }


def _with_engine(replies: list[str]) -> tuple[LocalReasoner, _ScriptedEngine]:
    reasoner = LocalReasoner()
    engine = _ScriptedEngine(replies)
    reasoner._engine = engine  # type: ignore[assignment]
    return reasoner, engine


def test_a_repeated_call_is_sampled_again_with_a_seed() -> None:
    repeat = '<tool_call>\n{"name": "lookup_order", "arguments": {"order_id": 1042}}\n</tool_call>'
    answer = '<tool_call>\n{"name": "respond", "arguments": {"text": "Shipped."}}\n</tool_call>'
    reasoner, engine = _with_engine([repeat, answer])
    context = RunContext(goal="g", instructions=INSTRUCTIONS, tools=TOOLS, turns=[_shipped_turn()])

    proposal = reasoner.propose(context)

    assert proposal.action == FinalAnswer("Shipped.")
    assert [r["temperature"] for r in engine.requests] == [0.0, 0.8]
    assert engine.requests[1]["seed"] == 1
    assert (proposal.usage.prompt_tokens, proposal.usage.completion_tokens) == (20, 6)


def test_a_call_still_repeated_after_resampling_is_proposed() -> None:
    repeat = '<tool_call>\n{"name": "lookup_order", "arguments": {"order_id": 1042}}\n</tool_call>'
    reasoner, engine = _with_engine([repeat, repeat, repeat])
    context = RunContext(goal="g", instructions=INSTRUCTIONS, tools=TOOLS, turns=[_shipped_turn()])

    proposal = reasoner.propose(context)

    assert proposal.action == ToolCall("lookup_order", {"order_id": 1042})
    assert len(engine.requests) == 3


def test_a_new_call_is_not_resampled() -> None:
    fresh = '<tool_call>\n{"name": "lookup_order", "arguments": {"order_id": 7}}\n</tool_call>'
    reasoner, engine = _with_engine([fresh])
    context = RunContext(goal="g", instructions=INSTRUCTIONS, tools=TOOLS, turns=[_shipped_turn()])

    assert reasoner.propose(context).action == ToolCall("lookup_order", {"order_id": 7})
    assert len(engine.requests) == 1
