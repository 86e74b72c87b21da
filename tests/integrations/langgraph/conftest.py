"""LangGraph tests run only where the langgraph extra is installed."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("langgraph.prebuilt", reason="the langgraph extra is not installed")

from tests.integrations.langgraph import graphs


@pytest.fixture(autouse=True)
def _orders(tmp_path: Path) -> Iterator[None]:
    graphs.STORE["path"] = tmp_path / "orders.db"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_react_agent's move to langchain.agents
        yield
