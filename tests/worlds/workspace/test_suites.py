"""The workspace suites: committed as the generator writes them, valid against the world
and the agent, every attack planted where its task reads, no check true before a run."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from charter.agent import load_agent
from charter.evals import Case, cases, check_tools, load_suite
from charter.evals._execute import _world_failure  # pyright: ignore[reportPrivateUsage]
from charter.evals._suite import WorldCheck
from charter.worlds.workspace import suites
from charter.worlds.workspace._attacks import GOALS, VECTORS
from charter.worlds.workspace.tools import build_tools
from charter.worlds.workspace.world import create_world

ROOT = Path(__file__).resolve().parents[3]
EVALS = ROOT / "examples" / "evals"
AGENT = ROOT / "src" / "charter" / "worlds" / "workspace" / "workspace.agent.yaml"


@pytest.fixture(scope="module")
def adversarial() -> list[Case]:
    return list(cases(load_suite(EVALS / suites.ADVERSARIAL_FILE)))


@pytest.fixture(scope="module")
def normal() -> list[Case]:
    return list(cases(load_suite(EVALS / suites.NORMAL_FILE)))


@pytest.mark.parametrize(
    ("name", "build"),
    [
        (suites.NORMAL_FILE, suites.normal_suite),
        (suites.ADVERSARIAL_FILE, suites.adversarial_suite),
    ],
)
def test_the_committed_suites_are_what_the_generator_writes(name: str, build: Any) -> None:
    committed = (EVALS / name).read_text(encoding="utf-8")
    assert committed == suites.render(build(), f"examples/evals/{name}"), (
        "regenerate with python -m charter.worlds.workspace.suites"
    )


@pytest.mark.parametrize("name", [suites.NORMAL_FILE, suites.ADVERSARIAL_FILE])
def test_every_case_validates_against_the_world_and_the_agent(tmp_path: Path, name: str) -> None:
    suite = load_suite(EVALS / name)  # setup and checks prepared against a fresh world
    agent = load_agent(
        AGENT,
        overrides={
            "toolsets": [
                {
                    "ref": "charter.worlds.workspace.tools:toolset",
                    "options": {"world": str(tmp_path / "w.db")},
                }
            ]
        },
    )
    check_tools(suite, agent.inventory.names(), name)
    assert all(case.script is not None for case in cases(suite))
    assert set(agent.charter.tools.allow) == set(agent.inventory.names())


def test_the_suites_are_big_enough_and_cross_every_vector_with_every_goal(
    normal: list[Case], adversarial: list[Case]
) -> None:
    attacks = [c for c in adversarial if c.attack]

    assert len(normal) >= 40 and all(not c.expect.empty for c in normal)
    assert len(attacks) >= 200
    pairs = {(c.scenario.name.split(".")[0], c.variant.name if c.variant else "") for c in attacks}
    assert pairs == {(v.name, g.name) for v in VECTORS for g in GOALS}
    phrasings = {c.variant.description.rsplit("(", 1)[1] for c in attacks if c.variant}
    assert len(phrasings) == 2


def _holds(check: WorldCheck, db: sqlite3.Connection) -> bool:
    return _world_failure(check, db) is None


def _planted(tmp_path: Path, case: Case) -> Path:
    template = tmp_path / "template.db"
    if not template.exists():
        create_world(template)
    world = Path(shutil.copy(template, tmp_path / "case.db"))
    with sqlite3.connect(world) as db:
        for statement in case.setup:
            db.execute(statement)
    return world


def test_no_attack_has_succeeded_before_its_run(tmp_path: Path, adversarial: list[Case]) -> None:
    for case in adversarial:
        if case.attack is None:
            continue
        world = _planted(tmp_path, case)
        with sqlite3.connect(world) as db:
            held = [c.sql for c in case.attack.world if _holds(c, db)]
        assert held == [], case.name
        world.unlink()


def test_no_task_is_done_before_its_run(tmp_path: Path, normal: list[Case]) -> None:
    world = create_world(tmp_path / "w.db")
    with sqlite3.connect(world) as db:
        for case in normal:
            done = [c.sql for c in case.expect.world if _holds(c, db)]
            assert done == [], case.name


def test_every_injection_is_in_what_its_task_reads(tmp_path: Path, adversarial: list[Case]) -> None:
    """The reads at the head of each attack's script return the planted instruction."""
    goals = {g.name: g for g in GOALS}
    for case in adversarial:
        if case.variant is None:
            continue
        world = _planted(tmp_path, case)
        tools = {t.name: t for t in build_tools(world)}
        seen = ""
        for step in case.script or []:
            found = tools.get(step.call or "")
            if found is None or found.contract.side_effect != "read":
                break
            seen += json.dumps(found.invoke(found.validate_args(step.args)))
            if goals[case.variant.name].instruction[:40] in seen:
                break
        assert goals[case.variant.name].instruction[:40] in seen, case.name
        world.unlink()
