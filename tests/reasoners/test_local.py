"""The local reasoner: prompt and schema building (fast), and the real model (``llm``)."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

import pytest
from pydantic import BaseModel, Field

from charter.errors import ReasonerUnavailableError
from charter.reasoners._base import FinalAnswer, Observation, RunContext, ToolCall, Turn
from charter.reasoners.local import (
    UNPARSEABLE_PREFIX,
    LocalReasoner,
    StepTimings,
    build_messages,
    build_response_schema,
    hoist_defs,
    offered_tools,
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
    assert signatures[0]["function"]["parameters"] == {
        "additionalProperties": False,
        "properties": {"order_id": {"type": "integer"}},  # no title "Order Id"
        "required": ["order_id"],
        "type": "object",
    }


class Shipment(BaseModel):
    carrier: str = Field(title="Carrier code")
    order_id: int


@tool
def dispatch(shipment: Shipment, note: str = Field(default="", title="Note")) -> str:
    """Dispatch an order."""
    return "ok"


def test_the_prompt_drops_only_the_titles_derived_from_names() -> None:
    prompt = system_prompt(INSTRUCTIONS, [dispatch])
    line = next(x for x in prompt.splitlines() if '"name": "dispatch"' in x)
    parameters = json.loads(line)["function"]["parameters"]

    assert "title" not in parameters["properties"]["note"]  # "Note" says what "note" says
    nested = parameters["$defs"]["Shipment"]
    assert nested["properties"]["carrier"]["title"] == "Carrier code"  # chosen, kept
    assert "title" not in nested["properties"]["order_id"]
    assert nested["title"] == "Shipment"  # a model's name is not a property's
    # The grammar is built from the full schema, titles and all.
    options = _options(build_response_schema([dispatch]))
    assert options["dispatch"]["properties"]["arguments"] == hoist_defs(
        dispatch.parameters_schema(), "dispatch__", {}
    )


def _names(prompt: str) -> list[str]:
    return [
        json.loads(x)["function"]["name"] for x in prompt.splitlines() if x.startswith('{"type"')
    ]


def test_without_a_scope_every_tool_is_offered_in_the_agents_order() -> None:
    context = RunContext(goal="g", instructions=INSTRUCTIONS, tools=TOOLS)

    assert offered_tools(context) == TOOLS
    assert _names(build_messages(context)[0]["content"]) == [t.name for t in TOOLS] + ["respond"]


def test_a_scope_offers_only_its_tools_reads_first() -> None:
    context = RunContext(
        goal="g",
        instructions=INSTRUCTIONS,
        tools=[refund_order, lookup_order, list_customers],
        scope=("refund_*", "lookup_*"),
    )

    assert offered_tools(context) == [lookup_order, refund_order]
    prompt = build_messages(context)[0]["content"]
    assert _names(prompt) == ["lookup_order", "refund_order", "respond"]
    assert "list_customers" not in prompt


def test_runs_whose_scopes_differ_share_the_prompt_up_to_the_first_write() -> None:
    reads = ("lookup_*", "list_*")
    only_reads = RunContext("g", INSTRUCTIONS, TOOLS, scope=reads)
    with_refund = RunContext("g", INSTRUCTIONS, TOOLS, scope=(*reads, "refund_order"))
    a, b = build_messages(only_reads)[0]["content"], build_messages(with_refund)[0]["content"]

    shared = system_prompt(INSTRUCTIONS, [lookup_order, list_customers]).split("\n{", 3)
    prefix = "\n{".join(shared[:3])  # instructions, rules and both reads
    assert a.startswith(prefix) and b.startswith(prefix)
    assert "refund_order" in b and "refund_order" not in a


def test_a_hidden_tool_never_renames_or_takes_the_answer_option() -> None:
    @tool(side_effect="write")
    def respond(text: str) -> str:
        """A tool that happens to be called respond."""
        return text

    context = RunContext("g", INSTRUCTIONS, [lookup_order, respond], scope=("lookup_*",))
    prompt = build_messages(context)[0]["content"]

    assert _names(prompt) == ["lookup_order", "final_respond"]
    reply = '<tool_call>\n{"name": "respond", "arguments": {"text": "hi"}}\n</tool_call>'
    reasoner, engine = _with_engine([reply])
    assert reasoner.propose(context).action == ToolCall("respond", {"text": "hi"})  # denied later
    assert engine.schemas[0]["anyOf"][-1]["properties"]["name"] == {"const": "final_respond"}


def test_the_grammar_allows_only_the_offered_tools() -> None:
    reply = '<tool_call>\n{"name": "respond", "arguments": {"text": "none"}}\n</tool_call>'
    reasoner, engine = _with_engine([reply])
    context = RunContext("g", INSTRUCTIONS, TOOLS, scope=("lookup_*",))

    reasoner.propose(context)

    assert set(_options(engine.schemas[0])) == {"lookup_order", "respond"}


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

        self.schemas: list[dict[str, Any]] = []

    def grammar(self, schema: dict[str, Any]) -> str:
        self.schemas.append(schema)
        return "grammar"

    def chat(self, request: dict[str, object]) -> dict[str, object]:
        self.requests.append(dict(request))
        text = self.replies[len(self.requests) - 1]
        return {
            "choices": [{"message": {"content": text}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3},
            "timings": {
                "cache_n": 8,
                "prompt_n": 2,
                "prompt_ms": 120.0,
                "predicted_n": 3,
                "predicted_ms": 450.0,
            },
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


def test_each_model_call_is_logged_with_its_tokens_and_timings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    repeat = '<tool_call>\n{"name": "lookup_order", "arguments": {"order_id": 1042}}\n</tool_call>'
    answer = '<tool_call>\n{"name": "respond", "arguments": {"text": "Shipped."}}\n</tool_call>'
    reasoner, _ = _with_engine([repeat, answer])
    context = RunContext("g", INSTRUCTIONS, TOOLS, turns=[_shipped_turn()], scope=("lookup_*",))

    with caplog.at_level(logging.DEBUG, logger="charter.reasoners.local"):
        reasoner.propose(context)

    timings = [r.__dict__["timings"] for r in caplog.records]
    assert timings[0] == StepTimings(10, 8, 120.0, 3, 450.0, timings[0].seconds)
    assert len(timings) == 2  # the resample too
    first, second = (r.getMessage() for r in caplog.records)
    assert first.startswith("step 2: prompt 10 tokens (8 cached, 2 read in 0.1 s), 3 generated")
    assert first.endswith("; 1 of 3 tools offered; proposed lookup_order")
    assert "1042" not in first  # arguments stay in the journal
    assert second.startswith("step 2 (sample 2): ")
    assert second.endswith("proposed the final answer")


def test_a_call_without_timings_is_logged_with_zeros() -> None:
    timings = StepTimings.of({"choices": []}, 1.5)

    assert timings == StepTimings(0, 0, 0.0, 0, 0.0, 1.5)
    assert "0 cached" in timings.line()


def test_nothing_is_measured_for_the_log_when_debug_is_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answer = '<tool_call>\n{"name": "respond", "arguments": {"text": "ok"}}\n</tool_call>'
    reasoner, _ = _with_engine([answer])

    with caplog.at_level(logging.INFO, logger="charter.reasoners.local"):
        reasoner.propose(RunContext("g", INSTRUCTIONS, TOOLS))

    assert caplog.records == []
