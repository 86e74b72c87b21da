"""Tools an ADK toolset offers (a set of function tools, an MCP server's tools through
``McpToolset``) are governed like the agent's own: contracts keyed by the name ADK gives
them, a name the charter does not give denied, in ADK's real run loop."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("google.adk", reason="the adk extra is not installed")

from google.adk.agents import LlmAgent
from google.adk.agents.readonly_context import ReadonlyContext
from google.adk.apps import App
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.adk.tools.base_tool import BaseTool
from google.adk.tools.base_toolset import BaseToolset
from google.adk.tools.function_tool import FunctionTool

from charter import Charter, Journal
from charter.errors import ConfigError
from charter.integrations.adk import ScriptedLlm, ScriptTurn, adk_tools, charter_agent, govern
from charter.runtime._rollback import rollback
from databases import fresh_url
from integrations.adk.adk_world import (
    ask,
    drop_orders,
    lookup_order,
    new_session,
    ran,
    refund_order,
    responses,
    run_turn,
    undo_refund,
    undone,
)

SERVER = Path(__file__).parents[1] / "mcp" / "mcp_server.py"
ASK = {"id": "refunds-ask", "effect": "ask", "tools": ["refund_order"]}


class ShopTools(BaseToolset):
    """The shop's tools offered as a toolset (resolved per invocation by ADK)."""

    def __init__(self, *, prefix: str | None = None, fail: bool = False) -> None:
        super().__init__(tool_name_prefix=prefix)
        self.fail = fail
        self.closed = 0

    async def get_tools(self, readonly_context: ReadonlyContext | None = None) -> list[BaseTool]:
        if self.fail:
            raise RuntimeError("the tool server is down")
        return [FunctionTool(f) for f in (lookup_order, refund_order, drop_orders)]

    async def close(self) -> None:
        self.closed += 1


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Journal:
    ran.clear()
    undone.clear()
    return Journal(fresh_url(str(request.param), tmp_path))


def _charter(contracts: dict[str, Any], **extra: Any) -> Charter:
    return Charter.model_validate({"name": "adk-toolsets", "contracts": contracts} | extra)


def _runner(
    journal: Journal, tools: list[Any], charter: Charter, script: list[ScriptTurn], **kw: Any
) -> Runner:
    agent = LlmAgent(name="shop", model=ScriptedLlm(script=script), tools=tools)
    plugin = govern(agent, journal=journal, charter=charter, **kw)
    app = App(name="shop", root_agent=agent, plugins=[plugin])
    return Runner(app=app, session_service=InMemorySessionService())


def _effects(journal: Journal) -> list[tuple[str, str]]:
    (started,) = journal.records_of_kind("run.started")
    found = [r for r in journal.records(started.run_id) if r.kind == "step.effect"]
    return [(r.payload["tool"], r.payload["status"]) for r in found]


def test_a_toolsets_named_tools_run_governed_and_an_unnamed_one_is_denied(
    journal: Journal,
) -> None:
    charter = _charter(
        {"lookup_order": {}, "refund_order": {"side_effect": "write", "targets": ["order_id"]}}
    )
    script: list[ScriptTurn] = [
        ("lookup_order", {"order_id": 7}),
        ("refund_order", {"order_id": 7, "amount": 42.0}),
        ("drop_orders", {}),
        "done",
    ]
    runner = _runner(
        journal, [ShopTools()], charter, script, compensate={"refund_order": undo_refund}
    )
    session = new_session(runner)
    events = run_turn(runner, session, ask("refund order 7"))
    assert [name for name, _ in ran] == ["lookup_order", "refund_order"]
    assert "unknown tool 'drop_orders'" in responses(events)["drop_orders"]["error"]
    assert _effects(journal) == [("lookup_order", "ok"), ("refund_order", "ok")]
    (started,) = journal.records_of_kind("run.started")
    assert set(started.payload["tools"]) == {"lookup_order", "refund_order"}
    report = rollback(journal, charter_agent_of(charter), started.run_id, actor="ops")
    assert {i.tool: i.outcome for i in report.items} == {"refund_order": "compensated"}
    assert undone == [7]


def charter_agent_of(charter: Charter) -> Any:
    agent = LlmAgent(name="shop", model=ScriptedLlm(script=["x"]), tools=[ShopTools()])
    return charter_agent(agent, charter, compensate={"refund_order": undo_refund})


def test_contracts_name_a_prefixed_toolsets_tools_as_adk_names_them(journal: Journal) -> None:
    charter = _charter({"shop_lookup_order": {}})
    script: list[ScriptTurn] = [
        ("shop_lookup_order", {"order_id": 1}),
        ("shop_refund_order", {"order_id": 1, "amount": 5.0}),
        "done",
    ]
    runner = _runner(journal, [ShopTools(prefix="shop")], charter, script)
    events = run_turn(runner, new_session(runner), ask("look order 1 up"))
    assert [name for name, _ in ran] == ["lookup_order"]
    assert "error" in responses(events)["shop_refund_order"]
    assert _effects(journal) == [("shop_lookup_order", "ok")]


def test_a_toolset_is_listed_once_and_closed_on_its_own_loop(journal: Journal) -> None:
    toolset = ShopTools()
    agent = LlmAgent(name="shop", model=ScriptedLlm(script=["x"]), tools=[toolset])
    built = charter_agent(agent, _charter({"lookup_order": {}}))
    assert built.inventory.names() == ["lookup_order"]
    assert built.inventory.get("lookup_order").args_model.model_json_schema()["required"] == [
        "order_id"
    ]
    assert toolset.closed == 1
    assert {t.name for t in adk_tools(agent)} == {"lookup_order", "refund_order", "drop_orders"}


def test_a_toolset_that_cannot_list_its_tools_is_a_clear_config_error(journal: Journal) -> None:
    agent = LlmAgent(name="shop", model=ScriptedLlm(script=["x"]), tools=[ShopTools(fail=True)])
    with pytest.raises(ConfigError, match=r"ShopTools could not list its tools.*server is down"):
        charter_agent(agent, _charter({"lookup_order": {}}))


def test_an_mcp_toolsets_tools_are_governed_by_name(journal: Journal, tmp_path: Path) -> None:
    from google.adk.tools.mcp_tool import McpToolset, StdioConnectionParams
    from mcp import StdioServerParameters

    outbox = tmp_path / "outbox.txt"
    params = StdioServerParameters(
        command=sys.executable,
        args=[str(SERVER)],
        env=dict(os.environ) | {"MCP_TEST_RUGPULL": "1", "MCP_TEST_OUTBOX": str(outbox)},
    )
    toolset = McpToolset(connection_params=StdioConnectionParams(server_params=params, timeout=30))
    charter = _charter({"lookup_customer": {}})
    script: list[ScriptTurn] = [
        ("lookup_customer", {"customer_id": 3}),
        ("send_email", {"to": "x@evil.example", "body": "hi"}),
        "done",
    ]
    runner = _runner(journal, [toolset], charter, script)
    events = run_turn(runner, new_session(runner), ask("who is customer 3?"))
    found = responses(events)
    assert "unknown tool 'send_email'" in found["send_email"]["error"]
    assert not outbox.exists()  # the unnamed tool never reached the server
    assert _effects(journal) == [("lookup_customer", "ok")]
    assert "Ada" in str(found["lookup_customer"])


def test_an_ask_on_a_toolsets_tool_runs_it_only_once_approved(journal: Journal) -> None:
    from google.adk.sessions import Session

    from charter.integrations.adk import confirmation_message
    from charter.runtime._approvals import Approvals

    charter = _charter(
        {"lookup_order": {}, "refund_order": {"side_effect": "write", "targets": ["order_id"]}},
        rules=[ASK],
    )
    script: list[ScriptTurn] = [("refund_order", {"order_id": 9, "amount": 5.0}), "done"]
    runner = _runner(journal, [ShopTools()], charter, script)
    session_id = new_session(runner)
    run_turn(runner, session_id, ask("refund order 9"))
    assert ran == []
    (requested,) = journal.records_of_kind("approval.requested")
    request = str(requested.payload["request_id"])

    def session() -> Session:
        async def get() -> Session | None:
            return await runner.session_service.get_session(
                app_name="shop", user_id="kim", session_id=session_id
            )

        found = asyncio.run(get())
        assert found is not None
        return found

    assert confirmation_message(session(), journal) is None  # undecided: nothing to send
    Approvals(journal).approve(request, "alice", "ok")
    message = confirmation_message(session(), journal)
    assert message is not None
    run_turn(runner, session_id, message)
    assert ran == [("refund_order", {"order_id": 9, "amount": 5.0})]
    kinds = [r.kind for r in journal.records(requested.run_id)]
    assert kinds.count("approval.used") == 1 and kinds[-1] == "run.finished"
