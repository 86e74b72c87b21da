"""Microseconds per governed, journaled step vs a plain-Python loop, measured in one run,
and where a governed step's time goes.

Every variant runs the same 5-step procedure (five calls of a trivial tool, then an
answer) and reports the whole run's time divided by its five tool steps, so starting and
finishing the run (two more journal commits) is included. The journal is a SQLite file
(WAL) with a signed checkpoint after each run, as ``charter run`` keeps it:

* ``plain``: a bare Python loop calling the tool function (the floor);
* ``charter, realistic`` (the default, compared row): the ``rules`` reasoner, a charter
  with a conditional rule on the called tool (evaluated on every call), argument
  validation, labels, and the tool under its default timeout (30 s): a plain function,
  so it runs on a tool thread the run can stop waiting for;
* ``charter, realistic, async tool``: the same with the tool an ``async def`` function,
  awaited under its timeout on the run's own thread;
* ``charter, tool inline``: the same tool declaring no timeout, called inline.

``--breakdown`` times the parts of the realistic step (and of the async one) by wrapping
the functions that do them: the decision, labels, the journal's encoding and hashing,
its SQL and commit, the checkpoint signature, the operator-controls check, the tool's
hand-off and its own body; the rest is the run loop, validation, records' payloads and
the timers themselves, reckoned from the run thread's CPU time on SQLite (so that time
slices taken by other processes are not counted) and from the wall time on PostgreSQL.
It also counts commits (journal appends) per run and per step;
with ``--postgres-url`` the breakdown runs on PostgreSQL too. ``--profile`` prints
cProfile's top functions of the realistic step.

Usage: ``python benchmarks/step_overhead.py [--runs 400] [--breakdown] [--profile]
[--postgres-url URL]``; prints Markdown tables and writes
``benchmarks/results/step_overhead.json`` (with ``--breakdown``, the breakdown too).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import platform
import pstats
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from charter import Budgets, Charter, Journal, Runner, Tool, tool
from charter.journal import load_or_create_signer
from charter.reasoners import FinalAnswer, RulesReasoner, RulesSpec, RuleStep, ToolCall
from charter.testing import make_agent

STEPS = 5
BODY: defaultdict[str, float] = defaultdict(float)
"""Seconds the tool body itself took, summed (read by ``--breakdown``)."""


def add_one(x: int) -> int:
    """Return x + 1."""
    return x + 1


def add_one_timed(x: int) -> int:
    """Return x + 1 (its own time counted as the tool body's)."""
    started = time.perf_counter()
    try:
        return x + 1
    finally:
        BODY["tool body"] += time.perf_counter() - started


async def add_one_async(x: int) -> int:
    """Return x + 1."""
    started = time.perf_counter()
    try:
        return x + 1
    finally:
        BODY["tool body"] += time.perf_counter() - started


TOOLS: dict[str, Tool] = {
    "charter, realistic": tool(add_one_timed, name="add_one"),  # type: ignore[call-overload]
    "charter, realistic, async tool": tool(add_one_async, name="add_one"),  # type: ignore[call-overload]
    "charter, tool inline": tool(add_one, name="add_one", timeout_s=None),  # type: ignore[call-overload]
}
"""Each charter variant's tool; the first two under the default timeout (30 s)."""

CHARTER = {
    "name": "bench",
    "budgets": {"max_steps": STEPS + 1},
    "rules": [  # evaluated on every call: no call reaches the threshold
        {"id": "large-x", "effect": "deny", "tools": ["add_one"], "when": "context.args.x > 1000"}
    ],
}

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


def agent_for(variant: str) -> Any:
    return make_agent(
        [TOOLS[variant]], RulesReasoner(PROCEDURE), charter=Charter.model_validate(CHARTER)
    )


inline_tool = TOOLS["charter, tool inline"]
"""The tool without a timeout (``durability.py`` measures with it)."""


def charter_loop(runner: Runner, governed_tool: Any) -> float:
    """Seconds for one governed, journaled run of the procedure with ``governed_tool``
    and a charter of budgets only (as ``durability.py`` measures)."""
    charter = Charter(name="bench", budgets=Budgets(max_steps=STEPS + 1))
    return run_once(runner, make_agent([governed_tool], RulesReasoner(PROCEDURE), charter=charter))


def run_once(runner: Runner, agent: Any) -> float:
    """Seconds for one governed, journaled run of the procedure by ``agent``."""
    started = time.perf_counter()
    run = runner.run(agent, "benchmark")
    elapsed = time.perf_counter() - started
    assert run.status == "completed" and run.answer == str(STEPS), run
    return elapsed


@contextlib.contextmanager
def signed_runner(url: str, tmp: Path) -> Generator[Runner]:
    # As `charter run` does: a signed checkpoint after every run.
    signer = load_or_create_signer(tmp / "keys" / "journal.pem")
    journal = Journal(url, signer=signer)
    runner = Runner(journal)
    try:
        yield runner
    finally:
        runner.close()
        report = journal.verify()
        assert report.ok and report.checkpoints_checked > 0, report
        journal.close()


def step_costs(runs: int, tmp: Path) -> dict[str, list[float]]:
    """Seconds per tool step of each variant, ``runs`` runs each, interleaved."""
    results: dict[str, list[float]] = {"plain": [], **{name: [] for name in TOOLS}}
    agents = {name: agent_for(name) for name in TOOLS}
    with signed_runner(f"sqlite:///{tmp / 'journal.db'}", tmp) as runner:
        for _ in range(20):  # warm-up: imports, connection, page cache, tool threads
            plain_loop()
            for agent in agents.values():
                run_once(runner, agent)
        for _ in range(runs):  # interleaved so machine noise hits all variants alike
            results["plain"].append(plain_loop() / STEPS)
            for name, agent in agents.items():
                results[name].append(run_once(runner, agent) / STEPS)
    return results


# --- where a step's time goes ------------------------------------------------------------

PARTS = (
    "decide",
    "labels",
    "journal encode/hash",
    "journal SQL + commit",
    "checkpoint signature",
    "controls check",
    "tool hand-off",
    "tool body",
)


def _timed(
    spent: defaultdict[str, float],
    part: str,
    fn: Callable[..., Any],
    count: Counter[str] | None = None,
) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[part] += time.perf_counter() - started
            if count is not None:
                count[part] += 1

    return timed


@contextlib.contextmanager
def timers(spent: defaultdict[str, float], calls: Counter[str]) -> Generator[None]:
    """Wrap the functions doing each part of a step so their time adds up in ``spent``."""
    from charter.journal import _store
    from charter.runtime import _governor, _ledger
    from charter.runtime._controls import Controls
    from charter.runtime._provenance import RunLabels

    patches: list[tuple[Any, str, Any]] = [
        (_governor, "decide", "decide"),
        (RunLabels, "arg_labels", "labels"),
        (RunLabels, "observe", "labels"),
        (_store, "canonical_json", "journal encode/hash"),
        (_store, "chained_hash", "journal hash"),  # inside _write: the head is read there
        (_store.Journal, "_write", "journal SQL + commit"),
        (Controls, "state", "controls check"),
        (_ledger, "call_within", "tool call"),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for owner, name, part in patches:
            setattr(owner, name, _timed(spent, part, getattr(owner, name), calls))
        yield
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def breakdown(variant: str, url: str, tmp: Path, runs: int) -> dict[str, Any]:
    """Microseconds per tool step spent in each part of ``variant``'s step: the median
    over ``runs`` runs of each part's time in a run (medians, so that a time slice lost
    to another process lands in one run's figure and not in the mean)."""
    agent = agent_for(variant)
    spent: defaultdict[str, float] = defaultdict(float)
    calls = Counter[str]()
    samples: dict[str, list[float]] = {part: [] for part in PARTS}
    totals: list[float] = []
    cpu: list[float] = []
    with signed_runner(url, tmp) as runner:
        signer = runner.journal.signer
        assert signer is not None
        for _ in range(20):
            run_once(runner, agent)
        signer.sign = _timed(spent, "checkpoint signature", signer.sign)  # type: ignore[method-assign]
        with timers(spent, calls):
            for _ in range(runs):
                spent.clear()
                BODY.clear()
                started_cpu = time.thread_time()
                totals.append(run_once(runner, agent))
                cpu.append(time.thread_time() - started_cpu)
                spent["tool body"] = BODY["tool body"]
                spent["tool hand-off"] = spent["tool call"] - spent["tool body"]
                # Both inside _write: the chain is hashed once the head is final (SQLite:
                # under the write lock), and the checkpoint signed in its transaction.
                spent["journal SQL + commit"] -= spent["checkpoint signature"]
                spent["journal SQL + commit"] -= spent["journal hash"]
                spent["journal encode/hash"] += spent["journal hash"]
                for part in PARTS:
                    samples[part].append(spent[part])
    per_step = {part: statistics.median(times) / STEPS * 1e6 for part, times in samples.items()}
    step = statistics.median(totals) / STEPS * 1e6
    step_cpu = statistics.median(cpu) / STEPS * 1e6
    # On SQLite a step waits for nothing (no fsync in WAL with synchronous=NORMAL): its
    # thread's CPU time is the step without the time slices other processes took, so the
    # rest is reckoned from it; on PostgreSQL a commit waits for the server: the wall time.
    whole = step_cpu if url.startswith("sqlite") else step
    per_step["rest (run loop, validation, payloads, timers)"] = whole - sum(per_step.values())
    commits = calls["journal SQL + commit"] / runs
    return {
        "variant": variant,
        "journal": url.split(":", 1)[0],
        "step_us": round(step, 1),
        "step_cpu_us": round(step_cpu, 1),
        "parts_us": {part: round(us, 1) for part, us in per_step.items()},
        "commits_per_run": commits,
        "commits_per_step": round(commits / STEPS, 2),
        "controls_checks_per_step": round(calls["controls check"] / (runs * STEPS), 2),
    }


def profile(tmp: Path, runs: int) -> None:
    """cProfile's top functions of the realistic step, by cumulative then own time."""
    agent = agent_for("charter, realistic")
    with signed_runner(f"sqlite:///{tmp / 'profiled.db'}", tmp) as runner:
        for _ in range(20):
            run_once(runner, agent)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(runs):
            run_once(runner, agent)
        profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)


def _print_breakdown(rows: list[dict[str, Any]]) -> None:
    names = [f"{row['variant']} ({row['journal']})" for row in rows]
    print("\n| part, µs per tool step | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(rows))
    for part in rows[0]["parts_us"]:
        print(f"| {part} | " + " | ".join(f"{row['parts_us'][part]:.1f}" for row in rows) + " |")
    print("| **whole step** | " + " | ".join(f"**{row['step_us']:.1f}**" for row in rows) + " |")
    print("| whole step, CPU time of the run's thread | ", end="")
    print(" | ".join(f"{row['step_cpu_us']:.1f}" for row in rows) + " |")
    print("| commits per run (per step) | ", end="")
    print(" | ".join(f"{r['commits_per_run']:g} ({r['commits_per_step']:g})" for r in rows) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--breakdown", action="store_true", help="time each part of a step")
    parser.add_argument("--profile", action="store_true", help="cProfile the realistic step")
    parser.add_argument("--postgres-url", help="also break the step down on this PostgreSQL")
    args = parser.parse_args()

    load = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        if args.profile:
            profile(Path(tmp), args.runs)
            return
        results = step_costs(args.runs, Path(tmp))
        rows_broken: list[dict[str, Any]] = []
        if args.breakdown:
            for variant in ("charter, realistic", "charter, realistic, async tool"):
                url = f"sqlite:///{Path(tmp) / f'breakdown-{len(rows_broken)}.db'}"
                rows_broken.append(breakdown(variant, url, Path(tmp), args.runs))
            if args.postgres_url:
                from durability import postgres  # an empty schema of its own, dropped after

                with postgres(args.postgres_url) as (url, _source):
                    rows_broken.append(breakdown("charter, realistic", url, Path(tmp), args.runs))

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
    report: dict[str, Any] = {
        "benchmark": "step_overhead",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} cores",
        "load_average_at_start": load,
        "steps_per_run": STEPS,
        "runs": args.runs,
        "rows": rows,
    }
    if rows_broken:
        report["breakdown"] = rows_broken
    out = Path(__file__).parent / "results" / "step_overhead.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"load average at start: {load}")
    print("| variant | median µs/step | p90 µs/step | x plain |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['variant']} | {row['median_us']} | {row['p90_us']} | {row['ratio_to_plain']} |"
        )
    if rows_broken:
        _print_breakdown(rows_broken)


if __name__ == "__main__":
    main()
