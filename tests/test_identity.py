"""Identities compare in one normal form: case, width, spacing and invisible characters
do not make a second person."""

from __future__ import annotations

import pytest

from charter._identity import normalise_identity


@pytest.mark.parametrize(
    "spelling",
    ["sam", "Sam", "SAM", "sam ", " sam", "\uff53\uff41\uff4d", "s\u200bam", "s\u200dam"],
)
def test_spellings_of_one_name_normalise_alike(spelling: str) -> None:
    assert normalise_identity(spelling) == "sam"


def test_inner_whitespace_collapses_to_one_space() -> None:
    assert normalise_identity(" Dana\u00a0\t Lee ") == "dana lee"


def test_compatibility_forms_and_case_folding_apply() -> None:
    assert normalise_identity("Stra\u00dfe") == normalise_identity("STRASSE")
    assert normalise_identity("\ufb01nn") == "finn"  # the "fi" ligature


def test_different_names_stay_different() -> None:
    assert normalise_identity("sam") != normalise_identity("sammy")
    assert normalise_identity("dana lee") != normalise_identity("danalee")


def test_a_name_of_only_spaces_or_invisible_characters_is_empty() -> None:
    assert normalise_identity("  \u200b\u00a0") == ""
