"""Govern an OpenAI Agents SDK agent with charter (``pip install 'charter[openai-agents]'``).

Built against openai-agents 0.24. Every :class:`agents.FunctionTool` of the agent (and of
the agents it hands off to) is wrapped: charter decides each call before it runs, the
real tool runs only when allowed, and its output, with its contract's labels, is
journaled as a native run's is. A tool the charter's ``contracts:`` does not name is
denied. A denial is the tool's output the model sees, and so is what charter answered a
call with itself: a ``delegate:`` tool's sub-agent run (a charter identity that delegates
drives :class:`GovernedAgent` through ``GovernedRun.open``), a shadow-phase simulation. An
``ask`` becomes the SDK's tool approval (an interruption in the run result, a resumable
``RunState``), and resuming checks charter's signed receipt::

    from agents import Runner
    from charter import Journal, load_charter
    from charter.integrations.openai_agents import govern

    with govern(agent, journal=Journal("sqlite:///charter.db"),
                charter=load_charter("refunds.charter.yaml"), goal="refund order 1042") as governed:
        result = await Runner.run(governed.agent, "refund order 1042")
        if result.interruptions:             # charter asked: approve with `charter approvals`
            saved = result.to_state().to_json()   # keep it, with governed.run_id
        else:
            governed.finish(result)   # the result shows the answer as charter kept it

Later, in any process, once the approval is decided::

    with resume(agent, journal=..., charter=..., run_id=run_id) as governed:
        state = await RunState.from_json(governed.agent, saved)
        await governed.apply_approvals(state)    # approve or reject, per charter's receipt
        result = await Runner.run(governed.agent, state)
        governed.finish(result)

What else to know: a tool's own ``needs_approval`` gives way to charter's decision (write
an ``ask`` rule instead); the calls of one turn are governed one after the other; each
model response's usage counts against the charter's budgets; once the kill switch, a
budget or an operator stops the charter run, the SDK run ends with :class:`RunStopped`
at its next call; a call stopped midway (the SDK's tool timeout) is journaled in doubt,
and a write in doubt is never silently retried. Tools charter cannot see run (hosted
tools, MCP servers on the agent, ``handoff()`` objects, agents offered as tools that have
tools of their own) are refused when governing starts. Under ``flows.answer: ask``,
``redact`` or ``deny`` each agent's model (a ``Model`` object, not a name) governs a final
text answer as it is given, so ``Runner.run_streamed`` streams, and a ``Session`` stores,
the answer as the run kept it.
"""

from __future__ import annotations

try:
    import agents as _sdk

    _sdk.FunctionTool  # noqa: B018  (the OpenAI Agents SDK, not another package named agents)
except (ImportError, AttributeError) as exc:
    raise ImportError(
        "the OpenAI Agents integration needs its extra: pip install 'charter[openai-agents]'"
    ) from exc

from charter.integrations.openai_agents._governed import (
    GovernedAgent,
    RunStopped,
    govern,
    resume,
)
from charter.integrations.openai_agents._inventory import charter_agent
from charter.integrations.openai_agents._model import AnswerNotShown

__all__ = ["AnswerNotShown", "GovernedAgent", "RunStopped", "charter_agent", "govern", "resume"]
