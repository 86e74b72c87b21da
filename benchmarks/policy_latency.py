"""Policy decision latency against the number of rules: median, p99 and the first call.

For each size, a charter holds that many conditional rules on the called tool (a deny
on an argument threshold no call reaches, so every rule is evaluated) plus as many rules
on other tools (which per-tool slicing keeps out of the evaluation). Each size is
decided three ways: by the conditions compiled to Python (the default), by Cedar alone
(``compile_conditions=False``, what every conditional decision cost before), and as
``decide_call`` (the whole decision for one call: charter rules and flow rules). The
first call is measured on a fresh charter twice: cold (the tool's slice parsed and
compiled by that call) and after ``warm`` (what loading an agent does). A tool governed
only by the allow list is measured too: its decision is computed once and reused.

Usage: ``python benchmarks/policy_latency.py [--calls 3000]``; prints a Markdown table
and writes ``benchmarks/results/policy_latency.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from charter import Charter, tool
from charter.policy import CompiledCharter, Decision, Label, decide_call


@tool(side_effect="write")
def refund_order(order_id: int, amount_cents: int) -> int:
    """Refund an order."""
    return order_id


@tool
def lookup_order(order_id: int) -> int:
    """Look up an order."""
    return order_id


ARGS = {"order_id": 1042, "amount_cents": 18950}
LABELS = {"order_id": Label("trusted", "internal"), "amount_cents": Label("trusted", "internal")}


def charter_with(rules_on_tool: int) -> Charter:
    rules: list[dict[str, Any]] = []
    for i in range(rules_on_tool):
        rules.append(
            {
                "id": f"limit-{i}",
                "effect": "deny",
                "tools": ["refund_order"],
                "when": f"context.args.amount_cents > {10_000_000 + i}",
            }
        )
        rules.append({"id": f"other-{i}", "effect": "deny", "tools": ["send_email"]})
    return Charter.model_validate({"name": f"bench-{rules_on_tool}", "rules": rules})


def measure(decide: Callable[[], Decision], calls: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of each of ``calls`` decisions (after one to warm up).

    On a shared machine the wall clock's tail is other processes' time slices; the CPU
    time of the thread is what the decision itself costs."""
    decide()  # parse and slice once, as a long-running process does
    wall: list[float] = []
    cpu: list[float] = []
    gc.collect()
    for _ in range(calls):
        started, started_cpu = time.perf_counter(), time.thread_time()
        decision = decide()
        cpu.append(time.thread_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    assert decision.verdict == "allow", decision
    return wall, cpu


def first_call(size: int, *, warm: bool) -> float:
    """Seconds of the first decision on a freshly built charter."""
    charter = charter_with(size)
    if warm:
        charter.compiled.warm([refund_order, lookup_order])
    started = time.perf_counter()
    charter.decide(refund_order, ARGS)
    return time.perf_counter() - started


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 1)


def _row(samples: tuple[list[float], list[float]]) -> dict[str, float]:
    wall, cpu = samples
    return {
        "median_us": _us(statistics.median(wall)),
        "p99_us": _us(statistics.quantiles(wall, n=100)[-1]),
        "cpu_median_us": _us(statistics.median(cpu)),
        "cpu_p99_us": _us(statistics.quantiles(cpu, n=100)[-1]),
    }


def _firsts(size: int, *, warm: bool) -> dict[str, float]:
    times = [first_call(size, warm=warm) for _ in range(7)]
    return {"median_us": _us(statistics.median(times)), "max_us": _us(max(times))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for size in (1, 10, 100, 500):
        charter = charter_with(size)
        cedar = CompiledCharter(charter, compile_conditions=False)
        python = measure(lambda c=charter: c.decide(refund_order, ARGS), args.calls)
        full = measure(lambda c=charter: decide_call(c, refund_order, ARGS, LABELS), args.calls)
        alone = measure(lambda c=cedar: c.decide(refund_order, ARGS), max(200, args.calls // 4))
        rows.append(
            {
                "rules_on_tool": size,
                "rules_in_charter": 2 * size,
                "python": _row(python),
                "decide_call": _row(full),
                "cedar_only": _row(alone),
                "first_call_cold": _firsts(size, warm=False),
                "first_call_warmed": _firsts(size, warm=True),
            }
        )
    listed = charter_with(100)
    allow_list = measure(lambda: listed.decide(lookup_order, ARGS), args.calls)
    report = {
        "benchmark": "policy_latency",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, CPython {platform.python_version()}",
        "load_average": os.getloadavg()[0],
        "calls": args.calls,
        "rows": rows,
        "allow_list_only": _row(allow_list),
    }
    out = Path(__file__).parent / "results" / "policy_latency.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"load average {report['load_average']:.1f}; allow list only: {report['allow_list_only']}"
    )
    print(
        "| rules on the tool (in charter) | median µs | p99 µs | p99 CPU µs "
        "| decide_call median / p99 µs | Cedar alone median / p99 µs "
        "| first call after warm, median (max) µs | first call unwarmed, median µs |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        py, dc, ce = r["python"], r["decide_call"], r["cedar_only"]
        warmed, cold = r["first_call_warmed"], r["first_call_cold"]
        print(
            f"| {r['rules_on_tool']} ({r['rules_in_charter']}) | {py['median_us']} "
            f"| {py['p99_us']} | {py['cpu_p99_us']} | {dc['median_us']} / {dc['p99_us']} "
            f"| {ce['median_us']} / {ce['p99_us']} "
            f"| {warmed['median_us']} ({warmed['max_us']}) | {cold['median_us']} |"
        )


if __name__ == "__main__":
    main()
