"""Known names: what a control may name without saying the name is new."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter import Journal, Runner, tool
from charter.runtime import Controls
from charter.runtime._names import KnownNames, UnknownNameError
from charter.testing import ScriptedReasoner, call, make_agent, respond
from databases import fresh_url


@tool
def lookup_order(order_id: int) -> dict[str, int]:
    """Look up an order."""
    return {"order_id": order_id}


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Journal:
    return Journal(fresh_url(str(request.param), tmp_path))


def _run(journal: Journal, name: str) -> None:
    agent = make_agent(
        [lookup_order],
        ScriptedReasoner([call("lookup_order", order_id=1), respond("x")]),
        name=name,
    )
    runner = Runner(journal)
    runner.run(agent, "look", actor="sam")
    runner.close()


def test_runs_manifests_name_their_agents_and_tools(journal: Journal) -> None:
    _run(journal, "order-desk")
    _run(journal, "order-desk")
    _run(journal, "billing")

    known = KnownNames.of(journal)

    assert known.agents == {"order-desk", "billing"}
    assert known.tools == {"lookup_order"}


def test_controls_and_loaded_files_add_names(journal: Journal) -> None:
    Controls(journal).revoke("send_email", actor="secops", reason="r", agent="future-bot")

    known = KnownNames.of(journal, agents=["loaded"], tools=["refund_order"])

    assert known.agents == {"future-bot", "loaded"}
    assert known.tools == {"send_email", "refund_order"}


def test_an_unknown_name_is_refused_with_the_closest_known_ones(journal: Journal) -> None:
    _run(journal, "order-desk")

    with pytest.raises(UnknownNameError, match="did you mean 'order-desk'") as refused:
        KnownNames.of(journal).require("agent", "order-dsk")
    with pytest.raises(
        UnknownNameError, match="no known tool is named 'x' \\(known tools: lookup_order\\)"
    ) as nothing:
        KnownNames.of(journal).require("tool", "x")

    assert "--new-name" in str(refused.value)
    assert "did you mean" not in str(nothing.value)


def test_an_empty_journal_knows_no_names(journal: Journal) -> None:
    with pytest.raises(UnknownNameError, match=r"known agents: none yet"):
        KnownNames.of(journal).require("agent", "anyone")
