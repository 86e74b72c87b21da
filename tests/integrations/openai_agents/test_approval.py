"""An ``ask`` as the SDK's tool approval: the run is interrupted, the approval is given
with charter's CLI in another process, and the SDK run, restored from its serialized
state in new objects, resumes only on charter's signed receipt for exactly that call."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("agents", reason="the openai-agents extra is not installed")

from agents import FunctionTool, Runner, RunState
from agents.tool_context import ToolContext
from tests.databases import fresh_url

from charter import Journal
from charter.errors import RunStateError
from charter.integrations.openai_agents import govern, resume
from charter.runtime._approvals import Approvals
from integrations.openai_agents.scripted_model import ScriptedModel
from integrations.openai_agents.shop import Shop, cli, make_agent, make_charter

ASKS = [{"id": "refunds-ask", "effect": "ask", "tools": ["refund_order"], "reason": "a person"}]
REFUND = ("refund_order", {"order_id": 7, "amount": 42.0})


def _interrupted(journal: Journal, shop: Shop, **charter: Any) -> tuple[str, str, str]:
    """Run until charter asks; return the run id, the request id and the saved state."""
    model = ScriptedModel([[("lookup_order", {"order_id": 7}), REFUND]])
    agent = make_agent(shop, model)
    with govern(agent, journal=journal, charter=make_charter(rules=ASKS, **charter), goal="g") as g:
        result = asyncio.run(Runner.run(g.agent, "refund order 7"))
        assert [i.tool_name for i in result.interruptions] == ["refund_order"]
        assert g.run.status == "waiting" and g.run.waiting_for
        saved = json.dumps(result.to_state().to_json())
        run_id, request = g.run_id, str(g.run.waiting_for)
        g.close()  # this process stops here; the run waits in the journal
    assert shop.refunds == []
    return run_id, request, saved


async def _resumed(
    journal: Journal, run_id: str, saved: str, model: ScriptedModel, *, decide: bool = True
) -> tuple[Shop, list[str], Any]:
    """In new objects: take the run up, restore the SDK state, answer, run to the end."""
    shop = Shop()
    agent = make_agent(shop, model)
    governed = resume(agent, journal=journal, charter=make_charter(rules=ASKS), run_id=run_id)
    with governed:
        state = await RunState.from_json(governed.agent, json.loads(saved))
        if decide:
            answers = await governed.apply_approvals(state)
        else:  # the SDK's own approval, without asking charter
            for item in state.get_interruptions():
                state.approve(item)
            answers = []
        result = await Runner.run(governed.agent, state)
        governed.finish(result.final_output)
    return shop, answers, result


@pytest.fixture(params=["sqlite", "postgresql"])
def any_journal(
    request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch
) -> Journal:
    """A journal on each backend, named to the CLI's processes too."""
    url = fresh_url(str(request.param), home)
    monkeypatch.setenv("CHARTER_DATABASE_URL", url)
    return Journal(url)


def test_an_approval_from_the_cli_resumes_the_sdk_run_from_its_serialized_state(
    any_journal: Journal,
) -> None:
    journal = any_journal
    run_id, request, saved = _interrupted(journal, Shop())
    approved = cli("approvals", "approve", request, "--as", "alice", "--reason", "fine")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    model = ScriptedModel(["refunded"])
    shop, answers, result = asyncio.run(_resumed(journal, run_id, saved, model))
    assert answers == ["approved"] and shop.refunds == [(7, 42.0)]
    assert result.final_output == "refunded"
    assert model.tool_outputs()["call-1-1"] == "refunded 42.00 on order 7"
    kinds = [r.kind for r in journal.records(run_id)]
    assert kinds.count("approval.used") == 1 and kinds[-1] == "run.finished"
    effects = [r.payload for r in journal.records(run_id) if r.kind == "step.effect"]
    assert [(e["tool"], e["status"]) for e in effects] == [
        ("lookup_order", "ok"),
        ("refund_order", "ok"),
    ]
    verified = cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_the_sdks_approval_alone_runs_nothing_while_charter_has_not_decided(
    journal: Journal,
) -> None:
    run_id, request, _ = _interrupted(journal, Shop())
    with pytest.raises(RunStateError, match=request):
        resume(
            make_agent(Shop(), None),
            journal=journal,
            charter=make_charter(rules=ASKS),
            run_id=run_id,
        )
    # The same process approves in the SDK only: the call is not run, the model is told.
    shop, model = Shop(), ScriptedModel([[REFUND], "not refunded"])
    governed = govern(
        make_agent(shop, model), journal=journal, charter=make_charter(rules=ASKS), goal="g"
    )
    with governed:
        asked = asyncio.run(Runner.run(governed.agent, "refund"))  # a fresh ask, pending
        assert asked.interruptions
        state = asked.to_state()
        for item in state.get_interruptions():
            state.approve(item)
        asyncio.run(Runner.run(governed.agent, state))
        assert shop.refunds == []
        assert "still undecided" in model.tool_outputs()["call-1-0"]


def test_a_denial_in_charter_rejects_the_call_with_its_reason(journal: Journal) -> None:
    run_id, request, saved = _interrupted(journal, Shop())
    denied = cli("approvals", "deny", request, "--as", "alice", "--reason", "courier report")
    assert denied.returncode == 0, denied.stdout + denied.stderr
    model = ScriptedModel(["not refunded"])
    shop, answers, _ = asyncio.run(_resumed(journal, run_id, saved, model))
    assert shop.refunds == [] and len(answers) == 1 and "courier report" in answers[0]
    assert "courier report" in model.tool_outputs()["call-1-1"]


def test_the_sdks_approval_of_a_call_charter_denied_runs_nothing(journal: Journal) -> None:
    run_id, request, saved = _interrupted(journal, Shop())
    Approvals(journal).deny(request, "alice", "no")
    model = ScriptedModel(["not refunded"])
    shop, _, _ = asyncio.run(_resumed(journal, run_id, saved, model, decide=False))
    assert shop.refunds == []
    assert model.tool_outputs()["call-1-1"].startswith("charter denied refund_order")


def test_a_tampered_state_cannot_run_other_arguments_on_the_receipt(journal: Journal) -> None:
    run_id, request, saved = _interrupted(journal, Shop())
    Approvals(journal).approve(request, "alice", "ok")
    tampered = saved.replace('\\"amount\\": 42.0', '\\"amount\\": 4200.0')
    assert tampered != saved
    shop, model = Shop(), ScriptedModel(["not refunded"])
    with pytest.raises(Exception, match="different invocation"):  # the SDK's own check
        shop, _, _ = asyncio.run(_resumed(journal, run_id, tampered, model))
    assert shop.refunds == []


def test_a_receipt_runs_only_the_call_it_approved(journal: Journal) -> None:
    run_id, request, _ = _interrupted(journal, Shop())
    Approvals(journal).approve(request, "alice", "ok")
    shop = Shop()
    governed = resume(
        make_agent(shop, None), journal=journal, charter=make_charter(rules=ASKS), run_id=run_id
    )
    refund = next(t for t in governed.agent.tools if t.name == "refund_order")
    assert isinstance(refund, FunctionTool)

    def call(arguments: dict[str, Any]) -> Any:
        text = json.dumps(arguments)
        context = ToolContext(None, tool_name="refund_order", tool_call_id="c", tool_arguments=text)

        async def invoke() -> Any:  # the SDK types on_invoke_tool as returning an Awaitable
            return await refund.on_invoke_tool(context, text)

        return asyncio.run(invoke())

    with governed:
        said = call({"order_id": 7, "amount": 4200.0})  # not what was approved
        assert shop.refunds == [] and "was not approved" in said
        assert call({"order_id": 7, "amount": 42.0}) == "refunded 42.00 on order 7"
        governed.finish("refunded")
    assert shop.refunds == [(7, 42.0)]
    kinds = [r.kind for r in journal.records(run_id)]
    assert kinds.count("approval.used") == 1 and kinds.count("approval.rejected") == 0


def test_a_receipt_for_another_policy_version_is_refused(journal: Journal) -> None:
    run_id, request, saved = _interrupted(journal, Shop())
    Approvals(journal).approve(request, "alice", "ok")
    changed = make_charter(rules=ASKS, budgets={"max_steps": 40})
    shop = Shop()
    governed = resume(
        make_agent(shop, ScriptedModel(["no"])), journal=journal, charter=changed, run_id=run_id
    )
    with governed:
        state = asyncio.run(RunState.from_json(governed.agent, json.loads(saved)))
        answers = asyncio.run(governed.apply_approvals(state))
        assert answers and answers[0].startswith("charter denied refund_order")
        asyncio.run(Runner.run(governed.agent, state))
        governed.finish("no")
    assert shop.refunds == []
    rejected = [r.payload for r in journal.records(run_id) if r.kind == "approval.rejected"]
    assert [r["rule"] for r in rejected] == ["approval.invalid"]


def test_another_call_of_the_turn_is_not_run_while_one_waits_for_approval(
    journal: Journal,
) -> None:
    shop = Shop()
    model = ScriptedModel([[REFUND, ("lookup_order", {"order_id": 8})]])
    charter = make_charter(rules=ASKS)
    with govern(make_agent(shop, model), journal=journal, charter=charter, goal="g") as g:
        result = asyncio.run(Runner.run(g.agent, "refund 7, look up 8"))
        assert [i.tool_name for i in result.interruptions] == ["refund_order"]
        outputs: list[dict[str, Any]] = list(result.to_state().to_json()["generated_items"])
        g.close()
    said = [str(o.get("output", "")) for o in outputs]
    assert any("waits for approval" in text for text in said), said
    decided = [r.payload["tool"] for r in journal.records(g.run_id) if r.kind == "step.decided"]
    assert decided == ["refund_order"]
