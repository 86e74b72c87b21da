"""Measure the embedded local model: load time, seconds per step, tokens per second.

Two parts, in one process:

* a fixed small context proposed from ``--steps`` times: after the first step the prompt
  comes from llama.cpp's prompt cache, so this is the per-step floor of the model;
* the demo agent on every demo goal (a fresh demo world in a temporary directory, the
  journal in memory): seconds per governed step end to end, including prompt reading.

Run ``python benchmarks/local_model.py [--steps N]``; prints JSON and writes
``benchmarks/results/local_model.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from charter.reasoners._base import Observation, RunContext, ToolCall, Turn
from charter.reasoners.local import LocalReasoner
from charter.tools import tool


@tool
def lookup_order(order_id: int) -> dict[str, Any]:
    """Look up an order by its numeric id."""
    return {"order_id": order_id}


@tool(side_effect="write")
def refund_order(order_id: int, reason: str) -> dict[str, Any]:
    """Refund an order."""
    return {}


def _context() -> RunContext:
    return RunContext(
        goal="What is the status of order 1042?",
        instructions="You are a customer-support agent for an online shop.",
        tools=[lookup_order, refund_order],
        turns=[
            Turn(
                ToolCall("lookup_order", {"order_id": 1042}),
                Observation("ok", {"order_id": 1042, "status": "shipped", "carrier": "DHL"}),
            )
        ],
    )


def main() -> None:
    """Load the model once, run the steps, print the measurements as JSON."""
    parser = argparse.ArgumentParser(description="Benchmark the embedded local model.")
    parser.add_argument("--steps", type=int, default=5, help="propose() calls (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default all)")
    options = parser.parse_args()

    reasoner = LocalReasoner(threads=options.threads)
    started = time.perf_counter()
    load_seconds = reasoner.load()
    ready_seconds = time.perf_counter() - started  # includes joining/verifying the file

    context = _context()
    seconds: list[float] = []
    generated: list[int] = []
    prompt_tokens = 0
    action = ""
    for _ in range(options.steps):
        t0 = time.perf_counter()
        proposal = reasoner.propose(context)
        seconds.append(time.perf_counter() - t0)
        generated.append(proposal.usage.completion_tokens)
        prompt_tokens += proposal.usage.prompt_tokens
        action = repr(proposal.action)
    # Steps after the first find the prompt cached, like later steps of a real run; their
    # rate is close to pure generation speed. The first step also reads the whole prompt.
    warm = slice(1, None) if options.steps > 1 else slice(None)

    demo = _demo_runs()
    report = {
        **reasoner.describe(),
        "steps": options.steps,
        "load_seconds": round(load_seconds, 2),
        "ready_seconds": round(ready_seconds, 2),
        "first_step_seconds": round(seconds[0], 2),
        "median_step_seconds": round(statistics.median(seconds), 2),
        "completion_tokens_per_step": sum(generated) / options.steps,
        "prompt_tokens_per_step": prompt_tokens / options.steps,
        "tokens_per_second": round(sum(generated[warm]) / sum(seconds[warm]), 1),
        "last_action": action,
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "demo": demo,
    }
    out = Path(__file__).parent / "results" / "local_model.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


def _demo_runs() -> dict[str, Any]:
    """Run the demo agent on each demo goal; seconds per step end to end."""
    from charter.agent import load_agent
    from charter.demo.showcase import AGENT_FILE, DEMO_GOALS
    from charter.demo.world import create_world
    from charter.journal import Journal
    from charter.runtime import Runner

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CHARTER_HOME"] = tmp
        create_world(Path(tmp) / "demo-world.db")
        agent = load_agent(AGENT_FILE)
        runner = Runner(Journal("sqlite://"))
        per_step: list[float] = []
        completed = 0
        for item in DEMO_GOALS:
            started = time.perf_counter()
            run = runner.run(agent, item.goal)
            per_step.append((time.perf_counter() - started) / max(1, len(run.steps)))
            completed += run.status == "completed"
        runner.close()
    return {
        "goals": len(DEMO_GOALS),
        "completed": completed,
        "median_seconds_per_step": round(statistics.median(per_step), 2),
        "max_seconds_per_step": round(max(per_step), 2),
    }


if __name__ == "__main__":
    main()
