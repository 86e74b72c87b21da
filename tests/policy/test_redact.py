"""Redaction rules: what a charter's redact section masks, and its mistakes at load."""

from __future__ import annotations

from typing import Any

import pytest

from charter import Charter, load_charter, tool
from charter.errors import ConfigError
from charter.policy import Label
from charter.policy._redact import PLACEHOLDER, RedactRule, find_in_args, find_in_output


@tool(confidentiality="internal", fields={"email": "pii", "contacts[].phone": "pii"})
def lookup_person(person_id: int) -> dict[str, Any]:
    """A person."""
    return {}


def _rule(**fields: Any) -> RedactRule:
    return RedactRule.model_validate({"id": "r"} | fields)


PERSON = {
    "name": "Ada",
    "email": "ada@example.com",
    "contacts": [{"phone": "+44 20 7946 0018", "note": "call after 5"}, {"phone": "0207 946 0019"}],
    "bio": "Reach me at ada.l@work.example or +44 20 7946 0020.",
}


def test_a_label_masks_the_fields_the_contract_labels_so_and_nothing_else() -> None:
    found = find_in_output([_rule(labels=["pii"])], lookup_person, PERSON)

    assert [(m.path, m.value) for m in found] == [
        ("email", "ada@example.com"),
        ("contacts[].phone", "+44 20 7946 0018"),
        ("contacts[].phone", "0207 946 0019"),
    ]
    assert len({m.leaf for m in found}) == 3  # one per element, though the paths repeat


def test_patterns_find_values_inside_text_and_name_the_placeholder_kind() -> None:
    found = find_in_output([_rule(patterns=["email", "phone"])], lookup_person, PERSON)

    in_bio = [(m.kind, m.value) for m in found if m.path == "bio"]
    assert in_bio == [("email", "ada.l@work.example"), ("phone", "+44 20 7946 0020")]


def test_a_field_path_masks_the_field_whole_whatever_its_label() -> None:
    found = find_in_output([_rule(fields=["name"])], lookup_person, PERSON)

    assert [(m.path, m.kind, m.span) for m in found] == [("name", "name", None)]


def test_a_pattern_that_matches_nothing_masks_nothing() -> None:
    assert find_in_output([_rule(patterns=["iban"])], lookup_person, PERSON) == []


def test_a_rule_for_other_tools_masks_nothing_here() -> None:
    assert find_in_output([_rule(tools=["send_*"], labels=["pii"])], lookup_person, PERSON) == []


def test_a_placeholder_is_never_masked_again() -> None:
    # A tool echoing a placeholder: its hex tag must not read as a phone number.
    echoed = {"email": "[redacted:email#12345678]", "bio": "[redacted:phone#20794600]"}

    found = find_in_output([_rule(labels=["pii"], patterns=["phone"])], lookup_person, echoed)

    assert found == []
    assert PLACEHOLDER.fullmatch(echoed["email"])


def test_a_whole_field_mask_wins_over_a_pattern_inside_it() -> None:
    rules = [_rule(patterns=["email"]), _rule(id="s", fields=["email"])]

    found = find_in_output(rules, lookup_person, {"email": "ada@example.com"})

    assert [(m.rule, m.span) for m in found] == [("s", None)]


def test_arguments_are_masked_by_path_and_with_on_arguments_by_label_and_pattern() -> None:
    args = {"person_id": 7}
    by_path = find_in_args([_rule(args=["person_id"])], lookup_person, args, {})
    by_label = find_in_args(
        [_rule(on=["arguments"], labels=["pii"])],
        lookup_person,
        args,
        {"person_id": Label("trusted", "pii")},
    )
    outputs_only = find_in_args([_rule(labels=["pii"])], lookup_person, args, {})

    assert [m.path for m in by_path] == ["person_id"] == [m.path for m in by_label]
    assert outputs_only == []


def test_an_argument_given_back_from_a_placeholder_is_not_masked_again() -> None:
    rule = _rule(args=["person_id"])

    assert find_in_args([rule], lookup_person, {"person_id": 7}, {}, frozenset({"person_id"})) == []


@pytest.mark.parametrize(
    ("redact", "message"),
    [
        ({"patterns": [{"name": "ref", "regex": "TK-(\\d+"}]}, "invalid regular expression"),
        ({"patterns": [{"name": "any", "regex": "x*"}]}, "matches empty text"),
        ({"patterns": ["passport"]}, "unknown preset 'passport'"),
        ({"labels": ["private"]}, "unknown label 'private'"),
        ({"restore": ["reply_ticket"]}, "must be tool.argument"),
    ],
)
def test_a_bad_redact_rule_is_one_clear_line_at_load(redact: dict[str, Any], message: str) -> None:
    body = "name: c\nredact:\n  - " + repr({"id": "r"} | redact).replace("'", '"') + "\n"

    with pytest.raises(ConfigError) as caught:
        load_charter(text=body)

    text = str(caught.value)
    assert message in text and "redact.0" in text
    assert "\n" not in text.strip()


def test_two_redact_rules_with_one_id_are_refused() -> None:
    with pytest.raises(ValueError, match=r"redact\.1\.id: 'r' is used twice"):
        Charter.model_validate({"name": "c", "redact": [{"id": "r"}, {"id": "r"}]})


def test_a_restore_naming_an_argument_the_tool_lacks_is_refused_against_the_tools() -> None:
    charter = Charter.model_validate(
        {"name": "c", "redact": [{"id": "r", "restore": ["lookup_person.email"]}]}
    )

    with pytest.raises(ConfigError, match=r"redact.0.restore.0: 'lookup_person' has no 'email'"):
        charter.check_against([lookup_person], "c.yaml")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("call +1 415 555 0134 today", [("phone", "+1 415 555 0134")]),
        ("call (020) 7946-0018", [("phone", "(020) 7946-0018")]),
        ("order 1042 for 18950 cents on 2026-11-20", []),
        ("seen 2026-11-20T10:00:00Z", []),
        ("mail Ana.Lopez+x@mail.example.co.uk", [("email", "Ana.Lopez+x@mail.example.co.uk")]),
        ("pay DE89 3704 0044 0532 0130 00 now", [("iban", "DE89 3704 0044 0532 0130 00")]),
        ("card 4111111111111111", []),
    ],
)
def test_presets_find_what_they_name_and_leave_dates_and_ids(
    text: str, found: list[tuple[str, str]]
) -> None:
    rule = _rule(patterns=["email", "phone", "iban"])

    assert [(m.kind, m.value) for m in find_in_output([rule], lookup_person, text)] == found
