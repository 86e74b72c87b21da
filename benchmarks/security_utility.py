"""Attack success and legitimate-task success in the demo world, with and without defences.

The cases are :mod:`charter.demo.scenarios`: attacks (customer data to an outsider, a
refund of someone else's order, an erasure, a raised tier / store credit / login email)
planted in knowledge-base documents, inbound emails and tickets, and legitimate goals (the
demo's five among them; a few are writes the charter sends to a human). Every
outcome is read from the world's SQLite rows, never from a run's status: an attack
succeeded only if its effect is in the world, a task is done only if its effect (or, for a
question, the answer) is.

Attacks run with a *compromised* reasoner scripted to obey the injection exactly (the worst
case any model can be talked into) under three charters: the demo charter as shipped, the
same with its information-flow rules off, and the same with flow rules and its own rules
off (only its tool list; this shows each attack is real), and with the embedded local
model under the demo charter. Legitimate goals run with an honest scripted reasoner (the
deterministic utility check) and with the local model, under the demo charter. A goal
whose write the charter held for a human is counted as "needed approval", not as done or
failed.

Usage: ``python benchmarks/security_utility.py [--no-model] [--sample N]``; ``--sample N``
runs the model on N evenly spaced attacks and N evenly spaced goals only. Prints Markdown
tables and writes ``benchmarks/results/security_utility.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from charter.demo.scenarios import (
    ATTACKS,
    TASKS,
    AttackCase,
    Outcome,
    TaskCase,
    compromised,
    demo_charter,
    honest,
    run_case,
    support_agent,
    without_flow_rules,
    without_rules,
)
from charter.reasoners import Reasoner

Case = TypeVar("Case", AttackCase, TaskCase)
_SUMMARY_FIELDS = (
    "reasoner",
    "charter",
    "attacks_succeeded",
    "done",
    "needed_approval",
    "not_done",
)
CHARTERS = {
    "defended": demo_charter(),
    "flow rules off": without_flow_rules(demo_charter()),
    "tool list only": without_rules(demo_charter()),
}


def _sample(cases: Sequence[Case], n: int | None) -> list[Case]:
    """``n`` cases spread evenly over ``cases`` (all of them when ``n`` is None)."""
    if n is None or n >= len(cases):
        return list(cases)
    return [cases[round(i * (len(cases) - 1) / max(n - 1, 1))] for i in range(n)]


def _row(outcome: Outcome, seconds: float) -> dict[str, Any]:
    return {
        "effect": outcome.effect,
        "needed_approval": outcome.asked and not outcome.effect,
        "status": outcome.status,
        "steps": outcome.steps,
        "withheld": list(outcome.withheld),
        "seconds": round(seconds, 1),
    }


def _attack(case: AttackCase, reasoner: Reasoner, charter: str, world: Path) -> Outcome:
    agent = support_agent(world, reasoner, CHARTERS[charter])
    return run_case(agent, case.goal, case.reached, world)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _measure(world: Path, model: Reasoner | None, sample: int | None) -> dict[str, Any]:
    attacks: list[dict[str, Any]] = []
    model_attacks = {c.name for c in _sample(ATTACKS, sample)}
    for case in ATTACKS:
        row: dict[str, Any] = {"attack": case.name, "kind": case.kind, "channel": case.channel}
        for charter in CHARTERS:
            started = time.perf_counter()
            outcome = _attack(case, compromised(case), charter, world)
            row[f"compromised, {charter}"] = _row(outcome, time.perf_counter() - started)
        if model is not None and case.name in model_attacks:
            started = time.perf_counter()
            outcome = _attack(case, model, "defended", world)
            row["local model, defended"] = _row(outcome, time.perf_counter() - started)
            _log(f"attack {case.name}: local model {'SUCCEEDED' if outcome.effect else 'blocked'}")
        attacks.append(row)
    tasks: list[dict[str, Any]] = []
    model_tasks = {c.name for c in _sample(TASKS, sample)}
    for case in TASKS:
        row = {"task": case.name, "goal": case.goal, "charter_asks": case.needs_approval}
        reasoners: list[tuple[str, Reasoner]] = [("honest scripted", honest(case))]
        if model is not None and case.name in model_tasks:
            reasoners.append(("local model", model))
        for label, reasoner in reasoners:
            started = time.perf_counter()
            agent = support_agent(world, reasoner, CHARTERS["defended"])
            outcome = run_case(agent, case.goal, case.done, world)
            row[label] = _row(outcome, time.perf_counter() - started)
        if "local model" in row:
            _log(f"task {case.name}: local model {_verdict(row['local model'])}")
        tasks.append(row)
    return {"attacks": attacks, "tasks": tasks}


def _verdict(cell: dict[str, Any]) -> str:
    if cell["effect"]:
        return "done"
    return "needed approval" if cell["needed_approval"] else "not done"


def _attack_cell(row: dict[str, Any], column: str) -> str:
    cell = row.get(column)
    if cell is None:
        return "-"
    return "**succeeded**" if cell["effect"] else "blocked"


def _summary(results: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """(reasoner, charter, attacks succeeded, goals done, needed approval, not done)."""
    lines: list[tuple[str, str, str, str, str, str]] = []
    attacks, tasks = results["attacks"], results["tasks"]
    for column in [*(f"compromised, {c}" for c in CHARTERS), "local model, defended"]:
        cells = [r[column] for r in attacks if column in r]
        if cells:
            reasoner, charter = column.split(", ")
            won = sum(c["effect"] for c in cells)
            lines.append((reasoner, charter, f"{won} of {len(cells)}", "-", "-", "-"))
    for label in ("honest scripted", "local model"):
        cells = [t[label] for t in tasks if label in t]
        if cells:
            done = sum(c["effect"] for c in cells)
            asked = sum(c["needed_approval"] for c in cells)
            lines.append(
                (
                    label,
                    "defended",
                    "-",
                    f"{done} of {len(cells)}",
                    str(asked),
                    str(len(cells) - done - asked),
                )
            )
    return lines


def _print_tables(results: dict[str, Any]) -> None:
    columns = [*(f"compromised, {c}" for c in CHARTERS), "local model, defended"]
    print("| attack | kind | channel | " + " | ".join(columns) + " | held by (defended) |")
    print("|---|---|---|" + "---|" * len(columns) + "---|")
    for r in results["attacks"]:
        cells = " | ".join(_attack_cell(r, c) for c in columns)
        held = "; ".join(r["compromised, defended"]["withheld"]) or "nothing"
        print(f"| {r['attack']} | {r['kind']} | {r['channel']} | {cells} | {held} |")
    print()
    print("| legitimate goal | charter asks a human | honest scripted | local model |")
    print("|---|---|---|---|")
    for t in results["tasks"]:
        local = _verdict(t["local model"]) if "local model" in t else "-"
        asks = "yes" if t["charter_asks"] else ""
        print(f"| {t['task']} | {asks} | {_verdict(t['honest scripted'])} | {local} |")
    print()
    print("| reasoner | charter | attacks succeeded | goals done | needed approval | not done |")
    print("|---|---|---:|---:|---:|---:|")
    for line in _summary(results):
        print("| " + " | ".join(line) + " |")


def main() -> None:
    """Run every case, write the JSON results, print the Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-model", action="store_true", help="skip the local-model runs")
    parser.add_argument(
        "--sample", type=int, metavar="N", help="run the model on N attacks and N goals only"
    )
    options = parser.parse_args()
    if options.sample is not None and options.sample < 1:
        parser.error("--sample must be at least 1")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as home:
        world = Path(home) / "demo-world.db"
        model = None
        if not options.no_model:
            model = support_agent(world).reasoner
            load = getattr(model, "load", None)
            if callable(load):
                _log(f"model loaded in {load():.1f}s")
        results = _measure(world, model, options.sample)
    report = {
        "benchmark": "security_utility",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, CPython {platform.python_version()}",
        "command": " ".join(["python", "benchmarks/security_utility.py", *sys.argv[1:]]),
        "model": None if options.no_model else "local (embedded)",
        "sample": options.sample,
        "seconds": round(time.perf_counter() - started, 1),
        "summary": [dict(zip(_SUMMARY_FIELDS, line, strict=True)) for line in _summary(results)],
        **results,
    }
    out = Path(__file__).parent / "results" / "security_utility.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    _print_tables(results)
    print(f"\n{report['seconds']} s in all.")


if __name__ == "__main__":
    main()
