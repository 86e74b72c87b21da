"""A LangGraph agent refunding an order in the demo world, governed by charter.

The agent is an ordinary ``create_react_agent`` over two LangChain tools; its model is
langchain-core's fake chat model playing a fixed script, so no key or network is needed.
Charter governs each tool call; the refund asks for an approval, which is given from
another process, and the thread (kept by a SqliteSaver) resumes in a third:

    python examples/integrations/langgraph_refund.py            # stops at the refund
    charter approvals approve apr-... --as dana                  # another process
    python examples/integrations/langgraph_refund.py --thread THREAD --resume apr-...

The run lands in charter's journal (``CHARTER_HOME`` or ``CHARTER_DATABASE_URL``):
``charter runs show``, ``charter audit verify`` and rollback work on it.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import uuid
import warnings
from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.prebuilt import create_react_agent

from charter import Journal, settings
from charter.demo import create_world, default_world_path
from charter.demo.tools import build_tools
from charter.errors import CharterError
from charter.integrations.langgraph import govern, iter_interrupts, resume_command
from charter.journal import load_or_create_signer

warnings.filterwarnings("ignore", message=".*create_react_agent.*")
CHARTER = Path(__file__).with_name("langgraph_refund.charter.yaml")
ORDER = 1042

# --- the agent's own tools (here over the demo world's orders and payments) ---

WORLD = {tool.name: tool for tool in build_tools(create_world(default_world_path()))}


@tool
def lookup_order(order_id: int) -> dict[str, Any]:
    """Look up an order: amount, status, cents still refundable."""
    return dict(WORLD["lookup_order"].fn(order_id))


@tool
def refund_order(order_id: int, reason: str) -> dict[str, Any]:
    """Refund everything still refundable on an order."""
    return dict(WORLD["refund_order"].fn(order_id, reason))


class ScriptedModel(FakeMessagesListChatModel):
    """A model that plays a fixed script (a real one would come from langchain-openai...)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def _call(name: str, args: dict[str, Any], call_id: str) -> AIMessage:
    usage = {"input_tokens": 350, "output_tokens": 25, "total_tokens": 375}
    calls = [{"name": name, "args": args, "id": call_id}]
    return AIMessage(content="", tool_calls=calls, usage_metadata=usage)  # type: ignore[arg-type]


BEFORE_APPROVAL: list[BaseMessage] = [
    _call("lookup_order", {"order_id": ORDER}, "call-1"),
    _call("refund_order", {"order_id": ORDER, "reason": "item arrived damaged"}, "call-2"),
]
AFTER_APPROVAL: list[BaseMessage] = [AIMessage(content=f"Refunded order {ORDER}.")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A LangGraph agent governed by charter.")
    parser.add_argument("--thread", help="the LangGraph thread to resume")
    parser.add_argument("--resume", metavar="APPROVAL", help="the approval to resume with")
    options = parser.parse_args(argv)
    journal = Journal(settings.database_url(), load_or_create_signer(settings.signing_key_path()))
    governor = govern(
        [lookup_order, refund_order],
        journal=journal,
        charter=CHARTER,
        name="langgraph-refunds",
        compensate={"refund_order": WORLD["refund_order"].compensate},  # type: ignore[dict-item]
    )
    checkpoints = Path(settings.charter_home()) / "langgraph-checkpoints.db"
    checkpoints.parent.mkdir(parents=True, exist_ok=True)
    saver = SqliteSaver(sqlite3.connect(checkpoints, check_same_thread=False))
    script = AFTER_APPROVAL if options.resume else BEFORE_APPROVAL
    graph = create_react_agent(
        ScriptedModel(responses=script), governor.tool_node, checkpointer=saver
    )
    thread = options.thread or f"refund-{uuid.uuid4().hex[:8]}"
    config: Any = {"configurable": {"thread_id": thread}}
    if options.resume:
        result = governor.invoke(graph, resume_command(options.resume), config)
    else:
        result = governor.invoke(
            graph, {"messages": [("user", f"Refund order {ORDER}: damaged")]}, config
        )
    for message in result["messages"]:
        if isinstance(message, ToolMessage):
            print(f"  {message.name}: {message.status}: {str(message.content)[:90]}")
    for asked in iter_interrupts(result):
        print(f"waiting for approval {asked['request_id']} ({', '.join(asked['rules'])}):")
        print(f"  charter approvals approve {asked['request_id']} --as <approver>")
        print(
            "  python examples/integrations/langgraph_refund.py "
            f"--thread {thread} --resume {asked['request_id']}"
        )
        return 3
    print(f"answer: {result['messages'][-1].content}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CharterError as exc:  # e.g. resumed before the approval was decided
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
