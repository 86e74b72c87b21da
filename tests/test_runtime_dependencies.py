"""Every third-party module charter imports when a module loads is a runtime dependency.

A module-level import of a package that only the ``dev`` extra brings in passes every test
(the suite runs with the dev extras) and breaks ``charter`` on a runtime-only install. This
checker reads ``src/charter`` with :mod:`ast` and asks, for each module-level import (not
inside a function, not under ``if TYPE_CHECKING:``), which installed distribution provides
it, and whether that distribution is in the runtime requirement closure: the
``[project] dependencies`` of pyproject.toml and, through :func:`importlib.metadata.requires`,
everything they require in turn, skipping requirements that only an extra brings in.
"""

from __future__ import annotations

import ast
import contextlib
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "charter"


@dataclass(frozen=True)
class Undeclared:
    """A module-level import that no runtime requirement provides."""

    path: Path
    line: int
    module: str
    distributions: tuple[str, ...]
    """The installed distributions providing the module (empty: none is installed)."""

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        if not self.distributions:
            return f"{where}: imports {self.module}, which no installed distribution provides"
        names = ", ".join(self.distributions)
        return (
            f"{where}: imports {self.module} from distribution {names}, which is not in "
            "charter's runtime requirements: add it to [project] dependencies in "
            "pyproject.toml and pin it in constraints.txt"
        )


def runtime_closure(pyproject: Path = ROOT / "pyproject.toml", extra: str = "") -> set[str]:
    """Canonical names of the distributions a runtime-only install of charter brings in
    (with ``extra``, those of ``pip install 'charter[extra]'``)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    declared = [*project["dependencies"]]
    if extra:  # extras compare by their normalized names (PEP 685): a_b is a-b
        extras = project.get("optional-dependencies", {})
        named = {canonicalize_name(key): value for key, value in extras.items()}
        declared += named.get(canonicalize_name(extra), [])
    pending = [Requirement(text) for text in declared]
    closure: set[str] = set()
    while pending:
        requirement = pending.pop()
        # Evaluated with no extra, a marker such as `extra == "dev"` is false: skipped.
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in closure:
            continue
        closure.add(name)
        # Declared but not installed: the import check names what is missing.
        with contextlib.suppress(metadata.PackageNotFoundError):
            pending += [Requirement(text) for text in metadata.requires(name) or []]
    return closure


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def module_level_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, top-level module) of each import that runs when the module is imported.

    Function bodies run later (if ever) and ``if TYPE_CHECKING:`` blocks never run; class
    bodies, ``try``, ``with`` and other ``if`` blocks run at import time, so are searched.
    Relative imports are the package's own.
    """
    found: list[tuple[int, str]] = []

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                found.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module:
                    found.append((node.lineno, node.module.split(".")[0]))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            elif isinstance(node, ast.If):
                if not _is_type_checking(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.ClassDef | ast.With | ast.AsyncWith | ast.For | ast.While):
                visit(node.body)
                visit(getattr(node, "orelse", []))
            elif isinstance(node, ast.Try | ast.TryStar):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.Match):
                for case in node.cases:
                    visit(case.body)

    visit(tree.body)
    return found


def integration_extra(source: Path, path: Path) -> str | None:
    """The extra an integration package under ``source/integrations/<name>/`` comes with."""
    parts = path.relative_to(source).parts
    return parts[1] if len(parts) > 2 and parts[0] == "integrations" else None


def undeclared_imports(
    source: Path,
    closure: set[str],
    first_party: str,
    extra_closure: Callable[[str], set[str]] | None = None,
) -> list[Undeclared]:
    """Module-level imports under ``source`` that no distribution in ``closure`` provides.

    A module of an integration package (``integrations/<name>/``) may also import what the
    ``<name>`` extra brings in (``extra_closure(name)``): nothing outside the package
    imports it at module level, and its ``__init__`` says which extra to install.
    """
    providers = metadata.packages_distributions()
    problems: list[Undeclared] = []
    for path in sorted(source.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        extra = integration_extra(source, path)
        allowed = closure | (extra_closure(extra) if extra and extra_closure else set[str]())
        for line, module in module_level_imports(tree):
            if module in (first_party, "__future__") or module in sys.stdlib_module_names:
                continue
            distributions = tuple(sorted(set(providers.get(module, []))))
            if not any(canonicalize_name(d) in allowed for d in distributions):
                problems.append(Undeclared(path, line, module, distributions))
    return problems


def test_every_module_level_import_is_a_runtime_dependency() -> None:
    problems = undeclared_imports(
        SOURCE, runtime_closure(), "charter", lambda extra: runtime_closure(extra=extra)
    )
    assert not problems, "\n".join(str(problem) for problem in problems)


def test_the_closure_follows_requirements_and_skips_extras() -> None:
    closure = runtime_closure()
    assert "pydantic-core" in closure  # required by pydantic, declared by nobody here
    assert "pytest" not in closure  # the dev extra only
    assert "aiohttp" not in closure  # openai's `aiohttp` extra


def test_an_undeclared_import_is_named_with_its_file_and_distribution(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "sub" / "loader.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import json\n"
        "import pydantic\n"
        "from pkg import sub\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n"
        "    import playwright\n"
        "def later():\n"
        "    import pytest\n"
        "class Config:\n"
        "    import hypothesis.strategies\n"
        "try:\n"
        "    import no_such_module_anywhere\n"
        "except ImportError:\n"
        "    pass\n"
    )
    problems = undeclared_imports(package, runtime_closure(), "pkg")
    assert [(p.line, p.module, p.distributions) for p in problems] == [
        (11, "hypothesis", ("hypothesis",)),
        (13, "no_such_module_anywhere", ()),
    ]
    message = str(problems[0])
    assert "loader.py:11" in message
    assert "imports hypothesis from distribution hypothesis" in message
    assert "pyproject.toml" in message


def test_a_closure_without_the_declaration_flags_the_import(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["openai>=1"]\n')
    closure = runtime_closure(pyproject)
    assert "httpx2" in closure and "httpx" not in closure
    source = tmp_path / "pkg"
    source.mkdir()
    (source / "llm.py").write_text("import httpx\nimport openai\n")
    problems = undeclared_imports(source, closure, "pkg")
    assert [(p.module, p.distributions) for p in problems] == [("httpx", ("httpx",))]


def test_an_integration_may_import_its_own_extra_only(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\ndependencies = ["pydantic>=2"]\n'
        '[project.optional-dependencies]\nmcp = ["mcp>=2"]\nopenapi = ["jsonschema>=4"]\n'
    )
    source = tmp_path / "pkg"
    (source / "integrations" / "mcp").mkdir(parents=True)
    (source / "integrations" / "mcp" / "_client.py").write_text("import mcp\nimport pytest\n")
    (source / "core.py").write_text("import mcp\n")
    problems = undeclared_imports(
        source, runtime_closure(pyproject), "pkg", lambda e: runtime_closure(pyproject, e)
    )
    # The integration's own extra is allowed inside it; another package (pytest) is not,
    # and outside the integration the extra's package is undeclared at runtime.
    assert sorted((p.path.name, p.module) for p in problems) == [
        ("_client.py", "pytest"),
        ("core.py", "mcp"),
    ]


def test_every_integration_package_has_its_extra() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    packages = [p.name for p in (SOURCE / "integrations").iterdir() if (p / "__init__.py").exists()]
    assert packages, "no integration packages found"
    named = {canonicalize_name(key) for key in extras}
    for name in packages:
        extra = canonicalize_name(name)  # openai_agents comes with charter[openai-agents]
        assert extra in named, f"charter.integrations.{name} has no `{extra}` extra"
        guard = (SOURCE / "integrations" / name / "__init__.py").read_text()
        assert f"charter[{extra}]" in guard, f"charter.integrations.{name} does not name its extra"
