"""Microseconds per governed, journaled step vs a plain-Python loop, measured in one run.

Each variant drives the same scripted proposals and the same trivial tool:

* ``plain``: a bare loop calling the tool function (the floor);
* ``charter inline``: the full governed step (charter decision, argument validation,
  journal on a SQLite file, WAL) with a tool declaring no timeout;
* ``charter timeout``: the same with a tool timeout, so the call runs on a worker thread.

Usage: ``python benchmarks/step_overhead.py [--steps 50] [--runs 40]``; prints a Markdown
table and writes ``benchmarks/results/step_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from charter import Budgets, Charter, Journal, Runner, tool
from charter.reasoners import FinalAnswer, Proposal, ToolCall
from charter.testing import ScriptedReasoner, make_agent


def add_one(x: int) -> int:
    """Return x + 1."""
    return x + 1


inline_tool = tool(add_one, name="add_one", timeout_s=None)  # type: ignore[call-overload]
threaded_tool = tool(add_one, name="add_one", timeout_s=30.0)  # type: ignore[call-overload]


def plain_loop(steps: int) -> float:
    """Seconds for ``steps`` iterations of propose → call → observe, ungoverned."""
    script = [Proposal(ToolCall("add_one", {"x": i})) for i in range(steps)]
    history: list[tuple[Any, Any]] = []
    started = time.perf_counter()
    for proposal in script:
        action = proposal.action
        assert isinstance(action, ToolCall)
        result = add_one(**action.args)
        history.append((action, result))
    return time.perf_counter() - started


def charter_loop(runner: Runner, governed_tool: Any, steps: int) -> float:
    """Seconds per run of ``steps`` governed steps (plus the final answer)."""
    script: list[Any] = [ToolCall("add_one", {"x": i}) for i in range(steps)]
    script.append(FinalAnswer("done"))
    charter = Charter(name="bench", budgets=Budgets(max_steps=steps + 5))
    agent = make_agent([governed_tool], ScriptedReasoner(script), charter=charter)
    started = time.perf_counter()
    run = runner.run(agent, "benchmark")
    elapsed = time.perf_counter() - started
    assert run.status == "completed", run.error
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()

    results: dict[str, list[float]] = {"plain": [], "charter inline": [], "charter timeout": []}
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(f"sqlite:///{Path(tmp) / 'journal.db'}")
        runner = Runner(journal)
        for _ in range(3):  # warm-up: imports, connection pool, page cache
            charter_loop(runner, inline_tool, args.steps)
            plain_loop(args.steps)
        for _ in range(args.runs):  # interleaved so machine noise hits all variants alike
            results["plain"].append(plain_loop(args.steps) / args.steps)
            results["charter inline"].append(
                charter_loop(runner, inline_tool, args.steps) / args.steps
            )
            results["charter timeout"].append(
                charter_loop(runner, threaded_tool, args.steps) / args.steps
            )
        runner.close()
        assert journal.verify().ok

    floor = statistics.median(results["plain"])
    rows: list[dict[str, Any]] = []
    for name, samples in results.items():
        median = statistics.median(samples)
        rows.append(
            {
                "variant": name,
                "median_us": round(median * 1e6, 2),
                "p90_us": round(statistics.quantiles(samples, n=10)[-1] * 1e6, 2),
                "ratio_to_plain": round(median / floor, 1),
            }
        )
    report = {
        "benchmark": "step_overhead",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "steps_per_run": args.steps,
        "runs": args.runs,
        "rows": rows,
    }
    out = Path(__file__).parent / "results" / "step_overhead.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print("| variant | median µs/step | p90 µs/step | x plain |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['variant']} | {row['median_us']} | {row['p90_us']} | {row['ratio_to_plain']} |"
        )


if __name__ == "__main__":
    main()
