"""A process that runs a delegating agent and SIGKILLs itself inside its child's write,
for ``test_delegation_crash.py``: ``python _delegation_driver.py <journal url> <world>
<where>``, ``where`` being ``child-write`` or the kind of the record after which to die.

The world is a SQLite file that outlives the kill, one row per refund made, keyed by the
call's idempotency key (the refund service recognises a retried call), so the test can
count exactly how often the write happened.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from contextlib import closing

from charter import Agent, Journal, Record, Runner, tool
from charter.testing import ScriptedReasoner, call, make_agent, respond


def agents(world: str, *, kill: bool = False) -> Agent:
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


def _kill_at(kind: str) -> Callable[[Record], None]:
    def listen(record: Record) -> None:
        if record.kind == kind:  # told once the record is durably stored
            os.kill(os.getpid(), signal.SIGKILL)

    return listen


if __name__ == "__main__":
    url, world, where = sys.argv[1], sys.argv[2], sys.argv[3]
    if where == "child-write":  # inside the child's refund, after it reached the world
        Runner(Journal(url)).run(agents(world, kill=True), "refund order 1042")
    else:  # once a record of this kind is journaled (e.g. delegate.started)
        Runner(Journal(url), on_record=_kill_at(where)).run(agents(world), "refund order 1042")
