"""Microseconds per governed, journaled step vs a plain-Python loop, measured in one run.

Every variant runs the same 5-step procedure (five calls of a trivial tool, then an
answer) and reports the whole run's time divided by its five tool steps, so starting and
finishing the run (two more journal commits) is included:

* ``plain``: a bare Python loop calling the tool function (the floor);
* ``charter inline``: the ``rules`` reasoner, charter decision, argument validation and
  the journal on a SQLite file (WAL) with a signed checkpoint after each run, as
  ``charter run`` does, with a tool declaring no timeout;
* ``charter timeout``: the same with a tool timeout (the default), so the call runs on a
  worker thread that can be abandoned.

Usage: ``python benchmarks/step_overhead.py [--runs 400]``; prints a Markdown table and
writes ``benchmarks/results/step_overhead.json``.
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
from charter.journal import load_or_create_signer
from charter.reasoners import FinalAnswer, RulesReasoner, RulesSpec, RuleStep, ToolCall
from charter.testing import make_agent


def add_one(x: int) -> int:
    """Return x + 1."""
    return x + 1


inline_tool = tool(add_one, name="add_one", timeout_s=None)  # type: ignore[call-overload]
threaded_tool = tool(add_one, name="add_one", timeout_s=30.0)  # type: ignore[call-overload]


STEPS = 5
PROCEDURE = RulesSpec(
    steps=[
        RuleStep(
            id=f"s{i}", call="add_one", args={"x": i if i == 0 else f"{{steps.s{i - 1}.result}}"}
        )
        for i in range(STEPS)
    ]
    + [RuleStep(respond=f"{{steps.s{STEPS - 1}.result}}")]
)


def plain_loop() -> float:
    """Seconds for one ungoverned run: propose → call → observe, five times, then answer."""
    started = time.perf_counter()
    history: list[tuple[ToolCall, int]] = []
    value = 0
    for _ in range(STEPS):
        action = ToolCall("add_one", {"x": value})
        value = add_one(**action.args)
        history.append((action, value))
    answer = FinalAnswer(str(value))
    elapsed = time.perf_counter() - started
    assert answer.text == str(STEPS)
    return elapsed


def charter_loop(runner: Runner, governed_tool: Any) -> float:
    """Seconds for one governed, journaled run of the same procedure."""
    charter = Charter(name="bench", budgets=Budgets(max_steps=STEPS + 1))
    agent = make_agent([governed_tool], RulesReasoner(PROCEDURE), charter=charter)
    started = time.perf_counter()
    run = runner.run(agent, "benchmark")
    elapsed = time.perf_counter() - started
    assert run.status == "completed" and run.answer == str(STEPS), run
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=400)
    args = parser.parse_args()

    results: dict[str, list[float]] = {"plain": [], "charter inline": [], "charter timeout": []}
    with tempfile.TemporaryDirectory() as tmp:
        # As `charter run` does: a signed checkpoint after every run.
        signer = load_or_create_signer(Path(tmp) / "keys" / "journal.pem")
        journal = Journal(f"sqlite:///{Path(tmp) / 'journal.db'}", signer=signer)
        runner = Runner(journal)
        for _ in range(20):  # warm-up: imports, connection pool, page cache
            charter_loop(runner, inline_tool)
            plain_loop()
        for _ in range(args.runs):  # interleaved so machine noise hits all variants alike
            results["plain"].append(plain_loop() / STEPS)
            results["charter inline"].append(charter_loop(runner, inline_tool) / STEPS)
            results["charter timeout"].append(charter_loop(runner, threaded_tool) / STEPS)
        runner.close()
        report = journal.verify()
        assert report.ok and report.checkpoints_checked > 0, report

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
        "steps_per_run": STEPS,
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
