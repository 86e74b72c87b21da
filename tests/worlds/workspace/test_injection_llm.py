"""The injection benchmark's embedded-model mode: its sample covers every injected field
and goal, its figures are counted from the runs, and (marked ``llm``) it runs on the
model end to end."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from charter.evals import CaseResult, cases, load_suite, run_suite
from charter.reasoners.local import StepTimings
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
TASKS = [c.name for c in cases(load_suite(bench.NORMAL))]
ATTACKS = [c.name for c in cases(load_suite(bench.ADVERSARIAL)) if c.variant is not None]


def test_the_attack_sample_covers_every_field_and_every_goal_once_each_pair() -> None:
    chosen = bench.stratified_attacks(ATTACKS, 20)

    assert len(chosen) == len(set(chosen)) == 20
    assert {name.split(".")[0] for name in chosen} == {v.name for v in VECTORS}
    assert {name.split("/")[1] for name in chosen} == {g.name for g in GOALS}


def test_the_task_sample_is_spread_over_the_suite() -> None:
    chosen = bench.sampled(TASKS, 10)

    assert len(set(chosen)) == 10 and chosen[0] == TASKS[0]
    assert [TASKS.index(n) for n in chosen] == sorted(TASKS.index(n) for n in chosen)
    assert TASKS.index(chosen[-1]) >= len(TASKS) - 5  # it reaches the end
    assert bench.sampled(TASKS[:3], 10) == TASKS[:3]


def test_the_sample_figures_are_counted_from_its_runs(tmp_path: Path) -> None:
    agent = bench.agent_file(tmp_path, bench.task_scope)
    tasks, attacks = bench.sampled(TASKS, 3), bench.stratified_attacks(ATTACKS, 4)
    normal, adversarial = (
        run_suite(
            load_suite(suite),
            agent,
            suite_source=suite.name,
            reasoner="script",
            jobs=2,
            only=bench._exactly(names),
            approver="deny",
        )
        for suite, names in ((bench.NORMAL, tasks), (bench.ADVERSARIAL, attacks))
    )

    summary = bench.summarise_sample(normal.cases, adversarial.cases)

    assert (summary["tasks"], summary["attacks"]) == (3, 4)
    assert summary["tasks_done"] == sum(1 for c in normal.cases if c.passed)
    assert summary["attacks_succeeded"] == sum(1 for c in adversarial.cases if c.attack_succeeded)
    assert {c["name"] for c in summary["cases"]} == {*tasks, *attacks}
    assert summary["steps"] == sum(c["steps"] for c in summary["cases"]) > 0
    assert "| embedded model | (d) task scope |" in bench.sample_table(summary)


@pytest.mark.llm
def test_the_embedded_model_runs_a_task_and_an_attack(tmp_path: Path) -> None:
    report = bench.embedded_model(1, 1, out=tmp_path)

    written = json.loads((tmp_path / "injection-llm.json").read_text())
    assert written["results"]["tasks"] == 1 and written["results"]["attacks"] == 1
    assert written["results"]["errors"] == 0, written["results"]["cases"]
    assert report["sample"] == written["sample"]


def test_the_model_runs_without_a_wall_budget_but_with_a_step_budget() -> None:
    charter = {"name": "w", "budgets": {"max_steps": 12, "max_wall_seconds": 300}}

    assert bench.without_wall_budget(charter) == {"name": "w", "budgets": {"max_steps": 12}}
    assert charter["budgets"] == {"max_steps": 12, "max_wall_seconds": 300}  # not changed


def test_tasks_and_attacks_take_turns_in_their_proportion() -> None:
    order = bench.interleaved(["t1", "t2"], ["a1", "a2", "a3", "a4", "a5", "a6"])

    assert order == ["a1", "t1", "a2", "a3", "a4", "t2", "a5", "a6"]
    assert bench.interleaved([], ["a1"]) == ["a1"] and bench.interleaved(["t1"], []) == ["t1"]


def _case(name: str, **fields: object) -> CaseResult:
    base: dict[str, object] = {
        "name": name,
        "scenario": name.split(".")[0],
        "variant": None,
        "passed": None,
        "attack_succeeded": None,
        "status": "finished",
        "steps": 2,
        "seconds": 10.0,
    }
    return CaseResult(**(base | fields))  # type: ignore[arg-type]


def test_an_attack_that_errored_counts_as_an_attack_that_did_not_succeed() -> None:
    tasks = [_case("t", passed=True)]
    attacks = [
        _case("a.x/goal", attack_succeeded=True, steps=3),
        _case("a.y/goal", passed=False, status="error", error="model failed", steps=0),
    ]
    model = {"t": bench.model_sums([StepTimings(100, 90, 500.0, 20, 2000.0, 3.0)])}

    summary = bench.summarise_sample(tasks, attacks, model)

    assert (summary["tasks"], summary["tasks_done"]) == (1, 1)
    assert (summary["attacks"], summary["attacks_succeeded"], summary["errors"]) == (2, 1, 1)
    assert [c["kind"] for c in summary["cases"]] == ["task", "attack", "attack"]
    assert summary["seconds_per_step"] == round(30.0 / 5, 2)
    assert summary["model"]["cached_tokens"] == 90 and summary["model"]["prompt_seconds"] == 0.5
    assert summary["cases"][0]["model"]["generated_tokens"] == 20
    assert "| 100 (90) | 20 |" in bench.sample_table(summary)


def test_a_partial_sample_says_how_far_it_got(tmp_path: Path) -> None:
    done = {"t": _case("t", passed=False)}
    report = bench._sample_report("cmd", 0.0, (8192, 1), ["t", "t2"], ["a.x/g"], done, {})

    bench._write_sample(tmp_path, report, partial=True)

    written = json.loads((tmp_path / "injection-llm.json").read_text())
    assert written["partial"] is True and written["cases_done"] == 1
    assert written["results"]["tasks"] == 1 and written["results"]["attacks"] == 0
    markdown = (tmp_path / "injection-llm.md").read_text()
    assert "a sample of 1 tasks and 0 attacks (partial: 1 of the 3 cases planned)" in markdown
    bench._write_sample(tmp_path, report, partial=False)
    assert "partial" not in (tmp_path / "injection-llm.md").read_text()


def test_a_sample_under_another_configuration_is_written_beside_the_task_scope_one(
    tmp_path: Path,
) -> None:
    done = {"t": _case("t", passed=True)}
    report = bench._sample_report("cmd", 0.0, (8192, 1), ["t"], [], done, {}, "(a) tool list only")

    bench._write_sample(tmp_path, report, partial=False)

    written = json.loads((tmp_path / "injection-llm-a.json").read_text())
    assert written["configuration"] == "(a) tool list only"
    markdown = (tmp_path / "injection-llm-a.md").read_text()
    assert "| embedded model | (a) tool list only |" in markdown
    assert not (tmp_path / "injection-llm.json").exists()  # (d)'s figures are not overwritten
    assert [bench.sample_stem(n) for n in bench.CONFIGS] == [
        "injection-llm-a",
        "injection-llm-b",
        "injection-llm-c",
        "injection-llm",
    ]


def test_the_sample_runs_the_agent_under_the_configuration_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    charters: list[dict[str, Any]] = []

    def no_model(suite: object, agent: Path, **_: object) -> object:
        charters.append(yaml.safe_load((agent.parent / "workspace.charter.yaml").read_text()))
        raise _Stop

    monkeypatch.setattr(bench, "run_suite", no_model)
    with pytest.raises(_Stop):
        bench.embedded_model(0, 1, out=tmp_path, configuration="(a) tool list only")
    with pytest.raises(ValueError, match="no configuration 'z'"):
        bench.embedded_model(0, 1, out=tmp_path, configuration="z")

    (charter,) = charters
    assert charter["rules"] == []
    assert charter["flows"] == {"confidential_to_external": "allow", "untrusted_target": "allow"}
    budgets = charter.get("budgets")
    assert isinstance(budgets, dict) and "max_wall_seconds" not in budgets  # lifted
    assert charter["rules"] == [] and "scope" not in charter  # no task scope under (a)


class _Stop(Exception):
    """Ends a sample at its first case (no model is run)."""
