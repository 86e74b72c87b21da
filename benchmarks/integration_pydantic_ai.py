"""A Pydantic AI agent's tool calls alone vs the same agent governed by charter, same run.

One agent (a scripted ``FunctionModel`` calling an async tool ``STEPS`` times, then
answering) is run three ways, interleaved round by round so machine noise hits all alike:

* ``pydantic ai alone``: ``await agent.run(...)`` (the floor: the framework's own loop);
* ``governed, in-memory journal``: ``await govern(agent, ...).run(...)`` on ``sqlite://``:
  every call decided by the charter and journaled (proposal, decision, effect,
  observation), the run opened and finished (its records and a checkpoint);
* ``governed, SQLite file``: the same on a SQLite file (WAL) with a signing key.

Each sample is a whole run's time divided by its calls, so opening and finishing the
governed run count; the process's CPU time is taken beside the wall-clock time, since on a
shared machine other processes stretch the wall clock of both variants alike. The
figures to read: the difference of the medians (µs charter adds per call; target ≤ 300
in memory) and that difference over the framework's own per-call cost (target ≤ 15%).
Usage: ``python benchmarks/integration_pydantic_ai.py [--rounds 60]``; prints a Markdown
table and writes ``benchmarks/results/integration_pydantic_ai.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from charter import Charter, Journal
from charter.integrations.pydantic_ai import govern
from charter.journal import load_or_create_signer

STEPS = 10
CHARTER = Charter.model_validate(
    {
        "name": "bench",
        "contracts": {"lookup_order": {"side_effect": "read"}},
        "budgets": {"max_steps": STEPS + 1},
    }
)


def scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """``STEPS`` calls of ``lookup_order``, one per response, then an answer."""
    done = sum(isinstance(m, ModelResponse) for m in messages)
    if done < STEPS:
        return ModelResponse(parts=[ToolCallPart("lookup_order", {"order_id": 1000 + done})])
    return ModelResponse(parts=[TextPart("done")])


def build_agent() -> Agent[None, str]:
    agent = Agent(FunctionModel(scripted))

    @agent.tool_plain
    async def lookup_order(order_id: int) -> dict[str, Any]:
        """Look up an order."""
        return {"order_id": order_id, "status": "delivered"}

    return agent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    agent = build_agent()
    names = (
        "pydantic ai alone",
        "governed, in-memory journal",
        "governed, SQLite file (WAL, signed)",
    )
    samples: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        signer = load_or_create_signer(tmp / "keys" / "journal.pem")
        memory = govern(agent, journal=Journal("sqlite://"), charter=CHARTER)
        on_file = Journal(f"sqlite:///{tmp / 'journal.db'}", signer=signer)
        durable = govern(agent, journal=on_file, charter=CHARTER)

        async def alone() -> None:
            assert (await agent.run("look up ten orders")).output == "done"

        async def governed_memory() -> None:
            assert (await memory.run("look up ten orders")).output == "done"

        async def governed_file() -> None:
            assert (await durable.run("look up ten orders")).output == "done"

        variants = list(zip(samples, (alone, governed_memory, governed_file), strict=True))

        async def measure() -> None:
            for _ in range(5):  # warm-up: imports, caches, the journal's tables
                for _, run in variants:
                    await run()
            for index in range(args.rounds):
                shift = index % len(variants)  # rotate the order within a round
                for name, run in variants[shift:] + variants[:shift]:
                    started, cpu_started = time.perf_counter(), time.process_time()
                    await run()
                    samples[name].append((time.perf_counter() - started) / STEPS)
                    cpu[name].append((time.process_time() - cpu_started) / STEPS)

        asyncio.run(measure())
        assert on_file.verify().ok

    floor = statistics.median(samples[names[0]])
    cpu_floor = statistics.median(cpu[names[0]])
    rows: list[dict[str, Any]] = []
    for name, values in samples.items():
        median, cpu_median = statistics.median(values), statistics.median(cpu[name])
        rows.append(
            {
                "variant": name,
                "median_us": round(median * 1e6, 1),
                "p90_us": round(statistics.quantiles(values, n=10)[-1] * 1e6, 1),
                "added_us": round((median - floor) * 1e6, 1),
                "added_ratio": round((median - floor) / floor, 3),
                "cpu_median_us": round(cpu_median * 1e6, 1),
                "cpu_added_us": round((cpu_median - cpu_floor) * 1e6, 1),
                "cpu_added_ratio": round((cpu_median - cpu_floor) / cpu_floor, 3),
            }
        )
    result = {
        "benchmark": "integration_pydantic_ai",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "framework": f"pydantic-ai-slim {metadata.version('pydantic-ai-slim')}",
        "calls_per_run": STEPS,
        "rounds": args.rounds,
        "rows": rows,
    }
    out = Path(__file__).parent / "results" / "integration_pydantic_ai.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        "| variant | median µs/call | p90 µs/call | added µs/call | added / framework "
        "| CPU µs/call | added CPU µs/call | added CPU / framework |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['variant']} | {row['median_us']:,.0f} | {row['p90_us']:,.0f} | "
            f"{row['added_us']:,.0f} | {row['added_ratio']:.1%} | {row['cpu_median_us']:,.0f} | "
            f"{row['cpu_added_us']:,.0f} | {row['cpu_added_ratio']:.1%} |"
        )


if __name__ == "__main__":
    main()
