"""One process's share of a LangGraph thread whose answer charter holds: ``open`` runs the
turn (the mail read, the answer held), ``resume APPROVAL`` takes the thread up from its
SqliteSaver checkpoint and releases it.

    python answer_process.py open|resume JOURNAL_URL CHECKPOINTS [APPROVAL]

Prints one JSON line: the interrupt payloads and the last message of the graph's result.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import warnings

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.sqlite import SqliteSaver
from tests.integrations.langgraph import graphs
from tests.integrations.langgraph.test_answers import CHARTER, PHISH, read_mail

from charter import Journal
from charter.integrations.langgraph import govern, iter_interrupts, resume_command

warnings.simplefilter("ignore")


def main() -> None:
    phase, url, checkpoints = sys.argv[1:4]
    governor = govern([read_mail], journal=Journal(url), charter=CHARTER, name="mail")
    config: RunnableConfig = {"configurable": {"thread_id": "thread-9"}}
    saver = SqliteSaver(sqlite3.connect(checkpoints, check_same_thread=False))
    if phase == "open":
        script: list[BaseMessage] = [
            graphs.call("read_mail", {"folder": "inbox"}, "c1"),
            AIMessage(content=f"Summary: {PHISH}"),
        ]
        app, _ = graphs.graph(governor, script, saver)
        result = governor.invoke(app, {"messages": [("user", "Summarise my inbox")]}, config)
    else:
        app, _ = graphs.graph(governor, [], saver)
        result = governor.invoke(app, resume_command(sys.argv[4]), config)
    last = str(result["messages"][-1].content)
    print(json.dumps({"interrupts": list(iter_interrupts(result)), "last": last}))


if __name__ == "__main__":
    main()
