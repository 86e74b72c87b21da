"""Goal-designated sources: the item a goal's words designate among what a run read."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from charter.policy._designate import Binding, designate, split_source
from charter.runtime._provenance import canonical

INBOX = [
    {"id": 2, "sender": "bob@corp.example", "sender_name": "Bob Smith", "subject": "Team lunch"},
    {"id": 3, "sender": "eve@evil.example", "sender_name": "Eve", "subject": "Team lunch"},
]
REPLY = Binding.model_validate(
    {
        "from": ["read_email.sender", "list_inbox[].sender"],
        "where": {"sender_name": "Bob", "subject": "team lunch"},
    }
)


def _designate(binding: Binding, outputs: dict[int, tuple[str, Any]]) -> Any:
    return designate(binding, outputs, canonical)


def test_the_item_the_goals_words_fit_designates_its_field_with_step_and_path() -> None:
    found = _designate(REPLY, {1: ("list_inbox", INBOX), 2: ("read_email", INBOX[0])})

    assert found.values == ("bob@corp.example",)
    assert found.read_at == ((1, "list_inbox[].sender"), (2, "read_email.sender"))
    assert found.problem == ""


def test_a_look_alike_item_makes_the_designation_ambiguous() -> None:
    lookalike = INBOX[1] | {"sender_name": "Bob Smith", "id": 9}

    found = _designate(REPLY, {1: ("list_inbox", [INBOX[0], lookalike])})

    assert found.values == () and "2 different items" in found.problem


def test_nothing_read_designates_nothing() -> None:
    found = _designate(REPLY, {1: ("read_channel", INBOX)})

    assert found.values == () and found.problem.startswith("nothing read yet")


def test_the_goals_words_must_be_whole_words_of_the_field() -> None:
    partial = REPLY.model_copy(update={"where": {"sender_name": "Bo"}})

    assert _designate(partial, {1: ("list_inbox", INBOX)}).values == ()


def test_an_unnamed_group_designates_nothing() -> None:
    unnamed = REPLY.model_copy(update={"where": {"sender_name": "\0"}})

    found = _designate(unnamed, {1: ("list_inbox", INBOX)})

    assert found.values == () and "does not name" in found.problem


def test_a_where_field_is_found_in_an_enclosing_object() -> None:
    invoice = Binding.model_validate(
        {"from": ["read_file.invoice.iban"], "where": {"name": "invoice-may.pdf"}}
    )
    output = {"name": "invoice-may.pdf", "content": "...", "invoice": {"iban": "DE44 5001"}}
    other = output | {"name": "other.pdf", "invoice": {"iban": "GB33EVIL"}}

    found = _designate(invoice, {1: ("read_file", output), 2: ("read_file", other)})

    assert found.values == ("de44 5001",) and found.read_at == ((1, "read_file.invoice.iban"),)


def test_a_list_field_designates_each_of_its_elements() -> None:
    people = Binding.model_validate({"from": ["read_email.cc"], "where": {"subject": "offsite"}})
    email = {"subject": "June offsite", "cc": ["dave@corp.example", "frank@corp.example"]}

    found = _designate(people, {4: ("read_email", email)})

    assert found.values == ("dave@corp.example", "frank@corp.example")


def test_a_value_of_another_tool_or_field_is_not_a_candidate() -> None:
    payees = [{"name": "Harbor", "iban": "DE75"}, {"name": "Alex", "iban": "DE89"}]
    refund = Binding.model_validate({"from": ["list_payees[].iban"], "where": {"name": "Alex"}})

    found = _designate(refund, {1: ("list_payees", payees), 2: ("list_transactions", payees)})

    assert found.values == ("de89",) and found.read_at == ((1, "list_payees[].iban"),)


@pytest.mark.parametrize("source", ["read_email", "read_email.", "list_payees[]", ".x", "a.b..c"])
def test_a_source_that_is_not_tool_and_field_is_refused(source: str) -> None:
    with pytest.raises(ValueError, match=r"is not tool\.field"):
        split_source(source)
    with pytest.raises(ValidationError, match=r"is not tool\.field"):
        Binding.model_validate({"from": [source]})


def test_sources_split_at_the_first_dot_or_bracket() -> None:
    assert split_source("list_payees[].iban") == ("list_payees", "[].iban")
    assert split_source("read_file.invoice.iban") == ("read_file", "invoice.iban")
