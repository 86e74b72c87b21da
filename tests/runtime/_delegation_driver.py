"""A process that runs a delegating agent and SIGKILLs itself inside its child's write,
for ``test_delegation_crash.py``: ``python _delegation_driver.py <journal url> <world>``.

The world is a SQLite file that outlives the kill, one row per refund made, keyed by the
call's idempotency key (the refund service recognises a retried call), so the test can
count exactly how often the write happened.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from contextlib import closing

from charter import Agent, Journal, Runner, tool
from charter.testing import ScriptedReasoner, call, make_agent, respond


def agents(world: str, *, kill: bool) -> Agent:
    """The front desk and the billing agent it delegates to, over ``world``."""

    @tool(side_effect="write", targets=("order_id",))
    def refund_order(order_id: int, idempotency_key: str | None = None) -> str:
        """Refund an order (once per idempotency key)."""
        with closing(sqlite3.connect(world)) as db, db:
            db.execute("CREATE TABLE IF NOT EXISTS refunds (key TEXT PRIMARY KEY, id INT)")
            db.execute("INSERT OR IGNORE INTO refunds VALUES (?, ?)", (idempotency_key, order_id))
        if kill:  # the refund reached the world; its effect is not journaled
            os.kill(os.getpid(), signal.SIGKILL)
        return f"refunded {order_id}"

    child = make_agent(
        [refund_order],
        ScriptedReasoner([call("refund_order", order_id=1042), respond("refunded 1042")]),
        name="billing",
    )
    return make_agent(
        [],
        ScriptedReasoner([call("ask_billing", task="refund order 1042"), respond("done")]),
        name="front-desk",
        delegates={"ask_billing": child},
    )


if __name__ == "__main__":
    url, world = sys.argv[1], sys.argv[2]
    Runner(Journal(url)).run(agents(world, kill=True), "refund order 1042")
