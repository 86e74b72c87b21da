"""The canonical JSON every record is hashed and stored as."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from charter.journal import canonical_json

_TRICKY: list[Any] = [
    {"b": 1, "a": [1.5, -0.0, 1e300, float("nan"), float("inf")], "é": "ünï", "": None},
    {"nested": {"z": [True, False, None, (1, "two")], "y": {"x": {}}}},
    {3: "int keys", 1: True},
    {"when": datetime(2026, 11, 24, tzinfo=UTC), "amount": Decimal("10.50")},
    "a plain string",
    [10**40, -7, 0.1],
]


@pytest.mark.parametrize("value", _TRICKY)
def test_canonical_json_is_sorted_compact_json_with_utf8_kept(value: Any) -> None:
    expected = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )

    assert canonical_json(value) == expected


def test_a_lone_surrogate_becomes_the_replacement_character() -> None:
    assert canonical_json({"text": "a\ud800b"}) == '{"text":"a\ufffdb"}'


def test_a_cyclic_value_is_refused_as_a_circular_reference() -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = [cyclic]

    with pytest.raises(ValueError, match="Circular reference"):
        canonical_json(cyclic)


@pytest.mark.parametrize("value", [*_TRICKY, {"lone": "\ud800 surrogate", "emoji": "💳"}])
def test_the_append_hash_over_encoded_bytes_is_the_stored_fields_hash(value: Any) -> None:
    from charter.journal._record import chained_hash, record_hash

    body = canonical_json(value)
    fields = (41, "run-é", "step.effect", "2026-12-07T16:00:00+00:00", "ab" * 32)

    assert chained_hash(*fields, body.encode()) == record_hash(*fields, body)
