"""Throughput of charter and of LangGraph (and Pydantic AI, the OpenAI Agents SDK): runs/s
of 1,000 runs of ``frameworks.py``'s scripted agent all in flight at once, peak RSS, and
charter's scaling across worker processes sharing one journal.

In one process every framework starts its 1,000 runs at once on one asyncio loop
(``asyncio.gather``): charter with ``Runner.arun``, which yields to the loop before each
step, so all 1,000 runs hold their leases and interleave on one thread; LangGraph with
``ainvoke``. Charter's thread path (1,000 ``Runner.run`` calls submitted to 16 threads
sharing a runner) is measured too. Each measurement runs in a fresh child process that
imports only its framework, so the peak RSS it reports is its own, and the variants take
turns round after round (the machine's load drifts), each figure the median of its rounds
and each ratio the median of per-round ratios.

Across processes: 1 and then 2 worker processes (one per core), each starting its share of
the 1,000 runs at once with ``Runner.arun``, all on ONE journal (a SQLite file; and
PostgreSQL with ``--postgres-url``), released together; runs/s is all runs over the time
from the first start to the last finish, the scaling ratio that of 2 workers over 1. The
journal is verified after each measurement (every chain intact, checkpoints signed).

Usage: ``python benchmarks/throughput.py [--concurrent 1000] [--rounds 3] [--all]
[--postgres-url URL]`` prints the figures as JSON; ``frameworks.py`` runs it too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
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

THREADS = 16
WARMUP = 20
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
    for _ in range(WARMUP):
        await run()
    started = time.perf_counter()
    answers = set(await asyncio.gather(*(run() for _ in range(runs))))
    elapsed = time.perf_counter() - started
    assert len(answers) == 1, answers
    return runs / elapsed


def charter_arun(runner: Any, agent: Any) -> ARunOnce:
    async def run() -> str:
        done = await runner.arun(agent, GOAL)
        assert done.status == "completed", done
        return str(done.answer)

    return run


def charter_rate(variant: str, steps: int, runs: int, tmp: Path) -> float:
    """Runs/s of charter's runs on a fresh journal, as ``variant`` says."""
    durable = "SQLite file" in variant
    url = f"sqlite:///{tmp / 'journal.db'}" if durable else "sqlite://"
    runner = charter_runner(url, tmp / "keys" / "journal.pem" if durable else None)
    agent = charter_agent(steps)
    try:
        if "threads" in variant:
            run = charter_run(runner, agent)
            for _ in range(WARMUP):
                run()
            return threaded_rate(run, runs, THREADS)
        return asyncio.run(async_rate(charter_arun(runner, agent), runs))
    finally:
        close_charter(runner)


def async_rate_of(variant: str, steps: int, runs: int, tmp: Path) -> float:
    """Runs/s of an asyncio framework's agent, built the way ``frameworks.py`` builds it."""

    async def measure() -> float:
        if variant == "LangGraph":
            graph = langgraph_graph(steps)
            config = langgraph_config(steps, durable=False)

            async def run() -> str:
                state = await graph.ainvoke({"messages": [("user", GOAL)]}, config)
                return str(state["messages"][-1].content)

            return await async_rate(run, runs)
        if variant == "LangGraph + AsyncSqliteSaver":
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

    return asyncio.run(measure())


VARIANTS = {
    "charter governed (in-memory journal)": "asyncio, 1,000 in flight",
    "charter governed + durable (SQLite file)": "asyncio, 1,000 in flight",
    f"charter governed (in-memory journal), {THREADS} threads": f"{THREADS} threads",
    "LangGraph": "asyncio, 1,000 in flight",
    "LangGraph + AsyncSqliteSaver": "asyncio, 1,000 in flight",
}
MORE_VARIANTS = {"Pydantic AI": "asyncio", "OpenAI Agents": "asyncio"}
RATIOS = {  # charter's figure over its baseline's
    "charter governed (in-memory journal)": "LangGraph",
    "charter governed + durable (SQLite file)": "LangGraph + AsyncSqliteSaver",
    f"charter governed (in-memory journal), {THREADS} threads": "LangGraph",
}


def measure_here(variant: str, steps: int, runs: int) -> None:
    """In a fresh process: measure one variant once, print its figures as one JSON line."""
    with tempfile.TemporaryDirectory() as tmp:
        if variant.startswith("charter"):
            rate = charter_rate(variant, steps, runs, Path(tmp))
        else:
            rate = async_rate_of(variant, steps, runs, Path(tmp))
    print(json.dumps({"runs_per_s": rate, "peak_rss_bytes": peak_rss_bytes()}))


def child(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"throughput child {args} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def throughput(steps: int, runs: int, *, every: bool, rounds: int = 3) -> dict[str, dict[str, Any]]:
    """Every variant's figures: its rounds interleaved with the others', each a child."""
    variants = VARIANTS | (MORE_VARIANTS if every else {})
    samples: dict[str, list[dict[str, Any]]] = {variant: [] for variant in variants}
    for _round in range(rounds):
        for variant in variants:
            args = ("--variant", variant, "--steps", str(steps), "--concurrent", str(runs))
            samples[variant].append(child(*args))
    figures: dict[str, dict[str, Any]] = {}
    for variant, how in variants.items():
        rates = [sample["runs_per_s"] for sample in samples[variant]]
        figures[variant] = {
            "concurrency": how,
            "runs_per_s": round(statistics.median(rates)),
            "runs_per_s_rounds": [round(rate) for rate in rates],
            "peak_rss_bytes": max(sample["peak_rss_bytes"] for sample in samples[variant]),
        }
        if variant in RATIOS:
            against = samples[RATIOS[variant]]
            ratios = [
                mine["runs_per_s"] / theirs["runs_per_s"]
                for mine, theirs in zip(samples[variant], against, strict=True)
            ]
            figures[variant]["ratio"] = {
                "against": RATIOS[variant],
                "median_of_rounds": round(statistics.median(ratios), 2),
            }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=5, help="tool steps per run")
    parser.add_argument("--concurrent", type=int, default=1000, help="runs started at once")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--all", action="store_true", help="Pydantic AI and OpenAI Agents too")
    parser.add_argument("--postgres-url", help="measure the processes on this PostgreSQL too")
    parser.add_argument("--no-processes", action="store_true", help="one process only")
    parser.add_argument("--no-one-process", action="store_true", help="the processes only")
    parser.add_argument("--variant", help="measure this one variant, in this process")
    parser.add_argument("--worker", help="(internal) be a worker process on this journal URL")
    args = parser.parse_args()
    if args.variant:
        measure_here(args.variant, args.steps, args.concurrent)
        return
    if args.worker:
        from throughput_workers import worker

        worker(args.worker, args.steps, args.concurrent)
        return
    figures: dict[str, Any] = {}
    if not args.no_one_process:
        one = throughput(args.steps, args.concurrent, every=args.all, rounds=args.rounds)
        figures["one_process"] = one
        print(json.dumps(one), file=sys.stderr, flush=True)
    if not args.no_processes:
        from throughput_workers import scaling

        figures["processes"] = scaling(
            __file__, args.steps, args.concurrent, args.rounds, args.postgres_url
        )
    print(json.dumps(figures, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
