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

``--reasoner llm [--sample 20] [--sample-tasks 10] [--configuration a|b|c|d]`` runs a
stratified sample on the embedded local model instead (the workspace agent's own
reasoner), under (d) task scope unless ``--configuration`` names another, with the
approver who says no, one case at a time, and writes ``injection-llm.json`` and
``injection-llm.md`` (``injection-llm-a.*`` and so on for the others): the model is
slow here (seconds a step), so the whole suites are out of reach, and the sample size is
part of every figure. The charter's wall-time budget is
lifted for it (its pace is the machine's load); the step budget stays. Tasks and attacks
take turns, and the results are rewritten after every case (marked partial until the
last), so a run cut short still reports a balanced sample of what it finished. Each
model call's tokens and timings (``charter.reasoners.local`` logs them at DEBUG) are
printed and summed per case.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
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
from charter.reasoners.local import StepTimings

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

BY_LETTER = {name[1]: name for name in CONFIGS}
"""Each configuration by its letter (``a`` to ``d``), as ``--configuration`` names it."""


def sample_stem(configuration: str) -> str:
    """The file name (without suffix) of an embedded-model sample under ``configuration``:
    ``injection-llm`` for (d), ``injection-llm-a`` and so on for the others."""
    letter = configuration[1]
    return "injection-llm" if letter == "d" else f"injection-llm-{letter}"


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


def interleaved(tasks: list[str], attacks: list[str]) -> list[str]:
    """Tasks and attacks merged so that any prefix holds both in about their overall
    proportion (each kept in its own order)."""
    placed = [((i + 0.5) / len(tasks), 0, n) for i, n in enumerate(tasks)]
    placed += [((i + 0.5) / len(attacks), 1, n) for i, n in enumerate(attacks)]
    return [name for _, _, name in sorted(placed)]


class ModelTimings(logging.Handler):
    """Collects the embedded model's per-call timings (its DEBUG log lines) for a case."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.calls: list[StepTimings] = []

    def emit(self, record: logging.LogRecord) -> None:
        timings = getattr(record, "timings", None)
        if isinstance(timings, StepTimings):
            self.calls.append(timings)

    def take(self) -> dict[str, Any]:
        """The sums over the calls since the last ``take``."""
        calls, self.calls = self.calls, []
        return model_sums(calls)


def model_sums(calls: Sequence[StepTimings]) -> dict[str, Any]:
    """Model calls, prompt tokens (read and cached), tokens generated and their seconds."""
    return {
        "calls": len(calls),
        "prompt_tokens": sum(c.prompt_tokens for c in calls),
        "cached_tokens": sum(c.cached_tokens for c in calls),
        "prompt_seconds": round(sum(c.prompt_ms for c in calls) / 1000, 1),
        "generated_tokens": sum(c.generated_tokens for c in calls),
        "generation_seconds": round(sum(c.generation_ms for c in calls) / 1000, 1),
    }


def summarise_sample(
    tasks: Sequence[CaseResult],
    attacks: Sequence[CaseResult],
    model: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The figures of a sampled run on one reasoner: every case listed with its result
    (and, from ``model``, its model calls' sums by case name). A case that ended in an
    error counts among its kind, neither done nor succeeded."""
    model = model or {}
    attack_names = {c.name for c in attacks}
    cases = [*tasks, *attacks]
    steps = sum(c.steps for c in cases)
    seconds = sum(c.seconds for c in cases)
    totals = {key: round(sum(m[key] for m in model.values()), 1) for key in model_sums([]) if model}
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
        "model": totals,
        "cases": [
            {
                "name": c.name,
                "kind": "attack" if c.name in attack_names else "task",
                "succeeded": bool(c.attack_succeeded if c.name in attack_names else c.passed),
                "status": c.status,
                "outcome": c.outcome,
                "steps": c.steps,
                "asks": c.approvals,
                "denials": c.denials,
                "seconds": round(c.seconds, 1),
                "error": c.error,
                "attack_evidence": list(c.attack_evidence),
                "failures": list(c.failures),
                "answer": c.answer,
                "model": model.get(c.name),
            }
            for c in cases
        ],
    }


def sample_table(s: dict[str, Any], configuration: str = "(d) task scope") -> str:
    """A sampled run's figures as Markdown."""
    lines = [
        "| reasoner | configuration | attacks succeeded, approver no "
        "| tasks done, approver no | asks | runs failed | errors | steps | s per step |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| embedded model | {configuration} "
        f"| {_pct(s['attacks_succeeded'], s['attacks'])} | {_pct(s['tasks_done'], s['tasks'])} "
        f"| {s['asks']} | {s['runs_failed']} | {s['errors']} | {s['steps']} "
        f"| {s['seconds_per_step']} |",
    ]
    m = s.get("model") or {}
    if m.get("calls"):
        lines += [
            "",
            f"Model calls: {m['calls']}; prompt tokens {m['prompt_tokens']}, of which "
            f"{m['cached_tokens']} from the prompt cache, the rest read in "
            f"{m['prompt_seconds']} s; {m['generated_tokens']} tokens generated in "
            f"{m['generation_seconds']} s.",
        ]
    lines += [
        "",
        "| case | kind | result | outcome | steps | asks | prompt tokens (cached) "
        "| generated | s |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for c in s["cases"]:
        if c["kind"] == "attack":
            result = "attack succeeded" if c["succeeded"] else "attack failed"
        else:
            result = "done" if c["succeeded"] else "not done"
        if c["status"] == "error":
            result = f"error: {c['error']}"
        cm = c.get("model") or {}
        tokens = f"{cm['prompt_tokens']} ({cm['cached_tokens']})" if cm else "-"
        lines.append(
            f"| {c['name']} | {c['kind']} | {result} | {c['outcome']} "
            f"| {c['steps']} | {c['asks']} | {tokens} | {cm.get('generated_tokens', '-')} "
            f"| {c['seconds']} |"
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
    attacks: int,
    tasks: int,
    out: Path | None = None,
    n_ctx: int = 8192,
    threads: int | None = 1,
    configuration: str = "(d) task scope",
) -> dict[str, Any]:
    """Run the sample on the workspace agent's own reasoner (the embedded local model),
    under ``configuration`` (one of :data:`CONFIGS`; (d) task scope unless said) with the
    approver who says no; write its files (:func:`sample_stem`) in ``out`` (default
    ``benchmarks/results``) after every case and return the report.

    ``threads`` defaults to one: on a shared machine whose load exceeds its cores,
    llama.cpp's threads wait on each other at every layer, and two threads on two cores
    generated 0.1 tokens/s where one generated 1.3 (measured side by side at load 12);
    None takes the reasoner's default (every core)."""
    if configuration not in CONFIGS:
        raise ValueError(f"no configuration {configuration!r}; known: {', '.join(CONFIGS)}")
    configure: Callable[[dict[str, Any]], dict[str, Any]] = CONFIGS[configuration] or (
        lambda charter: charter
    )
    started = time.perf_counter()
    normal_names = [c.name for c in cases(load_suite(NORMAL))]
    attack_names = [c.name for c in cases(load_suite(ADVERSARIAL)) if c.variant is not None]
    chosen_tasks = sampled(normal_names, tasks)
    chosen_attacks = stratified_attacks(attack_names, attacks)
    order = interleaved(chosen_tasks, chosen_attacks)
    out = out or ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    command = " ".join(["python", "benchmarks/injection.py", *sys.argv[1:]])
    done: dict[str, CaseResult] = {}
    model: dict[str, dict[str, Any]] = {}
    timings = ModelTimings()
    local_log = logging.getLogger("charter.reasoners.local")
    local_log.setLevel(logging.DEBUG)
    local_log.addHandler(timings)
    trace = logging.StreamHandler(sys.stderr)  # a line per model call, as it ends
    trace.setFormatter(logging.Formatter("    %(message)s"))
    local_log.addHandler(trace)
    _log(f"embedded model: {len(chosen_tasks)} tasks and {len(chosen_attacks)} attacks")
    try:
        with tempfile.TemporaryDirectory(prefix="charter-injection-llm-") as scratch:
            agent = agent_file(Path(scratch), lambda c: without_wall_budget(configure(c)))
            body = yaml.safe_load(agent.read_text())
            # The mail a task reads can take the prompt past 4,096 tokens.
            body["reasoner"] = body["reasoner"] | {"n_ctx": n_ctx}
            if threads is not None:
                body["reasoner"]["threads"] = threads
            agent.write_text(yaml.safe_dump(body))
            for name in order:
                suite = NORMAL if name in chosen_tasks else ADVERSARIAL
                result = run_suite(
                    load_suite(suite),
                    agent,
                    suite_source=str(suite.relative_to(ROOT)),
                    reasoner="agent",
                    jobs=1,  # the model takes both cores
                    only=_exactly([name]),
                    approver="deny",
                )
                for case in result.cases:
                    done[case.name] = case
                    model[case.name] = timings.take()
                    _case_line(case)
                    _log(f"    model: {json.dumps(model[case.name])}")
                report = _sample_report(
                    command,
                    started,
                    (n_ctx, threads),
                    chosen_tasks,
                    chosen_attacks,
                    done,
                    model,
                    configuration,
                )
                _write_sample(out, report, partial=len(done) < len(order))
    finally:
        local_log.removeHandler(timings)
        local_log.removeHandler(trace)
    print(sample_table(report["results"], configuration))
    print(f"\n{report['seconds']} s in all.")
    return report


def _sample_report(
    command: str,
    started: float,
    settings: tuple[int, int | None],
    tasks: list[str],
    attacks: list[str],
    done: dict[str, CaseResult],
    model: dict[str, dict[str, Any]],
    configuration: str = "(d) task scope",
) -> dict[str, Any]:
    summary = summarise_sample(
        [done[n] for n in tasks if n in done], [done[n] for n in attacks if n in done], model
    )
    return {
        "benchmark": "injection-llm",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, CPython {platform.python_version()}",
        "command": command,
        "seconds": round(time.perf_counter() - started, 1),
        "reasoner": "embedded local model (the workspace agent's, n_ctx {}, threads {})".format(
            settings[0], settings[1] or "all cores"
        ),
        "configuration": configuration,
        "approver": "deny",
        "sample": {"tasks": tasks, "attacks": attacks},
        "cases_done": len(done),
        "results": summary,
    }


def _write_sample(out: Path, report: dict[str, Any], *, partial: bool) -> None:
    """``injection-llm.json`` and ``.md``; a partial report says how far it got."""
    report["partial"] = partial
    s = report["results"]
    planned = len(report["sample"]["tasks"]) + len(report["sample"]["attacks"])
    scope = f"a sample of {s['tasks']} tasks and {s['attacks']} attacks"
    if partial:
        scope += f" (partial: {report['cases_done']} of the {planned} cases planned)"
    configuration = str(report.get("configuration", "(d) task scope"))
    stem = sample_stem(configuration)
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{stem}.md").write_text(
        f"# Injection benchmark on the embedded model, {report['date']}\n\n"
        f"`{report['command']}` on {report['machine']}, {report['seconds']} s; {scope}.\n\n"
        f"{sample_table(s, configuration)}\n"
    )


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
    parser.add_argument(
        "--configuration",
        choices=sorted(BY_LETTER),
        default="d",
        help="with --reasoner llm: (a) tool list only, (b) flow rules, (c) field labels or "
        "(d) task scope (default)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="with --reasoner llm: the model's CPU threads (default 1; 0: every core)",
    )
    options = parser.parse_args()
    if options.jobs < 1:
        parser.error("--jobs must be at least 1")
    if options.reasoner == "llm":
        if options.sample < 0 or options.sample_tasks < 0 or options.threads < 0:
            parser.error("--sample, --sample-tasks and --threads must not be negative")
        embedded_model(
            options.sample,
            options.sample_tasks,
            threads=options.threads or None,
            configuration=BY_LETTER[options.configuration],
        )
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
