"""A Pydantic AI agent refunding order 1042 of the demo world, governed by charter.

The agent is ordinary Pydantic AI: plain tools over the demo world and a model (here a
scripted ``FunctionModel``, so it runs with no key). ``govern`` puts every tool call
through charter; the refund is over $100, so the charter asks a person:

    python examples/integrations/pydantic_ai_refund.py            # stops at the refund
    charter approvals approve apr-... --as dana                   # any process, any person
    python examples/integrations/pydantic_ai_refund.py --resume   # a new process resumes
    python examples/integrations/pydantic_ai_refund.py --rollback RUN_ID   # undo the refund

The run lands in charter's journal (``CHARTER_HOME`` or ``CHARTER_DATABASE_URL``):
``charter runs show``, ``charter audit verify`` and ``charter runs replay`` work on it; the
rollback runs the refund's compensation, which lives in Python beside the agent.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from pydantic_ai import Agent, DeferredToolRequests
from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from charter import Journal, settings
from charter.demo.tools import toolset
from charter.errors import CharterError
from charter.integrations.pydantic_ai import approvals, govern
from charter.journal import load_or_create_signer

CHARTER = Path(__file__).with_name("pydantic_ai_refund.charter.yaml")
WORLD = {t.name: t for t in toolset({})}  # the demo world's orders, payments and tickets


def scripted_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Looks the order up, refunds what is refundable, then answers."""
    seen = {
        p.tool_name: p.content
        for m in messages
        for p in m.parts
        if isinstance(p, ToolReturnPart) and p.outcome != "failed"
    }
    if "refund_order" in seen:
        return ModelResponse(parts=[TextPart(f"Done: {seen['refund_order']['summary']}")])
    if "lookup_order" in seen:
        cents = seen["lookup_order"]["refundable_cents"]
        args = {"order_id": 1042, "amount_cents": cents, "reason": "arrived damaged"}
        return ModelResponse(parts=[ToolCallPart("refund_order", args)])
    return ModelResponse(parts=[ToolCallPart("lookup_order", {"order_id": 1042})])


agent = Agent(FunctionModel(scripted_model), name="support")


@agent.tool_plain
def lookup_order(order_id: int) -> dict[str, Any]:
    """Look up an order: item, amounts, status, refund window."""
    return WORLD["lookup_order"].fn(order_id=order_id)


@agent.tool_plain
def refund_order(order_id: int, reason: str, amount_cents: int) -> dict[str, Any]:
    """Refund an order to the customer's payment method."""
    result = WORLD["refund_order"].fn(order_id=order_id, reason=reason, amount_cents=amount_cents)
    return dict(result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A Pydantic AI agent governed by charter.")
    parser.add_argument("--resume", action="store_true", help="resume the approved refund")
    parser.add_argument("--rollback", metavar="RUN_ID", help="undo a run's refund")
    options = parser.parse_args(argv)
    journal = Journal(settings.database_url(), load_or_create_signer(settings.signing_key_path()))
    governed = govern(
        agent,
        journal=journal,
        charter=CHARTER,
        compensate={"refund_order": WORLD["refund_order"].compensate},  # for rollback
        actor="support-bot",
    )
    state = Path(settings.charter_home()) / "pydantic_ai_refund.json"
    held = TypeAdapter(DeferredToolRequests)
    if options.rollback:
        report = governed.rollback(options.rollback, actor="support-lead")
        for item in report.items:
            print(f"{item.tool}: {item.outcome}")
        return 0
    if options.resume:
        saved = json.loads(state.read_text())
        result = governed.run_sync(
            message_history=ModelMessagesTypeAdapter.validate_python(saved["messages"]),
            deferred_tool_results=approvals(held.validate_python(saved["held"])),
        )
    else:
        result = governed.run_sync("Refund order 1042: the chair arrived damaged")
    for record in journal.records(str(governed.last_run_id)):  # what charter journaled
        p = record.payload
        if record.kind == "step.decided":
            print(f"step {p['step']} {p['tool']}: {p['verdict']} ({', '.join(p['rules'])})")
        elif record.kind == "approval.used":
            print(f"  approved by {p['approver']}: the signed receipt matches the call")
        elif record.kind == "step.effect":
            print(f"  {p['tool']} ran: {p['status']}")
    if isinstance(result.output, DeferredToolRequests):
        call = result.output.approvals[0]
        request = result.output.metadata[call.tool_call_id]["charter_request_id"]
        messages = ModelMessagesTypeAdapter.dump_python(result.all_messages(), mode="json")
        held_calls = held.dump_python(result.output, mode="json")
        state.write_text(json.dumps({"messages": messages, "held": held_calls}))
        print(f"run {governed.last_run_id} waits for approval {request}:")
        print(f"  charter approvals approve {request} --as <approver>")
        print("  python examples/integrations/pydantic_ai_refund.py --resume")
        return 3
    print(f"run {governed.last_run_id}: {result.output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CharterError as exc:  # e.g. resumed before the approval was decided
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
