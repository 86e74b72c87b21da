"""A server's limits are refused when they could not work."""

from __future__ import annotations

from typing import Any

import pytest

from charter.errors import ConfigError
from charter.server import ServerLimits


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_body", 0, "max_body"),
        ("streams_per_token", 0, "streams_per_token"),
        ("stream_recheck_seconds", 0.0, "recheck"),
        ("stream_idle_seconds", -1.0, "idle"),
        ("refusal_burst", 0, "burst"),
        ("refusals_per_second", 0.0, "refill"),
    ],
)
def test_a_limit_that_cannot_work_is_refused(field: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServerLimits(**{field: value})


def test_the_defaults_serve_a_team() -> None:
    limits = ServerLimits()

    assert limits.max_body == 1024 * 1024 and limits.streams_per_token == 8
