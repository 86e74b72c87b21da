"""Throughput of charter and of LangGraph (and Pydantic AI, the OpenAI Agents SDK): runs/s
of 1,000 concurrent runs of ``frameworks.py``'s scripted agent, and peak RSS.

Charter's runner is synchronous: its runs are submitted at once to a thread pool sharing
one runner, at several pool sizes, as ``durability.py`` measures runs/s; the others are
started at once on one asyncio loop. Each variant runs in a fresh child process that
imports only its framework, so the peak RSS it reports is its own.

Usage: ``python benchmarks/throughput.py [--concurrent 1000] [--all]`` prints the figures
as JSON; ``frameworks.py`` runs it and records them with its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from frameworks import (
    GOAL,
    RunOnce,
    charter_agent,
    charter_run,
    charter_runner,
    close_charter,
    langgraph_config,
    langgraph_graph,
    openai_agents_agent,
    pydantic_ai_agent,
)

POOL_SIZES = (1, 4, 16)
ARunOnce = Callable[[], Awaitable[str]]


def peak_rss_bytes() -> int:
    """This process's peak resident set size (VmHWM in /proc/self/status).

    Not ``ru_maxrss``: Linux carries that over ``execve``, so a child forked from this
    benchmark would report the parent's peak, with every framework loaded.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status (this measurement needs Linux)")


def threaded_rate(run: RunOnce, runs: int, workers: int) -> float:
    """Runs/s of ``runs`` runs submitted at once to ``workers`` threads."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        started = time.perf_counter()
        futures = [pool.submit(run) for _ in range(runs)]
        answers = {future.result() for future in futures}
        elapsed = time.perf_counter() - started
    assert len(answers) == 1, answers
    return runs / elapsed


async def async_rate(run: ARunOnce, runs: int) -> float:
    """Runs/s of ``runs`` runs started at once on this event loop."""
    for _ in range(20):
        await run()
    started = time.perf_counter()
    answers = set(await asyncio.gather(*(run() for _ in range(runs))))
    elapsed = time.perf_counter() - started
    assert len(answers) == 1, answers
    return runs / elapsed


def charter_throughput(steps: int, runs: int, durable: bool, tmp: Path) -> dict[str, Any]:
    """Runs/s at each pool size, the best as the figure."""
    rates: dict[str, float] = {}
    agent = charter_agent(steps)
    for workers in POOL_SIZES:  # a fresh journal per pool size, as durability.py does
        url = f"sqlite:///{tmp / f'{workers}.db'}" if durable else "sqlite://"
        runner = charter_runner(url, tmp / "keys" / "journal.pem" if durable else None)
        run = charter_run(runner, agent)
        for _ in range(20):
            run()
        rates[str(workers)] = round(threaded_rate(run, runs, workers))
        close_charter(runner)
    return {"runs_per_s": max(rates.values()), "runs_per_s_by_threads": rates}


def async_throughput(variant: str, steps: int, runs: int, tmp: Path) -> dict[str, Any]:
    """Runs/s of an asyncio framework's agent, built the way ``frameworks.py`` builds it."""

    async def measure() -> float:
        if variant == "LangGraph":
            graph = langgraph_graph(steps)
            config = langgraph_config(steps, durable=False)

            async def run() -> str:
                state = await graph.ainvoke({"messages": [("user", GOAL)]}, config)
                return str(state["messages"][-1].content)

            return await async_rate(run, runs)
        if variant == "LangGraph + AsyncSqliteSaver (WAL, synchronous=NORMAL)":
            from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

            async with AsyncSqliteSaver.from_conn_string(str(tmp / "lg.db")) as saver:
                await saver.conn.execute("PRAGMA synchronous=NORMAL")  # as charter's journal
                graph = langgraph_graph(steps, saver)

                async def run() -> str:
                    config = langgraph_config(steps, durable=True)
                    state = await graph.ainvoke({"messages": [("user", GOAL)]}, config)
                    return str(state["messages"][-1].content)

                return await async_rate(run, runs)
        if variant == "Pydantic AI":
            agent = pydantic_ai_agent(steps)

            async def run() -> str:
                return str((await agent.run(GOAL)).output)

            return await async_rate(run, runs)
        if variant == "OpenAI Agents":
            from agents import Runner

            oa_agent = openai_agents_agent(steps)

            async def run() -> str:
                return str((await Runner.run(oa_agent, GOAL)).final_output)

            return await async_rate(run, runs)
        raise ValueError(f"unknown throughput variant {variant!r}")

    return {"runs_per_s": round(asyncio.run(measure()))}


VARIANTS = {
    "charter governed (in-memory journal)": "threads",
    "charter governed + durable (SQLite file)": "threads",
    "LangGraph": "asyncio",
    "LangGraph + AsyncSqliteSaver (WAL, synchronous=NORMAL)": "asyncio",
}
MORE_VARIANTS = {"Pydantic AI": "asyncio", "OpenAI Agents": "asyncio"}


def measure_here(variant: str, steps: int, runs: int) -> None:
    """In a fresh process: measure one variant, print its figures as one JSON line."""
    with tempfile.TemporaryDirectory() as tmp:
        if variant.startswith("charter"):
            figures = charter_throughput(steps, runs, "durable" in variant, Path(tmp))
        else:
            figures = async_throughput(variant, steps, runs, Path(tmp))
    figures["peak_rss_bytes"] = peak_rss_bytes()
    print(json.dumps(figures))


def throughput(steps: int, runs: int, *, every: bool) -> dict[str, dict[str, Any]]:
    """Every variant's figures, each measured in a child process of its own."""
    figures: dict[str, dict[str, Any]] = {}
    variants = VARIANTS | (MORE_VARIANTS if every else {})
    for variant, concurrency in variants.items():
        child = subprocess.run(
            [
                *(sys.executable, __file__, "--variant", variant),
                *("--steps", str(steps), "--concurrent", str(runs)),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            raise SystemExit(f"throughput of {variant} failed:\n{child.stderr}")
        figures[variant] = {"concurrency": concurrency} | json.loads(
            child.stdout.strip().splitlines()[-1]
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=5, help="tool steps per run")
    parser.add_argument("--concurrent", type=int, default=1000, help="runs started at once")
    parser.add_argument("--all", action="store_true", help="Pydantic AI and OpenAI Agents too")
    parser.add_argument("--variant", help="measure this one variant, in this process")
    args = parser.parse_args()
    if args.variant:
        measure_here(args.variant, args.steps, args.concurrent)
    else:
        figures = throughput(args.steps, args.concurrent, every=args.all)
        print(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
