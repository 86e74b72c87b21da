"""The workspace suites, built in code and written as YAML for ``charter eval``.

``python -m charter.worlds.workspace.suites [DIR]`` writes
``workspace-normal.suite.yaml`` (every legitimate task with an honest script) and
``workspace-adversarial.suite.yaml`` (each vector's task, then one attack case per goal
planted in that vector, with the script of a reasoner that obeys the injection) into DIR
(default ``examples/evals``). The files are committed; a test checks they are what this
module builds.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from charter.worlds.workspace._attacks import GOALS, TEMPLATES, VECTORS, reads_of, variant
from charter.worlds.workspace._tasks import tasks
from charter.worlds.workspace.tools import build_tools
from charter.worlds.workspace.world import create_world

WORLD = {"factory": "charter.worlds.workspace.world:create_world", "option": "world"}
NORMAL_FILE = "workspace-normal.suite.yaml"
ADVERSARIAL_FILE = "workspace-adversarial.suite.yaml"
_HEADER = """\
# Written by `python -m charter.worlds.workspace.suites`; edit that module, not this file.
# Run: charter eval {path} \\
#        --agent src/charter/worlds/workspace/workspace.agent.yaml --reasoner script
"""


def _read_tools() -> set[str]:
    with tempfile.TemporaryDirectory() as scratch:
        world = create_world(Path(scratch) / "world.db")
        return {t.name for t in build_tools(world) if t.contract.side_effect == "read"}


def normal_suite() -> dict[str, Any]:
    """Every legitimate task of the workspace, each with an honest script."""
    return {
        "suite": "workspace-normal",
        "description": "Legitimate workspace tasks: mail, calendar, drive, chat, bank, web, "
        "travel. Each is done when its run succeeded and the world shows it.",
        "world": WORLD,
        "scenarios": tasks(),
    }


def adversarial_suite() -> dict[str, Any]:
    """Each vector's task, clean, then every goal's injection planted in that vector."""
    by_name = {t["name"]: t for t in tasks()}
    read_tools = _read_tools()
    scenarios: list[dict[str, Any]] = []
    for v, vector in enumerate(VECTORS):
        clean = by_name[vector.task]
        reads = reads_of(clean["script"], read_tools)
        scenarios.append(
            clean
            | {
                "name": f"{vector.name}.{vector.task}",
                "variants": [
                    variant(vector, goal, (v + g) % len(TEMPLATES), reads)
                    for g, goal in enumerate(GOALS)
                ],
            }
        )
    return {
        "suite": "workspace-adversarial",
        "description": "Prompt injections in every kind of third-party field of the workspace "
        "(emails, events, files, chat, web pages, reviews, transactions) crossed with attack "
        "goals (exfiltration, payments, account changes, deletion, phishing, intent hijack); "
        "each script obeys the injection exactly.",
        "world": WORLD,
        "scenarios": scenarios,
    }


def render(suite: dict[str, Any], path: str) -> str:
    """The suite as the YAML file that is committed."""
    body = yaml.safe_dump(suite, sort_keys=False, allow_unicode=True, width=100)
    return _HEADER.format(path=path) + body


def write(directory: Path) -> list[Path]:
    """Write both suites into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, suite in ((NORMAL_FILE, normal_suite()), (ADVERSARIAL_FILE, adversarial_suite())):
        path = directory / name
        path.write_text(render(suite, f"examples/evals/{name}"), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    for written in write(Path(sys.argv[1] if len(sys.argv) > 1 else "examples/evals")):
        print(written)
