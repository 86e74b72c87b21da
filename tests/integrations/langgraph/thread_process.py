"""One process's share of a LangGraph thread: ``open`` starts the turn (a refund charter
asks about), ``resume APPROVAL`` takes the thread up from its SqliteSaver checkpoint.

    python thread_process.py open|resume JOURNAL_URL CHECKPOINTS ORDERS [APPROVAL]

Prints one JSON line: the interrupt payloads and tool messages of the graph's result.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import warnings
from pathlib import Path

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite import SqliteSaver
from tests.integrations.langgraph import graphs

from charter import Journal
from charter.integrations.langgraph import govern, iter_interrupts, resume_command

warnings.simplefilter("ignore")


def main() -> None:
    phase, url, checkpoints, orders = sys.argv[1:5]
    graphs.STORE["path"] = Path(orders)
    rules = [{"id": "refunds-ask", "effect": "ask", "tools": ["refund_order"]}]
    governor = govern(
        graphs.TOOLS, journal=Journal(url), charter=graphs.charter(rules=rules), name="refunds"
    )
    config: RunnableConfig = {"configurable": {"thread_id": "thread-7"}}
    saver = SqliteSaver(sqlite3.connect(checkpoints, check_same_thread=False))
    if phase == "open":
        script = [
            graphs.call("lookup_order", {"order_id": 1042}, "c1", tokens=100),
            graphs.call("refund_order", {"order_id": 1042, "amount": 42.0}, "c2", tokens=100),
        ]
        app, _ = graphs.graph(governor, script, saver)
        result = governor.invoke(app, {"messages": [("user", "refund order 1042")]}, config)
    else:
        app, _ = graphs.graph(governor, [AIMessage(content="Refunded order 1042.")], saver)
        result = governor.invoke(app, resume_command(sys.argv[5]), config)
    tools = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    print(
        json.dumps(
            {
                "interrupts": list(iter_interrupts(result)),
                "tools": [[m.name, m.status, str(m.content)] for m in tools],
            }
        )
    )


if __name__ == "__main__":
    main()
