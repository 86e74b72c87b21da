"""The reusable JSON encoder writes what json.JSONEncoder writes, byte for byte."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from charter._json import JsonEncoder

_OPTIONS: list[dict[str, Any]] = [
    {},
    {"sort_keys": True, "separators": (",", ":")},
    {"skipkeys": True},
]
_VALUES: list[Any] = [
    {"b": 1, "a": [1.5, -0.0, 1e300, float("nan"), float("-inf")], "é": 'ünï\n"', "": None},
    {"nested": {"z": [True, False, None, (1, "two")], "y": {"x": {}}}},
    {3: "int keys", 1: True, 2.5: "a float key"},
    {"when": datetime(2026, 11, 24, tzinfo=UTC), "amount": Decimal("10.50"), "raw": b"x"},
    "a plain string with a lone surrogate \ud800",
    [10**40, -7, 0.1, []],
    None,
]


@pytest.mark.parametrize("options", _OPTIONS)
@pytest.mark.parametrize("value", _VALUES)
def test_text_is_the_standard_encoders(options: dict[str, Any], value: Any) -> None:
    standard = json.JSONEncoder(ensure_ascii=False, default=str, **options)

    assert JsonEncoder(**options).encode(value) == standard.encode(value)


def test_keys_that_cannot_be_keys_are_refused_or_skipped_as_asked() -> None:
    value = {("tuple",): 1, "kept": 2}

    with pytest.raises(TypeError):
        JsonEncoder().encode(value)
    assert JsonEncoder(skipkeys=True).encode(value) == '{"kept": 2}'


def test_a_cyclic_value_is_refused_as_a_circular_reference() -> None:
    cyclic: list[Any] = []
    cyclic.append({"again": cyclic})

    with pytest.raises(ValueError, match="Circular reference"):
        JsonEncoder().encode(cyclic)
