"""Policy decision latency against the number of rules, median and p99, in one run.

For each size, a charter holds that many conditional rules on the called tool (a deny
on an argument threshold no call reaches, so every rule is evaluated) plus as many rules
on other tools (which per-tool slicing keeps out of the evaluation). A tool governed only
by the allow list is measured too: its decision is computed once and reused.

Usage: ``python benchmarks/policy_latency.py [--calls 2000]``; prints a Markdown table
and writes ``benchmarks/results/policy_latency.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from charter import Charter, tool


@tool(side_effect="write")
def refund_order(order_id: int, amount_cents: int) -> int:
    """Refund an order."""
    return order_id


@tool
def lookup_order(order_id: int) -> int:
    """Look up an order."""
    return order_id


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


def measure(charter: Charter, target: Any, calls: int) -> list[float]:
    args = {"order_id": 1042, "amount_cents": 18950}
    charter.decide(target, args)  # parse and slice once, as a long-running process does
    samples: list[float] = []
    for _ in range(calls):
        started = time.perf_counter()
        decision = charter.decide(target, args)
        samples.append(time.perf_counter() - started)
    assert decision.verdict == "allow", decision
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for size in (1, 10, 101, 500):
        charter = charter_with(size)
        for label, target in (("conditional", refund_order), ("allow list only", lookup_order)):
            samples = measure(charter, target, args.calls)
            rows.append(
                {
                    "rules_on_tool": size if target is refund_order else 0,
                    "rules_in_charter": 2 * size,
                    "tool": label,
                    "median_us": round(statistics.median(samples) * 1e6, 1),
                    "p99_us": round(statistics.quantiles(samples, n=100)[-1] * 1e6, 1),
                }
            )
    report = {
        "benchmark": "policy_latency",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, CPython {platform.python_version()}",
        "calls": args.calls,
        "rows": rows,
    }
    out = Path(__file__).parent / "results" / "policy_latency.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print("| rules in charter | rules evaluated | median µs | p99 µs |")
    print("|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['rules_in_charter']} | {r['rules_on_tool']} | {r['median_us']} | {r['p99_us']} |"
        )


if __name__ == "__main__":
    main()
