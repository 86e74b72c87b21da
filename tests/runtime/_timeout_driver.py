"""A process whose run's write times out and that dies right after, its call still hanging:
``test_tool_deadlines.py`` runs it, then looks at what the journal kept.

Usage: ``python _timeout_driver.py <journal url>``; prints the run id, then exits without
any cleanup (``os._exit``) as soon as the reasoner is asked for the step after the timeout.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from charter import Journal, Runner, tool
from charter.reasoners import RunContext
from charter.testing import ScriptedReasoner, call, make_agent, respond

hold = threading.Event()


@tool(side_effect="write", timeout_s=0.05, targets=("order_id",))
def pay(order_id: int) -> dict[str, int]:
    """Pay an order (in this process: hangs until the process dies)."""
    hold.wait(60)
    return {"paid": order_id}


class DiesAfterTheTimeout(ScriptedReasoner):
    """Pays, and dies when asked for the next step (the timeout is journaled by then)."""

    def propose(self, context: RunContext) -> Any:
        if context.turns:
            sys.stdout.flush()
            os._exit(0)
        return super().propose(context)


SCRIPT = [call("pay", order_id=7), call("pay", order_id=7), respond("done")]
"""Pay, try the same payment again, answer."""


def agent(reasoner: ScriptedReasoner) -> Any:
    """The agent, with ``reasoner``."""
    return make_agent([pay], reasoner)


if __name__ == "__main__":
    journal = Journal(sys.argv[1])
    runner = Runner(journal)
    run_id = "run-timeout-crash"
    print(run_id, flush=True)
    runner.run(agent(DiesAfterTheTimeout(SCRIPT)), "pay order 7", run_id=run_id)
