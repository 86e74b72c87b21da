"""Errors about a server never carry its secrets, whatever echoed them."""

from __future__ import annotations

import pytest

from charter.integrations.mcp import McpServerSpec
from charter.integrations.mcp._connection import redact


def test_header_env_and_url_secrets_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN", "Bearer s3cr3t-token")
    spec = McpServerSpec.model_validate(
        {
            "server": "s",
            "url": "https://bob:pa55word@mcp.example/mcp",
            "headers": {"Authorization": {"env": "TOKEN"}},
        }
    )
    text = "401 for https://bob:pa55word@mcp.example/mcp with Bearer s3cr3t-token"
    assert redact(text, spec) == "401 for https://bob:***@mcp.example/mcp with ***"


def test_a_missing_variable_redacts_nothing_and_raises_nothing() -> None:
    spec = McpServerSpec.model_validate(
        {"server": "s", "url": "https://mcp.example/mcp", "headers": {"X": {"env": "NOPE_X"}}}
    )
    assert redact("plain text", spec) == "plain text"
