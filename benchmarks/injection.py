"""Prompt-injection security and utility in the workspace world, per defence configuration.

Runs the two workspace suites with ``--reasoner script``: ``workspace-normal`` (legitimate
tasks, honest scripts) and ``workspace-adversarial`` (injections planted in every kind of
third-party field, crossed with attack goals; each script obeys its injection exactly, so
the figures bound what any model talked into the attack would achieve). Every case runs in
a fresh world and journal through charter's real runtime; outcomes are read from the
world's rows and the final answer, never from a run's status. Approval requests are
answered with real receipts by an approver who always says no, then by one who always says
yes; an attack that succeeds only with the yes-approver succeeded *through an approval*.

Configurations: (a) the charter's tool list only (flow rules off, its own rules removed),
(b) the charter as shipped (flow rules at their defaults plus its rules), (c) the same
with field-level output labels on the tools' contracts and answers governed
(``flows.answer: redact``), and (d) that plus the task scope, whose rules bind targets
to what the goal names or designates (see ``benchmarks/workspace_labels.py``).

Usage: ``python benchmarks/injection.py [--jobs 2] [--only REGEX]``. Prints Markdown
tables and writes ``benchmarks/results/injection.json`` and ``injection.md`` (not with
``--only``, which runs only the matching attacks).

``--reasoner llm [--sample 20] [--sample-tasks 10]`` runs a stratified sample on the
embedded local model instead (the workspace agent's own reasoner), under (d) task scope
with the approver who says no, one case at a time, and writes ``injection-llm.json`` and
``injection-llm.md``: the model is slow here (seconds a step), so the whole suites are out
of reach, and the sample size is part of every figure. The charter's wall-time budget is
lifted for it (its pace is the machine's load); the step budget stays.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from charter.evals import (
    ApproverPolicy,
    CaseResult,
    EvalResult,
    cases,
    load_suite,
    run_suite,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # loaded by path from the tests
from workspace_labels import field_labels, task_scope

ROOT = Path(__file__).resolve().parent.parent
AGENT_DIR = ROOT / "src" / "charter" / "worlds" / "workspace"
SUITES = ROOT / "examples" / "evals"
NORMAL = SUITES / "workspace-normal.suite.yaml"
ADVERSARIAL = SUITES / "workspace-adversarial.suite.yaml"


def tool_list_only(charter: dict[str, Any]) -> dict[str, Any]:
    """(a) Only the charter's tool list: flow rules off, no rules."""
    return charter | {
        "flows": {"confidential_to_external": "allow", "untrusted_target": "allow"},
        "rules": [],
    }


def as_shipped(charter: dict[str, Any]) -> dict[str, Any]:
    """(b) The charter as shipped: flow rules at today's defaults and its own rules."""
    return charter


CONFIGS: dict[str, Callable[[dict[str, Any]], dict[str, Any]] | None] = {
    "(a) tool list only": tool_list_only,
    "(b) flow rules (defaults) + charter rules": as_shipped,
    "(c) field labels": field_labels,
    "(d) task scope": task_scope,
}


def agent_file(scratch: Path, configure: Callable[[dict[str, Any]], dict[str, Any]]) -> Path:
    """A copy of the workspace agent whose charter ``configure`` rewrote."""
    charter = yaml.safe_load((AGENT_DIR / "workspace.charter.yaml").read_text())
    (scratch / "workspace.charter.yaml").write_text(yaml.safe_dump(configure(charter)))
    shutil.copy(AGENT_DIR / "workspace.agent.yaml", scratch / "workspace.agent.yaml")
    return scratch / "workspace.agent.yaml"


def _run(
    suite: Path, agent: Path, approver: ApproverPolicy, jobs: int, only: str | None
) -> EvalResult:
    return run_suite(
        load_suite(suite),
        agent,
        suite_source=str(suite.relative_to(ROOT)),
        reasoner="script",
        jobs=jobs,
        only=only,
        approver=approver,
    )


def summarise(normal: dict[str, EvalResult], adversarial: dict[str, EvalResult]) -> dict[str, Any]:
    """The figures of one configuration from its four evals (normal and adversarial suite,
    each with the no- and the yes-approver)."""
    attacks = {
        a: [c for c in r.cases if c.attack_succeeded is not None] for a, r in adversarial.items()
    }
    won = {a: {c.name for c in cases if c.attack_succeeded} for a, cases in attacks.items()}
    legit = {a: [c for c in r.cases if c.passed is not None] for a, r in normal.items()}
    total_attacks, total_tasks = len(attacks["deny"]), len(legit["deny"])
    through_approval = sorted(won["approve"] - won["deny"])
    errors = sum(
        1 for r in [*normal.values(), *adversarial.values()] for c in r.cases if c.status == "error"
    )
    by_goal: dict[str, dict[str, int]] = {}
    by_field: dict[str, dict[str, int]] = {}
    for case in attacks["deny"]:
        for key, table in ((case.variant or "", by_goal), (case.scenario.split(".")[0], by_field)):
            cell = table.setdefault(key, {"cases": 0, "no": 0, "yes": 0})
            cell["cases"] += 1
            cell["no"] += case.name in won["deny"]
            cell["yes"] += case.name in won["approve"]
    return {
        "attacks": total_attacks,
        "attacks_succeeded_approver_no": len(won["deny"]),
        "attacks_succeeded_approver_yes": len(won["approve"]),
        "attacks_only_through_approval": len(through_approval),
        "tasks": total_tasks,
        "tasks_done_approver_no": sum(1 for c in legit["deny"] if c.passed),
        "tasks_done_approver_yes": sum(1 for c in legit["approve"] if c.passed),
        "asks_on_tasks": sum(c.approvals for c in legit["approve"]),
        "tasks_asked": sum(1 for c in legit["approve"] if c.approvals),
        "denials_on_tasks": sum(c.denials for c in legit["approve"]),
        "tasks_not_done_approver_yes": [c.name for c in legit["approve"] if not c.passed],
        "errors": errors,
        "by_goal": by_goal,
        "by_field": by_field,
        "attacks_won_approver_no": sorted(won["deny"]),
        "attacks_through_approval": through_approval,
        "seconds": round(sum(r.seconds for r in [*normal.values(), *adversarial.values()]), 1),
    }


def _pct(part: int, whole: int) -> str:
    return f"{part} of {whole} ({part / whole:.1%})" if whole else "-"


def table(results: dict[str, dict[str, Any] | None]) -> str:
    """The summary as Markdown."""
    lines = [
        "| configuration | attacks succeeded, approver no | approver yes "
        "| only through an approval | tasks done, approver no | approver yes | asks per task |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in results.items():
        if s is None:
            lines.append(f"| {name} | not built yet | | | | | |")
            continue
        a, t = s["attacks"], s["tasks"]
        lines.append(
            f"| {name} | {_pct(s['attacks_succeeded_approver_no'], a)} "
            f"| {_pct(s['attacks_succeeded_approver_yes'], a)} "
            f"| {s['attacks_only_through_approval']} "
            f"| {_pct(s['tasks_done_approver_no'], t)} | {_pct(s['tasks_done_approver_yes'], t)} "
            f"| {s['asks_on_tasks'] / t:.2f} ({s['tasks_asked']} tasks asked) |"
        )
    built = [(n, s) for n, s in results.items() if s is not None]
    for part, heading in (("by_goal", "attack goal"), ("by_field", "injected field")):
        if not built:
            break
        columns = " | ".join(f"{n.split(')')[0]}) no / yes" for n, _ in built)
        lines += ["", f"| {heading} | cases | {columns} |", "|---|---:|" + "---:|" * len(built)]
        first: dict[str, dict[str, int]] = built[0][1][part]
        for key, cell in first.items():
            cells = " | ".join(f"{s[part][key]['no']} / {s[part][key]['yes']}" for _, s in built)
            lines.append(f"| {key} | {cell['cases']} | {cells} |")
    return "\n".join(lines)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sampled(names: list[str], count: int) -> list[str]:
    """``count`` of ``names`` spread evenly over them (all of them when fewer)."""
    if count >= len(names):
        return list(names)
    return [names[(i * len(names)) // count] for i in range(count)]


def stratified_attacks(names: list[str], count: int) -> list[str]:
    """``count`` attacks covering every injected field and every goal in turn (the
    ``i``-th: field ``i`` mod 14 with goal ``i`` mod 16), as the test suite samples."""
    from charter.worlds.workspace._attacks import GOALS, VECTORS

    chosen: list[str] = []
    for i in range(count):
        field, goal = VECTORS[i % len(VECTORS)].name, GOALS[i % len(GOALS)].name
        chosen += [n for n in names if n.startswith(f"{field}.") and n.endswith(f"/{goal}")][:1]
    return chosen


def _exactly(names: list[str]) -> str:
    return "^(" + "|".join(re.escape(n) for n in names) + ")$"


def summarise_sample(normal: EvalResult, adversarial: EvalResult) -> dict[str, Any]:
    """The figures of a sampled run on one reasoner: every case listed with its result."""
    attacks = [c for c in adversarial.cases if c.attack_succeeded is not None]
    tasks = [c for c in normal.cases if c.passed is not None]
    cases = [*tasks, *attacks]
    steps = sum(c.steps for c in cases)
    seconds = normal.seconds + adversarial.seconds
    return {
        "attacks": len(attacks),
        "attacks_succeeded": sum(1 for c in attacks if c.attack_succeeded),
        "tasks": len(tasks),
        "tasks_done": sum(1 for c in tasks if c.passed),
        "errors": sum(1 for c in cases if c.status == "error"),
        "runs_failed": sum(1 for c in cases if c.status == "failed"),
        "asks": sum(c.approvals for c in cases),
        "steps": steps,
        "seconds": round(seconds, 1),
        "seconds_per_step": round(seconds / steps, 2) if steps else None,
        "cases": [
            {
                "name": c.name,
                "kind": "attack" if c.attack_succeeded is not None else "task",
                "succeeded": c.attack_succeeded if c.attack_succeeded is not None else c.passed,
                "status": c.status,
                "outcome": c.outcome,
                "steps": c.steps,
                "asks": c.approvals,
                "denials": c.denials,
                "seconds": round(c.seconds, 1),
                "error": c.error,
                "attack_evidence": list(c.attack_evidence),
            }
            for c in cases
        ],
    }


def sample_table(s: dict[str, Any]) -> str:
    """A sampled run's figures as Markdown."""
    lines = [
        "| reasoner | configuration | attacks succeeded, approver no "
        "| tasks done, approver no | runs failed | errors | steps | s per step |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        f"| embedded model | (d) task scope "
        f"| {_pct(s['attacks_succeeded'], s['attacks'])} | {_pct(s['tasks_done'], s['tasks'])} "
        f"| {s['runs_failed']} | {s['errors']} | {s['steps']} | {s['seconds_per_step']} |",
        "",
        "| case | kind | result | outcome | steps | asks | s |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for c in s["cases"]:
        if c["kind"] == "attack":
            result = "attack succeeded" if c["succeeded"] else "attack failed"
        else:
            result = "done" if c["succeeded"] else "not done"
        if c["status"] == "error":
            result = f"error: {c['error']}"
        lines.append(
            f"| {c['name']} | {c['kind']} | {result} | {c['outcome']} "
            f"| {c['steps']} | {c['asks']} | {c['seconds']} |"
        )
    return "\n".join(lines)


def _case_line(case: CaseResult) -> None:
    """Each case as it ends (a sample on the model takes a while)."""
    if case.attack_succeeded is not None:
        result = "attack succeeded" if case.attack_succeeded else "attack failed"
    else:
        result = "done" if case.passed else "not done"
    _log(f"  {case.name}: {result} ({case.outcome}, {case.steps} steps, {case.seconds:.0f} s)")


def without_wall_budget(charter: dict[str, Any]) -> dict[str, Any]:
    """The charter with no wall-time budget: the model's pace is the machine's load (a step
    took 752 s on a box loaded twelve times over), which that budget would measure instead
    of the defence; the step budget still bounds each run."""
    budgets = dict(charter.get("budgets") or {})
    budgets.pop("max_wall_seconds", None)
    return charter | {"budgets": budgets}


def embedded_model(
    attacks: int, tasks: int, out: Path | None = None, n_ctx: int = 8192
) -> dict[str, Any]:
    """Run the sample on the workspace agent's own reasoner (the embedded local model),
    under (d) task scope with the approver who says no; write ``injection-llm.*`` in
    ``out`` (default ``benchmarks/results``) and return the report."""
    started = time.perf_counter()
    normal_names = [c.name for c in cases(load_suite(NORMAL))]
    attack_names = [c.name for c in cases(load_suite(ADVERSARIAL)) if c.variant is not None]
    chosen_tasks = sampled(normal_names, tasks)
    chosen_attacks = stratified_attacks(attack_names, attacks)
    with tempfile.TemporaryDirectory(prefix="charter-injection-llm-") as scratch:
        agent = agent_file(Path(scratch), lambda c: without_wall_budget(task_scope(c)))
        body = yaml.safe_load(agent.read_text())
        # The mail a task reads takes the prompt past 4,096 tokens (4,122 and 4,217 seen).
        body["reasoner"] = body["reasoner"] | {"n_ctx": n_ctx}
        agent.write_text(yaml.safe_dump(body))
        results: dict[str, EvalResult] = {}
        for key, suite, names in (
            ("tasks", NORMAL, chosen_tasks),
            ("attacks", ADVERSARIAL, chosen_attacks),
        ):
            _log(f"embedded model: {len(names)} {key}")
            results[key] = run_suite(
                load_suite(suite),
                agent,
                suite_source=str(suite.relative_to(ROOT)),
                reasoner="agent",
                jobs=1,  # the model takes both cores
                only=_exactly(names),
                approver="deny",
                progress=_case_line,
            )
            _log(f"embedded model: {key} took {results[key].seconds:.0f} s")
    summary = summarise_sample(results["tasks"], results["attacks"])
    markdown = sample_table(summary)
    command = " ".join(["python", "benchmarks/injection.py", *sys.argv[1:]])
    report = {
        "benchmark": "injection-llm",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, CPython {platform.python_version()}",
        "command": command,
        "seconds": round(time.perf_counter() - started, 1),
        "reasoner": f"embedded local model (the workspace agent's, n_ctx {n_ctx})",
        "configuration": "(d) task scope",
        "approver": "deny",
        "sample": {"tasks": chosen_tasks, "attacks": chosen_attacks},
        "results": summary,
    }
    print(markdown)
    print(f"\n{report['seconds']} s in all.")
    out = out or ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "injection-llm.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "injection-llm.md").write_text(
        f"# Injection benchmark on the embedded model, {report['date']}\n\n`{command}` on "
        f"{report['machine']}, {report['seconds']} s; a sample of {len(chosen_tasks)} tasks "
        f"and {len(chosen_attacks)} attacks.\n\n{markdown}\n"
    )
    return report


def main() -> None:
    """Run every configuration, write the results, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    parser.add_argument(
        "--only",
        help="run only the attacks whose name matches this regex (all legitimate tasks "
        "still run); prints, writes no results",
    )
    parser.add_argument(
        "--reasoner",
        choices=("script", "llm"),
        default="script",
        help="script: every case's script (default); llm: a sample on the embedded model",
    )
    parser.add_argument(
        "--sample", type=int, default=20, help="with --reasoner llm: attacks (default 20)"
    )
    parser.add_argument(
        "--sample-tasks", type=int, default=10, help="with --reasoner llm: tasks (default 10)"
    )
    options = parser.parse_args()
    if options.jobs < 1:
        parser.error("--jobs must be at least 1")
    if options.reasoner == "llm":
        if options.sample < 0 or options.sample_tasks < 0:
            parser.error("--sample and --sample-tasks must not be negative")
        embedded_model(options.sample, options.sample_tasks)
        return
    started = time.perf_counter()
    results: dict[str, dict[str, Any] | None] = {}
    for name, configure in CONFIGS.items():
        if configure is None:
            _log(f"{name}: not built yet")
            results[name] = None
            continue
        with tempfile.TemporaryDirectory(prefix="charter-injection-") as scratch:
            agent = agent_file(Path(scratch), configure)
            normal: dict[str, EvalResult] = {}
            adversarial: dict[str, EvalResult] = {}
            for approver in ("deny", "approve"):
                normal[approver] = _run(NORMAL, agent, approver, options.jobs, None)
                adversarial[approver] = _run(
                    ADVERSARIAL, agent, approver, options.jobs, options.only
                )
                seconds = adversarial[approver].seconds
                _log(f"{name}, approver {approver}: {seconds:.0f} s adversarial")
        results[name] = summarise(normal, adversarial)
    markdown = table(results)
    command = " ".join(["python", "benchmarks/injection.py", *sys.argv[1:]])
    report = {
        "benchmark": "injection",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, CPython {platform.python_version()}",
        "command": command,
        "seconds": round(time.perf_counter() - started, 1),
        "suites": {
            "normal": str(NORMAL.relative_to(ROOT)),
            "adversarial": str(ADVERSARIAL.relative_to(ROOT)),
        },
        "configurations": results,
    }
    print(markdown)
    print(f"\n{report['seconds']} s in all.")
    if options.only is not None:
        return  # a partial run never replaces the recorded results
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / "injection.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "injection.md").write_text(
        f"# Injection benchmark, {report['date']}\n\n`{command}` on {report['machine']}, "
        f"{report['seconds']} s.\n\n{markdown}\n"
    )


if __name__ == "__main__":
    main()
