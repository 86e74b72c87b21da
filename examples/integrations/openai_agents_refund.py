"""Govern an OpenAI Agents SDK agent with charter: refund a damaged order in the demo world.

The agent is an ordinary SDK agent (``agents.Agent`` with function tools); its model is the
SDK's scripted test model, so no key or network is needed. Charter governs every tool call
(``openai_agents_refund.charter.yaml``); the refund is over $100, so charter asks, which
interrupts the SDK run with a tool approval. A person approves in charter, in another
process; the SDK run is then resumed from its saved state, on charter's signed receipt:

    python examples/integrations/openai_agents_refund.py               # stops at the refund
    charter approvals approve apr-... --as dana                         # another process
    python examples/integrations/openai_agents_refund.py --resume RUN_ID

The run lands in charter's journal (``CHARTER_HOME`` or ``CHARTER_DATABASE_URL``) like any
other: ``charter runs show``, ``charter audit verify`` and ``charter runs replay`` work on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from agents import Agent, Runner, RunState, Usage, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

from charter import Journal, load_charter, settings
from charter.demo.tools import build_tools
from charter.demo.world import create_world, default_world_path
from charter.errors import CharterError
from charter.integrations.openai_agents import govern, resume
from charter.journal import load_or_create_signer

HERE = Path(__file__).parent
CHARTER = load_charter(HERE / "openai_agents_refund.charter.yaml")
ORDER = 1051
GOAL = f"Refund order {ORDER}: item arrived damaged"

set_tracing_disabled(True)  # the scripted model needs no OpenAI account


def agent(model: ScriptedModel) -> tuple[Agent[Any], dict[str, Any]]:
    """The SDK agent over the demo world's tools, and the refund's compensation."""
    world = {t.name: t for t in build_tools(create_world(default_world_path()))}
    tools = [function_tool(world[name].fn) for name in ("lookup_order", "refund_order")]
    undo = {"refund_order": world["refund_order"].compensate}
    return Agent(
        name="sdk-refunds", instructions="Refund damaged orders.", tools=tools, model=model
    ), undo


def model(*turns: list[Any]) -> ScriptedModel:
    return ScriptedModel(
        list(turns),
        default_usage=Usage(requests=1, input_tokens=400, output_tokens=40, total_tokens=440),
    )


def journal() -> Journal:
    return Journal(settings.database_url(), load_or_create_signer(settings.signing_key_path()))


async def start() -> int:
    sdk_agent, undo = agent(
        model(
            [function_call("lookup_order", {"order_id": ORDER}, call_id="lookup")],
            [
                function_call(
                    "refund_order",
                    {"order_id": ORDER, "reason": "item arrived damaged", "amount_cents": 29900},
                    call_id="refund",
                )
            ],
        )
    )
    with govern(
        sdk_agent, journal=journal(), charter=CHARTER, goal=GOAL, compensate=undo, actor="sam"
    ) as governed:
        result = await Runner.run(governed.agent, GOAL)
        if not result.interruptions:
            governed.finish(result)  # the result: a held or redacted answer is changed in it
            print(f"run {governed.run_id} {governed.run.status}: {result.final_output}")
            return 0
        saved = Path(settings.charter_home()) / f"sdk-state-{governed.run_id}.json"
        saved.write_text(json.dumps(result.to_state().to_json()))
        request = governed.run.waiting_for
        print(f"charter asked: {governed.run.steps[-1].decision.reason}")  # type: ignore[union-attr]
        print(f"  charter approvals approve {request} --as dana")
        print(f"  python examples/integrations/openai_agents_refund.py --resume {governed.run_id}")
        governed.close()  # the run waits in the journal; the SDK state waits in a file
        return 3


async def resume_run(run_id: str) -> int:
    sdk_agent, undo = agent(model([assistant_message(f"Refunded order {ORDER}.")]))
    with resume(
        sdk_agent, journal=journal(), charter=CHARTER, run_id=run_id, compensate=undo, actor="sam"
    ) as governed:
        saved = Path(settings.charter_home()) / f"sdk-state-{run_id}.json"
        state = await RunState.from_json(governed.agent, json.loads(saved.read_text()))
        answers = await governed.apply_approvals(state)  # checks charter's signed receipt
        print(f"charter's answer: {', '.join(answers)}")
        result = await Runner.run(governed.agent, state)
        finished = governed.finish(result)
        print(f"run {run_id} {finished.status}: {result.final_output} (outcome {finished.outcome})")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="An OpenAI Agents SDK agent under charter.")
    parser.add_argument("--resume", metavar="RUN_ID", help="continue once the approval is decided")
    options = parser.parse_args(argv)
    if options.resume:
        return asyncio.run(resume_run(options.resume))
    return asyncio.run(start())


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CharterError as exc:  # e.g. resumed before the approval was decided
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
