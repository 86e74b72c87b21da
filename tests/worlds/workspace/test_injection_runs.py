"""The injection benchmark's figures come from real runs: the honest scripts do their
tasks, the compromised scripts' attacks are real (they succeed with only the tool list),
and the whole adversarial suite runs through today's charter without an error.

The figures under today's flow rules and under the task scope with goal-designated
sources are printed (``-s``) and recorded by ``benchmarks/injection.py``, never asserted
as a bar: mechanisms are meant to move them.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from charter.evals import ApproverPolicy, EvalResult, load_suite, run_suite
from charter.worlds.workspace._attacks import GOALS, VECTORS

ROOT = Path(__file__).resolve().parents[3]


def _benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("injection", ROOT / "benchmarks" / "injection.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["injection"] = module
    spec.loader.exec_module(module)
    return module


bench = _benchmark()
# A stratified sample: every goal and every vector, no pair twice (lcm(18, 16) > 40).
SAMPLE = [
    re.escape(VECTORS[i % len(VECTORS)].name) + r"\.[^/]+/" + re.escape(GOALS[i % len(GOALS)].name)
    for i in range(40)
]
ONLY_SAMPLE = "^(" + "|".join(SAMPLE) + ")$"


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    made: dict[str, Path] = {}
    for key, configure in (
        ("a", bench.tool_list_only),
        ("b", bench.as_shipped),
        ("d", bench.task_scope),
    ):
        made[key] = bench.agent_file(tmp_path_factory.mktemp(key), configure)
    return made


def _run(suite: Path, agent: Path, approver: ApproverPolicy, only: str | None = None) -> EvalResult:
    return run_suite(
        load_suite(suite),
        agent,
        suite_source=suite.name,
        reasoner="script",
        jobs=2,
        only=only,
        approver=approver,
    )


@pytest.fixture(scope="module")
def runs(agents: dict[str, Path]) -> dict[str, EvalResult]:
    return {
        "a-normal": _run(bench.NORMAL, agents["a"], "deny"),
        "a-sample": _run(bench.ADVERSARIAL, agents["a"], "deny", ONLY_SAMPLE),
        "b-normal-deny": _run(bench.NORMAL, agents["b"], "deny"),
        "b-normal-approve": _run(bench.NORMAL, agents["b"], "approve"),
        "b-sample-deny": _run(bench.ADVERSARIAL, agents["b"], "deny", ONLY_SAMPLE),
        "b-sample-approve": _run(bench.ADVERSARIAL, agents["b"], "approve", ONLY_SAMPLE),
        "d-normal-deny": _run(bench.NORMAL, agents["d"], "deny"),
        "d-normal-approve": _run(bench.NORMAL, agents["d"], "approve"),
        "d-sample-deny": _run(bench.ADVERSARIAL, agents["d"], "deny", ONLY_SAMPLE),
        "d-sample-approve": _run(bench.ADVERSARIAL, agents["d"], "approve", ONLY_SAMPLE),
    }


def test_the_sample_is_stratified(runs: dict[str, EvalResult]) -> None:
    sample = runs["a-sample"].cases
    assert len(sample) == 40 and all(c.attack_succeeded is not None for c in sample)
    assert {c.variant for c in sample} == {g.name for g in GOALS}
    assert {c.scenario.split(".")[0] for c in sample} == {v.name for v in VECTORS}


def test_with_only_the_tool_list_honest_scripts_do_every_task(runs: dict[str, EvalResult]) -> None:
    normal = runs["a-normal"]
    assert [(c.name, c.failures) for c in normal.cases if not c.passed] == []
    assert len(normal.cases) >= 40 and all(c.approvals == 0 for c in normal.cases)


def test_with_only_the_tool_list_the_attacks_are_real(runs: dict[str, EvalResult]) -> None:
    summary = bench.summarise(
        {"deny": runs["a-normal"], "approve": runs["a-normal"]},
        {"deny": runs["a-sample"], "approve": runs["a-sample"]},
    )
    assert summary["errors"] == 0
    assert summary["attacks_succeeded_approver_no"] / summary["attacks"] >= 0.9


@pytest.mark.parametrize(
    ("config", "called"), [("b", "today's flow rules"), ("d", "the task scope")]
)
def test_the_benchmark_figures_are_counted_from_the_cases(
    runs: dict[str, EvalResult], config: str, called: str
) -> None:
    summary: dict[str, Any] = bench.summarise(
        {"deny": runs[f"{config}-normal-deny"], "approve": runs[f"{config}-normal-approve"]},
        {"deny": runs[f"{config}-sample-deny"], "approve": runs[f"{config}-sample-approve"]},
    )
    won_no = {c.name for c in runs[f"{config}-sample-deny"].cases if c.attack_succeeded}
    won_yes = {c.name for c in runs[f"{config}-sample-approve"].cases if c.attack_succeeded}
    done_no = sum(1 for c in runs[f"{config}-normal-deny"].cases if c.passed)
    done_yes = sum(1 for c in runs[f"{config}-normal-approve"].cases if c.passed)
    asks = sum(c.approvals for c in runs[f"{config}-normal-approve"].cases)

    assert summary["errors"] == 0 and summary["attacks"] == 40
    assert summary["attacks_succeeded_approver_no"] == len(won_no)
    assert summary["attacks_succeeded_approver_yes"] == len(won_yes)
    assert summary["attacks_through_approval"] == sorted(won_yes - won_no)
    assert (summary["tasks_done_approver_no"], summary["tasks_done_approver_yes"]) == (
        done_no,
        done_yes,
    )
    assert summary["asks_on_tasks"] == asks
    # Sanity, not a bar: the charter stops some attacks and lets some tasks through.
    a_won = sum(1 for c in runs["a-sample"].cases if c.attack_succeeded)
    assert len(won_no) < a_won and done_yes >= done_no > 0
    print(
        f"\nsample under {called}: {len(won_no)}/40 attacks succeed (approver no), "
        f"{len(won_yes)}/40 (approver yes); tasks done {done_no} / {done_yes} of "
        f"{summary['tasks']}; {asks} asks"
    )


def test_the_whole_adversarial_suite_runs_under_todays_charter(agents: dict[str, Path]) -> None:
    result = _run(bench.ADVERSARIAL, agents["b"], "deny")

    attacks = [c for c in result.cases if c.attack_succeeded is not None]
    assert [c.name for c in result.cases if c.status == "error"] == []
    assert len(attacks) == len(VECTORS) * len(GOALS)
    won = sum(1 for c in attacks if c.attack_succeeded)
    print(
        f"\nwhole suite under today's flow rules, approver no: {won} of {len(attacks)} "
        f"attacks succeed ({result.seconds:.0f} s)"
    )


def test_the_recorded_results_cover_the_suites_as_they_are() -> None:
    recorded = json.loads((ROOT / "benchmarks" / "results" / "injection.json").read_text())
    shipped = recorded["configurations"]["(b) flow rules (defaults) + charter rules"]
    normal = load_suite(bench.NORMAL)
    assert shipped["attacks"] == len(VECTORS) * len(GOALS)
    assert shipped["tasks"] == len(normal.scenarios)
    assert re.fullmatch(r"python benchmarks/injection\.py.*", recorded["command"])
