"""What the gateway offers in ``tools/list``: only tools the charter can allow, at the moment
of listing (charter tools here: the gateway serves any agent's tools, not only MCP ones)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest

from charter.agent import Agent
from charter.errors import RunStateError
from charter.integrations.mcp._gateway import Caller, Gateway, GatewaySession
from charter.journal import Journal
from charter.policy import Charter
from charter.runtime._controls import Controls
from charter.testing import ScriptedReasoner
from charter.tools import Inventory, tool


@tool
def lookup_order(order_id: int) -> int:
    """Look up an order."""
    return order_id


@tool(side_effect="write")
def refund_order(order_id: int) -> int:
    """Refund an order."""
    return order_id


@tool(side_effect="external")
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return to


def gateway(journal: Journal, **charter: object) -> Gateway:
    agent = Agent(
        name="ops",
        instructions="",
        inventory=Inventory([lookup_order, refund_order, send_email]),
        reasoner=ScriptedReasoner([]),
        charter=Charter(name="c", **charter),  # type: ignore[arg-type]
    )
    return Gateway(journal, agent)


def call(served: Gateway, session: GatewaySession, name: str, args: dict[str, Any]) -> Any:
    result = anyio.run(served.governed, session, name, args)
    return types.CallToolResult.model_validate(result, by_name=False)  # as a client reads it


def test_always_denied_tools_are_not_listed() -> None:
    journal = Journal("sqlite://")
    served = gateway(journal, tools={"allow": ["*"], "deny": ["send_*"]})
    listed = {t.name: t for t in served.listing().tools}
    assert set(listed) == {"lookup_order", "refund_order"}
    assert listed["lookup_order"].annotations is not None
    assert listed["lookup_order"].annotations.read_only_hint is True
    assert listed["refund_order"].input_schema["required"] == ["order_id"]


def test_a_revoked_tool_leaves_the_list_at_once_and_returns_when_restored() -> None:
    journal = Journal("sqlite://")
    served = gateway(journal)
    assert "refund_order" in {t.name for t in served.offered()}
    controls = Controls(journal)
    controls.revoke("refund_order", actor="ops", reason="incident 7")
    assert "refund_order" not in {t.name for t in served.offered()}
    controls.restore("refund_order", actor="ops")
    assert "refund_order" in {t.name for t in served.offered()}


def test_a_charter_tool_is_called_through_the_gateway_in_the_sessions_run() -> None:
    journal = Journal("sqlite://")
    served = gateway(journal, tools={"allow": ["*"], "deny": ["send_*"]})
    session = GatewaySession(Caller("alice"), "test-client")
    done = call(served, session, "refund_order", {"order_id": 5})
    assert isinstance(done, types.CallToolResult) and not done.is_error
    assert done.content[0].text == "5"  # type: ignore[union-attr]
    denied = call(served, session, "send_email", {"to": "a@b", "body": "x"})
    assert isinstance(denied, types.CallToolResult) and denied.is_error
    assert session.run is not None
    run_id = session.run.run_id
    served.end(session)
    kinds = [r.kind for r in journal.records(run_id)]
    assert kinds.count("step.decided") == 2 and kinds[-1] == "run.finished"
    (started,) = [r.payload for r in journal.records(run_id) if r.kind == "run.started"]
    assert started["actor"] == "alice"
    assert journal.verify().ok


def test_a_session_past_its_budget_is_refused_every_further_call() -> None:
    journal = Journal("sqlite://")
    served = gateway(journal, budgets={"max_steps": 1})
    session = GatewaySession(Caller("alice"), "test-client")
    first = call(served, session, "lookup_order", {"order_id": 1})
    over = call(served, session, "lookup_order", {"order_id": 2})
    assert isinstance(first, types.CallToolResult) and not first.is_error
    assert isinstance(over, types.CallToolResult) and over.is_error
    assert "budget.max_steps" in over.content[0].text  # type: ignore[union-attr]
    assert session.run is not None and session.run.run.status == "stopped"
    with pytest.raises(RunStateError, match="stopped"):
        call(served, session, "lookup_order", {"order_id": 3})
    served.end(session)  # a stopped run is left as it ended
    finished = [r.payload for r in journal.records(session.run.run_id) if r.kind == "run.finished"]
    assert [f["status"] for f in finished] == ["stopped"]


def test_charters_work_runs_on_the_loop_only_with_a_journal_in_memory(tmp_path: Path) -> None:
    here = threading.get_ident()
    in_memory = gateway(Journal("sqlite://"))
    in_a_file = gateway(Journal(f"sqlite:///{tmp_path / 'journal.db'}"))
    assert anyio.run(in_memory.blocking, threading.get_ident) == here
    # A file (or a database) may wait on a lock, a disk or a network: a worker thread.
    assert anyio.run(in_a_file.blocking, threading.get_ident) != here
