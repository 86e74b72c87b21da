"""Fixtures of the eval tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals._support import UNDEFENDED


@pytest.fixture
def undefended_agent(tmp_path: Path) -> Path:
    """The support tools under a charter with no rule and no flow rule."""
    path = tmp_path / "undefended.agent.yaml"
    path.write_text(UNDEFENDED, encoding="utf-8")
    return path
