"""Per tool call: an OpenAI Agents SDK agent alone vs the same agent governed by charter,
in the same process and run.

A scripted ``Model`` (no network, no key, tracing off) makes ``STEPS`` calls of one read
tool, one per turn, then answers; the SDK's real ``Runner.run`` loop drives it:

* ``SDK alone``: the agent as written;
* ``SDK + charter, in memory``: ``govern(agent, ...)`` on an in-memory journal
  (``sqlite://``): each call decided by the charter, its decision, effect and observation
  journaled, the model's usage reported;
* ``SDK + charter, SQLite file``: the same on a journal file (WAL) with a signed
  checkpoint per run.

A governed run's time includes opening and finishing the charter run; each variant's
figure is the run's time divided by its calls, in CPU time of the process (``--wall``:
wall-clock). Rounds are interleaved so machine noise hits all alike.

Usage: ``python benchmarks/integration_openai_agents.py [--rounds 60] [--wall]``; prints a
Markdown table and writes ``benchmarks/results/integration_openai_agents.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from agents import Agent, Runner, Usage, function_tool, set_tracing_disabled
from agents.items import ModelResponse
from agents.models.interface import Model
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

from charter import Charter, Journal
from charter.integrations.openai_agents import govern
from charter.journal import load_or_create_signer

STEPS = 10
CHARTER = Charter.model_validate(
    {"name": "bench", "contracts": {"lookup_order": {}}, "budgets": {"max_steps": STEPS + 1}}
)
CLOCK = time.process_time
"""CPU time of this process: on a shared machine, time another process held the CPU is
not counted against either variant (``--wall`` measures wall-clock time instead)."""
RESULTS = Path(__file__).resolve().parent / "results" / "integration_openai_agents.json"


class ScriptedModel(Model):
    """Calls ``lookup_order`` once per turn until STEPS outputs came back, then answers."""

    async def get_response(self, *args: Any, **kwargs: Any) -> ModelResponse:
        items = args[1] if len(args) > 1 else kwargs["input"]
        done = (
            0
            if isinstance(items, str)
            else sum(1 for item in items if item.get("type") == "function_call_output")
        )
        usage = Usage(requests=1, input_tokens=200, output_tokens=20, total_tokens=220)
        if done >= STEPS:
            text = ResponseOutputText(type="output_text", text="done", annotations=[])
            message = ResponseOutputMessage(
                id=f"msg_{done}",
                type="message",
                role="assistant",
                status="completed",
                content=[text],
            )
            return ModelResponse(output=[message], usage=usage, response_id=None)
        call = ResponseFunctionToolCall(
            type="function_call",
            name="lookup_order",
            arguments=json.dumps({"order_id": 1000 + done}),
            call_id=f"call_{done}",
            id=f"fc_{done}",
        )
        return ModelResponse(output=[call], usage=usage, response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the benchmark does not stream")


@function_tool
async def lookup_order(order_id: int) -> dict[str, Any]:
    """Look up an order."""
    return {"order_id": order_id, "status": "delivered", "total_cents": 4200}


Variant = Callable[[], Awaitable[float]]
"""One run; returns the seconds its tool calls took (the SDK's run loop)."""


def variants(journal_file: Journal) -> dict[str, Variant]:
    agent = Agent(name="bench", instructions="", model=ScriptedModel(), tools=[lookup_order])

    async def never(context: Any, params: dict[str, Any], call_id: str) -> bool:
        return False

    asking = Agent(
        name="bench",
        instructions="",
        model=ScriptedModel(),
        tools=[dataclasses.replace(lookup_order, needs_approval=never)],
    )
    memory = Journal("sqlite://")

    def alone(sdk_agent: Agent[Any]) -> Variant:
        async def run() -> float:
            started = CLOCK()
            result = await Runner.run(sdk_agent, "look up ten orders", max_turns=STEPS + 2)
            took = CLOCK() - started
            assert result.final_output == "done"
            return took

        return run

    def governed(journal: Journal) -> Variant:
        async def run() -> float:
            opened = CLOCK()
            with govern(agent, journal=journal, charter=CHARTER, goal="look up") as g:
                started = CLOCK()
                result = await Runner.run(g.agent, "look up ten orders", max_turns=STEPS + 2)
                took = CLOCK() - started
                assert g.finish(result.final_output).status == "completed"
            OPEN_FINISH.setdefault(journal is memory, []).append(CLOCK() - opened - took)
            return took

        return run

    return {
        "SDK alone": alone(agent),
        "SDK, an approval callable on the tool (no charter)": alone(asking),
        "SDK + charter, in memory": governed(memory),
        "SDK + charter, SQLite file": governed(journal_file),
    }


OPEN_FINISH: dict[bool, list[float]] = {}
"""Seconds to open and finish each governed run (in memory: True), outside its calls."""


async def measure(runs: dict[str, Variant], rounds: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():  # warm up: imports, caches, the journal's schema
        await run()
    OPEN_FINISH.clear()
    for _ in range(rounds):
        for name, run in runs.items():
            samples[name].append(await run() / STEPS * 1e6)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--wall", action="store_true", help="wall-clock time, not CPU time")
    args = parser.parse_args()
    global CLOCK
    if args.wall:
        CLOCK = time.perf_counter
    set_tracing_disabled(True)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        signer = load_or_create_signer(tmp / "keys" / "journal.pem")
        journal = Journal(f"sqlite:///{tmp / 'journal.db'}", signer=signer)
        samples = asyncio.run(measure(variants(journal), args.rounds))
    base = statistics.median(samples["SDK alone"])
    rows: list[dict[str, Any]] = []
    clock = "wall-clock" if args.wall else "CPU"
    print(
        f"{STEPS} calls a run, {args.rounds} rounds, {clock} time, openai-agents "
        f"{metadata.version('openai-agents')}"
    )
    print("| variant | median µs/call | p90 µs/call | added µs/call | added / SDK step |")
    print("|---|---:|---:|---:|---:|")
    for name, values in samples.items():
        ordered = sorted(values)
        median = statistics.median(values)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        added = median - base
        rows.append(
            {
                "variant": name,
                "median_us": median,
                "p90_us": p90,
                "added_us": added,
                "added_ratio": added / base,
            }
        )
        shown = " | " if name == "SDK alone" else f"{added:,.0f} | {added / base:.1%}"
        print(f"| {name} | {median:,.0f} | {p90:,.0f} | {shown} |")
    for in_memory, seconds in sorted(OPEN_FINISH.items(), reverse=True):
        where = "in memory" if in_memory else "SQLite file"
        once = statistics.median(seconds) * 1e6
        rows.append({"variant": f"open + finish, {where}", "median_us_per_run": once})
        print(f"opening and finishing a governed run ({where}): {once:,.0f} µs a run")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "integration_openai_agents",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "python": sys.version.split()[0],
                "machine": platform.machine(),
                "openai_agents": metadata.version("openai-agents"),
                "steps": STEPS,
                "rounds": args.rounds,
                "clock": clock,
                "rows": rows,
                "targets": {"added_us_in_memory": 300, "added_ratio": 0.15},
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
