"""The ``{steps.x}`` templates both step reasoners (rules, plan) write their steps in."""

from __future__ import annotations

from typing import Any

import pytest

from charter.reasoners._template import (
    MissingValueError,
    path_parts,
    placeholders,
    reference_problem,
    render,
)

SCOPE: dict[str, Any] = {
    "goal": {"text": "refund 7", "order": 7},
    "steps": {"a": {"status": "ok", "result": {"tiers": [{"name": "gold"}], "ok": True}}},
}


def test_a_whole_placeholder_keeps_the_type_and_longer_text_gets_json() -> None:
    assert render("{steps.a.result.tiers}", SCOPE) == [{"name": "gold"}]
    assert render("order {goal.order}: {steps.a.result.ok}", SCOPE) == "order 7: true"
    assert render({"x": ["{goal.order}", 3]}, SCOPE) == {"x": [7, 3]}


def test_brackets_and_dots_index_a_list_alike() -> None:
    assert path_parts("tiers[0].name") == path_parts("tiers.0.name") == ["tiers", "0", "name"]
    assert render("{steps.a.result.tiers[0].name}", SCOPE) == "gold"


@pytest.mark.parametrize(
    "template", ["{goal.nope}", "x {steps.a.result.tiers[1]}", "{steps.b.result}", "{goal.text.x}"]
)
def test_a_path_to_nothing_raises_naming_the_path(template: str) -> None:
    with pytest.raises(MissingValueError) as caught:
        render(template, SCOPE)

    assert caught.value.path == placeholders(template)[0]


def test_text_that_is_no_placeholder_is_left_alone() -> None:
    assert render("{not a path} {} {1x}", SCOPE) == "{not a path} {} {1x}"


def test_references_name_the_goal_or_an_earlier_step_and_field() -> None:
    assert reference_problem("goal.order", {"order"}, []) is None
    assert reference_problem("steps.a.result.x", set(), ["a"]) is None
    assert reference_problem("steps.a.status", set(), ["a"], ("result", "status")) is None
    assert reference_problem("steps.a.error", set(), ["a"], fields=None) is None
    assert reference_problem("steps.a", set(), ["a"], fields=None) == (
        "must be {goal.<name>} or {steps.<id>.<field>...}"
    )
    assert reference_problem("steps.a.status", set(), ["a"]) == (
        "must be {goal.<name>} or {steps.<id>.result...}"
    )
    assert reference_problem("steps.b.result", set(), ["a"]) == (
        "names no earlier step (earlier step ids: a)"
    )
    assert (
        reference_problem("goal.x", {"text"}, []) == "names no part of the goal; known: goal.text"
    )
