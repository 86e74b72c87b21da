"""Tests for the deterministic ``rules`` reasoner."""

import re
from typing import Any

import pytest
from pydantic import ValidationError

from charter.reasoners import (
    FinalAnswer,
    Observation,
    ObservationStatus,
    Proposal,
    RulesReasoner,
    RulesSpec,
    RunContext,
    ToolCall,
    Turn,
)

REFUND = RulesSpec.model_validate(
    {
        "match": r"refund order (?P<order_id>\d+) for (?P<reason>\w+)",
        "steps": [
            {"id": "order", "call": "lookup_order", "args": {"order_id": "{goal.order_id}"}},
            {
                "id": "refund",
                "when": "{steps.order.result.refundable}",
                "call": "refund_order",
                "args": {
                    "order_id": "{goal.order_id}",
                    "amount_cents": "{steps.order.result.amount_cents}",
                    "note": "Refund of {steps.order.result.amount_cents} cents: {goal.reason}",
                },
            },
            {"respond": "Refund {steps.refund.result.refund_id} issued."},
        ],
    }
)

GOAL = "Please refund order 1042 for damage"


def _context(goal: str = GOAL, *turns: Turn) -> RunContext:
    return RunContext(goal=goal, instructions="", tools=[], turns=list(turns))


def _turn(tool: str, args: dict[str, Any], status: ObservationStatus, content: Any) -> Turn:
    return Turn(ToolCall(tool, args), Observation(status, content))


def _propose(spec: RulesSpec, goal: str = GOAL, *turns: Turn) -> Proposal:
    return RulesReasoner(spec).propose(_context(goal, *turns))


ORDER_OK = _turn(
    "lookup_order", {"order_id": 1042}, "ok", {"refundable": True, "amount_cents": 2599}
)


# --- goal matching and the first call ----------------------------------------------------------


def test_first_proposal_is_the_first_call_with_goal_groups() -> None:
    proposal = _propose(REFUND)

    assert proposal.action == ToolCall("lookup_order", {"order_id": 1042})


def test_digit_groups_are_coerced_to_int() -> None:
    proposal = _propose(REFUND)

    assert isinstance(proposal.action, ToolCall)
    assert type(proposal.action.args["order_id"]) is int


def test_non_digit_groups_stay_strings() -> None:
    spec = RulesSpec.model_validate(
        {"match": r"order (?P<code>\w+)", "steps": [{"call": "t", "args": {"c": "{goal.code}"}}]}
    )

    assert _propose(spec, "order A12").action == ToolCall("t", {"c": "A12"})


def test_goal_text_is_available_without_a_match_pattern() -> None:
    spec = RulesSpec.model_validate({"steps": [{"call": "echo", "args": {"text": "{goal.text}"}}]})

    assert _propose(spec, "hello there").action == ToolCall("echo", {"text": "hello there"})


def test_goal_not_matching_gives_a_final_answer_explaining() -> None:
    proposal = _propose(REFUND, "what is the weather")

    assert proposal.action == FinalAnswer(
        "The goal does not match this procedure "
        "('refund order (?P<order_id>\\\\d+) for (?P<reason>\\\\w+)')."
    )


def test_rules_proposals_report_no_usage() -> None:
    proposal = _propose(REFUND)

    assert proposal.usage.total == 0
    assert proposal.model == ""


# --- templates from earlier results ------------------------------------------------------------


def test_later_call_uses_prior_results_whole_placeholder_keeps_type() -> None:
    proposal = _propose(REFUND, GOAL, ORDER_OK)

    assert isinstance(proposal.action, ToolCall)
    assert proposal.action.tool == "refund_order"
    assert proposal.action.args["order_id"] == 1042
    assert proposal.action.args["amount_cents"] == 2599
    assert type(proposal.action.args["amount_cents"]) is int


def test_embedded_placeholder_is_formatted_into_text() -> None:
    proposal = _propose(REFUND, GOAL, ORDER_OK)

    assert isinstance(proposal.action, ToolCall)
    assert proposal.action.args["note"] == "Refund of 2599 cents: damage"


def test_whole_placeholder_keeps_a_structured_value() -> None:
    spec = RulesSpec.model_validate(
        {
            "steps": [
                {"id": "a", "call": "first"},
                {"call": "second", "args": {"items": "{steps.a.result.items}"}},
            ]
        }
    )
    first = _turn("first", {}, "ok", {"items": [1, {"x": 2}]})

    assert _propose(spec, "go", first).action == ToolCall("second", {"items": [1, {"x": 2}]})


def test_templates_render_inside_nested_lists_and_mappings() -> None:
    spec = RulesSpec.model_validate(
        {
            "match": r"(?P<n>\d+)",
            "steps": [{"call": "t", "args": {"outer": {"list": ["{goal.n}", "n={goal.n}", 5]}}}],
        }
    )

    action = _propose(spec, "7").action

    assert action == ToolCall("t", {"outer": {"list": [7, "n=7", 5]}})


def test_list_items_are_addressed_by_index() -> None:
    spec = RulesSpec.model_validate(
        {
            "steps": [
                {"id": "search", "call": "search"},
                {"call": "open", "args": {"id": "{steps.search.result.hits.1.id}"}},
            ]
        }
    )
    search = _turn("search", {}, "ok", {"hits": [{"id": "a"}, {"id": "b"}]})

    assert _propose(spec, "go", search).action == ToolCall("open", {"id": "b"})


def test_step_status_is_available_to_templates() -> None:
    spec = RulesSpec.model_validate(
        {
            "steps": [
                {"id": "a", "call": "first", "on_error": "continue"},
                {"respond": "first ended {steps.a.status}"},
            ]
        }
    )
    failed = _turn("first", {}, "error", "boom")

    assert _propose(spec, "go", failed).action == FinalAnswer("first ended error")


# --- when ----------------------------------------------------------------------------------------


def test_when_falsy_skips_the_step() -> None:
    not_refundable = _turn(
        "lookup_order", {"order_id": 1042}, "ok", {"refundable": False, "amount_cents": 0}
    )
    spec = RulesSpec.model_validate(
        {
            "match": REFUND.match,
            "steps": [*REFUND.model_dump()["steps"][:2], {"respond": "Nothing to refund."}],
        }
    )

    assert _propose(spec, GOAL, not_refundable).action == FinalAnswer("Nothing to refund.")


@pytest.mark.parametrize("value", [None, False, 0, "", "false", "no", [], {}])
def test_when_treats_each_falsy_value_as_skip(value: Any) -> None:
    spec = RulesSpec.model_validate(
        {
            "steps": [
                {"id": "a", "call": "check"},
                {"when": "{steps.a.result.flag}", "call": "act"},
                {"respond": "skipped"},
            ]
        }
    )
    check = _turn("check", {}, "ok", {"flag": value})

    assert _propose(spec, "go", check).action == FinalAnswer("skipped")


def test_when_truthy_takes_the_step() -> None:
    spec = RulesSpec.model_validate(
        {
            "steps": [
                {"id": "a", "call": "check"},
                {"when": "{steps.a.result.flag}", "call": "act"},
                {"respond": "skipped"},
            ]
        }
    )
    check = _turn("check", {}, "ok", {"flag": "yes"})

    assert _propose(spec, "go", check).action == ToolCall("act", {})


def test_skipped_step_consumes_no_turn() -> None:
    spec = RulesSpec.model_validate(
        {
            "steps": [
                {"when": "{goal.text}", "call": "never"},
                {"id": "b", "call": "second"},
                {"respond": "got {steps.b.result}"},
            ]
        }
    )
    # The goal is matched with an empty text, so the first step is skipped.
    second = _turn("second", {}, "ok", 42)

    assert _propose(spec, "", second).action == FinalAnswer("got 42")


def test_when_with_a_missing_value_skips_the_step() -> None:
    spec = RulesSpec.model_validate(
        {
            "steps": [
                {"id": "a", "call": "check"},
                {"when": "{steps.a.result.flag}", "call": "act"},
                {"respond": "skipped"},
            ]
        }
    )
    check = _turn("check", {}, "ok", {"other": 1})

    assert _propose(spec, "go", check).action == FinalAnswer("skipped")


# --- respond and completion --------------------------------------------------------------------


def test_respond_step_renders_the_final_answer() -> None:
    refunded = _turn("refund_order", {}, "ok", {"refund_id": "R-77"})

    proposal = _propose(REFUND, GOAL, ORDER_OK, refunded)

    assert proposal.action == FinalAnswer("Refund R-77 issued.")


def test_respond_with_a_whole_placeholder_is_converted_to_text() -> None:
    spec = RulesSpec.model_validate({"match": r"(?P<n>\d+)", "steps": [{"respond": "{goal.n}"}]})

    assert _propose(spec, "12").action == FinalAnswer("12")


def test_procedure_without_respond_completes_after_the_last_call() -> None:
    spec = RulesSpec.model_validate({"steps": [{"call": "only"}]})

    assert _propose(spec, "go", _turn("only", {}, "ok", None)).action == FinalAnswer(
        "Procedure complete."
    )


# --- errors from observations ------------------------------------------------------------------


def test_non_ok_observation_stops_naming_the_step_id() -> None:
    failed = _turn("lookup_order", {"order_id": 1042}, "error", "order service down")

    proposal = _propose(REFUND, GOAL, failed)

    assert proposal.action == FinalAnswer(
        "Procedure stopped at step order: error: order service down"
    )


def test_non_ok_observation_of_an_unnamed_step_names_its_position() -> None:
    spec = RulesSpec.model_validate({"steps": [{"call": "a"}, {"call": "b"}]})
    denied = _turn("b", {}, "denied", "charter denies tool 'b'")

    proposal = _propose(spec, "go", _turn("a", {}, "ok", 1), denied)

    assert proposal.action == FinalAnswer(
        "Procedure stopped at step #2: denied: charter denies tool 'b'"
    )


def test_on_error_continue_goes_on_to_the_next_step() -> None:
    spec = RulesSpec.model_validate(
        {
            "steps": [
                {"id": "a", "call": "flaky", "on_error": "continue"},
                {"call": "next"},
            ]
        }
    )
    timed_out = _turn("flaky", {}, "timeout", "no answer in 30s")

    assert _propose(spec, "go", timed_out).action == ToolCall("next", {})


# --- missing template values -------------------------------------------------------------------


def test_missing_template_path_gives_a_final_answer_naming_the_path() -> None:
    spec = RulesSpec.model_validate(
        {
            "steps": [
                {"id": "a", "call": "first"},
                {"id": "b", "call": "second", "args": {"x": "{steps.a.result.nope}"}},
            ]
        }
    )

    proposal = _propose(spec, "go", _turn("first", {}, "ok", {"yes": 1}))

    assert proposal.action == FinalAnswer(
        "Procedure step b needs {steps.a.result.nope}, not available."
    )


def test_missing_path_in_embedded_placeholder_is_reported_too() -> None:
    spec = RulesSpec.model_validate(
        {"steps": [{"id": "a", "call": "first"}, {"respond": "Hello {steps.a.result.name}!"}]}
    )

    proposal = _propose(spec, "go", _turn("first", {}, "ok", {}))

    assert proposal.action == FinalAnswer(
        "Procedure step #2 needs {steps.a.result.name}, not available."
    )


def test_embedded_values_that_are_not_text_are_written_as_json() -> None:
    spec = RulesSpec.model_validate(
        {
            "steps": [
                {"id": "a", "call": "first"},
                {"respond": "{steps.a.result.x} / {steps.a.result.y} / {steps.a.result.z}"},
            ]
        }
    )
    first = _turn("first", {}, "ok", {"x": True, "y": None, "z": {"k": [1]}})

    assert _propose(spec, "go", first).action == FinalAnswer('true / null / {"k": [1]}')


def test_a_list_item_may_be_addressed_with_brackets() -> None:
    spec = RulesSpec.model_validate(
        {"steps": [{"id": "a", "call": "first"}, {"respond": "{steps.a.result.tiers[1].name}"}]}
    )
    first = _turn("first", {}, "ok", {"tiers": [{"name": "gold"}, {"name": "silver"}]})

    assert _propose(spec, "go", first).action == FinalAnswer("silver")


# --- references checked when the procedure loads -----------------------------------------------


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (
            [{"respond": "Hello {goal.name}!"}],
            "steps.0 respond: {goal.name} names no part of the goal; known: goal.text",
        ),
        (
            [{"call": "first", "args": {"x": "{steps.b.result}"}}, {"id": "b", "call": "second"}],
            "steps.0 args.x: {steps.b.result} names no earlier step (earlier step ids: none)",
        ),
        (
            [{"id": "a", "call": "first"}, {"when": "{steps.a}", "respond": "no"}],
            "steps.1 when: {steps.a} must be {goal.<name>} or {steps.<id>.<field>...}",
        ),
        (
            [{"id": "a", "call": "first"}, {"id": "a", "call": "second"}],
            "steps.1 (a): id 'a' is used twice",
        ),
        (
            [{"id": "a", "call": "first", "args": {"deep": [{"x": "{goal.nope}"}]}}],
            "steps.0 (a) args.deep.0.x: {goal.nope} names no part of the goal",
        ),
    ],
)
def test_a_reference_to_nothing_is_refused_when_the_procedure_loads(
    steps: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        RulesSpec.model_validate({"steps": steps})


def test_the_groups_of_match_are_the_goal_names_a_procedure_may_use() -> None:
    spec = {"match": r"(?P<who>\w+)", "steps": [{"respond": "Hi {goal.who} ({goal.text})"}]}

    assert _propose(RulesSpec.model_validate(spec), "Ada").action == FinalAnswer("Hi Ada (Ada)")


def test_list_index_out_of_range_is_missing() -> None:
    spec = RulesSpec.model_validate(
        {
            "steps": [
                {"id": "a", "call": "first"},
                {"respond": "{steps.a.result.3}"},
            ]
        }
    )

    proposal = _propose(spec, "go", _turn("first", {}, "ok", [1, 2]))

    assert proposal.action == FinalAnswer(
        "Procedure step #2 needs {steps.a.result.3}, not available."
    )


def test_group_with_superscript_digit_does_not_crash() -> None:
    spec = RulesSpec.model_validate(
        {"match": r"size (?P<size>\S+)", "steps": [{"respond": "size {goal.size}"}]}
    )

    assert _propose(spec, "size ²").action == FinalAnswer("size ²")


# --- statelessness and describe ----------------------------------------------------------------


def test_same_context_gives_the_same_proposal() -> None:
    reasoner = RulesReasoner(REFUND)

    first = reasoner.propose(_context(GOAL, ORDER_OK))
    second = reasoner.propose(_context(GOAL, ORDER_OK))

    assert first == second


def test_describe_reports_kind_step_count_and_match() -> None:
    assert RulesReasoner(REFUND).describe() == {
        "kind": "rules",
        "steps": 3,
        "match": REFUND.match,
    }


# --- spec validation ---------------------------------------------------------------------------


def test_step_with_both_call_and_respond_is_rejected() -> None:
    with pytest.raises(ValidationError, match="exactly one of 'call' or 'respond'"):
        RulesSpec.model_validate({"steps": [{"call": "a", "respond": "b"}]})


def test_step_with_neither_call_nor_respond_is_rejected() -> None:
    with pytest.raises(ValidationError, match="exactly one of 'call' or 'respond'"):
        RulesSpec.model_validate({"steps": [{"id": "a"}]})


def test_invalid_regex_is_rejected() -> None:
    with pytest.raises(ValidationError, match="match is not a valid regular expression"):
        RulesSpec.model_validate({"match": "(unclosed", "steps": [{"respond": "x"}]})


def test_empty_steps_are_rejected() -> None:
    with pytest.raises(ValidationError) as info:
        RulesSpec.model_validate({"steps": []})

    assert info.value.errors()[0]["loc"] == ("steps",)
    assert info.value.errors()[0]["type"] == "too_short"


def test_unknown_step_field_is_rejected() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        RulesSpec.model_validate({"steps": [{"call": "a", "retry": 3}]})


def test_invalid_on_error_is_rejected() -> None:
    with pytest.raises(ValidationError, match="on_error"):
        RulesSpec.model_validate({"steps": [{"call": "a", "on_error": "retry"}]})
