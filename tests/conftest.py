"""Suite-wide hooks: the tests marked ``llm`` skip, saying why, where the model cannot run."""

from __future__ import annotations

import pytest

from embedded_model import cached_reason


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip an ``llm`` test before its fixtures load the model, if the model is missing."""
    if item.get_closest_marker("llm") is None:
        return
    reason = cached_reason()
    if reason is not None:
        pytest.skip(f"llm: {reason}")
