"""An SDK agent whose charter identity delegates: its model's call of the delegate tool
starts the sub-agent's run through charter, and the model is given the child's result as
the tool's output (never a refusal), in the SDK's real run loop; a child's approval
interrupts the SDK run and its receipt continues the child in another process."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

pytest.importorskip("agents", reason="the openai-agents extra is not installed")

from agents import Agent as SdkAgent
from agents import Runner, RunState, function_tool

from charter import Charter, Journal
from charter.agent import Agent
from charter.governance import GovernedRun
from charter.integrations.openai_agents import GovernedAgent
from charter.runtime._approvals import Approvals
from charter.testing import call, respond
from integrations.openai_agents.scripted_model import ScriptedModel
from runtime._delegation_agents import asking_charter, billing, child_of, front_desk, refunds

HAND_OFF = ("ask_billing", {"task": "refund order 1042"})


@pytest.fixture(autouse=True)
def _reset() -> None:
    refunds.clear()


@function_tool
def ask_billing(task: str) -> str:
    """Hand a task to the billing agent."""
    raise AssertionError("charter runs the sub-agent; the SDK never runs this tool")


@function_tool
def lookup_order(order_id: int) -> dict[str, Any]:
    """Look up an order."""
    return {"order_id": order_id}


def _sdk_agent(model: ScriptedModel) -> SdkAgent[Any]:
    return SdkAgent(name="front-desk", tools=[lookup_order, ask_billing], model=model)


def _identity(child: Agent, charter: Charter | None = None) -> Agent:
    return front_desk([], child, charter=charter)


def test_the_model_gets_the_childs_answer_as_the_delegate_tools_output(
    journal: Journal,
) -> None:
    child = billing([call("refund_order", order_id=1042), respond("refunded 1042")])
    model = ScriptedModel([[HAND_OFF], "Billing refunded it."])
    run = GovernedRun.open(journal, _identity(child), "refund order 1042")

    with GovernedAgent(_sdk_agent(model), run) as governed:
        result = asyncio.run(Runner.run(governed.agent, "refund order 1042"))
        governed.finish(result.final_output)

    output = json.loads(model.tool_outputs()["call-1-0"])
    child_id = child_of(journal, run.run_id)
    assert output == {
        "agent": "billing",
        "run": child_id,
        "status": "completed",
        "answer": "refunded 1042",
    }
    assert refunds == [1042]
    assert result.final_output == "Billing refunded it." and run.run.status == "completed"
    effect = next(r.payload for r in journal.records(run.run_id) if r.kind == "step.effect")
    assert effect["child_run"] == child_id and effect["status"] == "ok"


def test_a_child_that_failed_is_reported_to_the_model_as_its_failure(journal: Journal) -> None:
    child = billing([call("refund_order", order_id=1042)])  # then its script runs out
    model = ScriptedModel([[HAND_OFF], "Billing could not do it."])
    run = GovernedRun.open(journal, _identity(child), "refund order 1042")

    with GovernedAgent(_sdk_agent(model), run) as governed:
        result = asyncio.run(Runner.run(governed.agent, "refund order 1042"))
        governed.finish(result.final_output)

    output = model.tool_outputs()["call-1-0"]
    assert output.startswith("delegation to billing failed: scripted reasoner")
    assert "charter denied" not in output
    assert list(journal.records(child_of(journal, run.run_id)))[-1].payload["status"] == "failed"


def test_a_childs_approval_interrupts_the_sdk_run_and_its_receipt_continues_the_child(
    journal: Journal,
) -> None:
    def child() -> Agent:
        script = [call("refund_order", order_id=1042), respond("refunded 1042")]
        return billing(script, charter=asking_charter("billing"))

    run = GovernedRun.open(journal, _identity(child()), "refund order 1042")
    with GovernedAgent(_sdk_agent(ScriptedModel([[HAND_OFF]])), run) as governed:
        asked = asyncio.run(Runner.run(governed.agent, "refund order 1042"))
        assert [i.tool_name for i in asked.interruptions] == ["ask_billing"]
        saved = json.dumps(asked.to_state().to_json())
        run_id, request = run.run_id, str(run.run.waiting_for)
        governed.close()
    assert refunds == [] and Approvals(journal).get(request).request.run_id != run_id
    Approvals(journal).approve(request, "alice", "fine")

    # Another process: new objects, the SDK's state restored, charter's receipt applied.
    model = ScriptedModel(["Billing refunded it."])
    resumed = GovernedRun.resume(journal, _identity(child()), run_id)
    with GovernedAgent(_sdk_agent(model), resumed) as governed:
        state = _restored(governed, saved)
        assert asyncio.run(governed.apply_approvals(state)) == ["approved"]
        result = asyncio.run(Runner.run(governed.agent, state))
        governed.finish(result.final_output)

    (output,) = model.tool_outputs().values()
    assert json.loads(output)["answer"] == "refunded 1042"
    assert refunds == [1042] and resumed.run.status == "completed"


def _restored(governed: GovernedAgent, saved: str) -> RunState[Any, Any]:
    """The SDK's saved run state, restored against the governed agent."""
    return asyncio.run(RunState.from_json(governed.agent, json.loads(saved)))
