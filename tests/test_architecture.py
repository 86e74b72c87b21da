"""The packages depend one way (docs/architecture.md): surfaces on the read model, the read
model on the journal, the run loop never on a surface, the journal on nothing above it; and
only the journal writes SQL against its records table.

The imports are read with :mod:`ast` from the sources, so an import inside a function (the
lazy ones the CLI relies on) counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "charter"

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "views": ("charter.server", "charter.cli"),
    "runtime": ("charter.server", "charter.cli", "charter.views"),
    "observe": ("charter.server", "charter.cli"),
    "advisor": ("charter.server", "charter.cli"),
    "evals": ("charter.server", "charter.cli"),
    "policy": ("charter.server", "charter.cli", "charter.views", "charter.runtime"),
    "tools": ("charter.server", "charter.cli", "charter.views", "charter.runtime"),
}
"""Per package (or top-level module): the packages its modules must not import."""

JOURNAL_MAY_IMPORT = ("charter.journal", "charter.errors", "charter._json", "charter._permissions")
"""The journal is the bottom layer: itself and charter's dependency-free helpers."""

TABLE_USERS_OUTSIDE_JOURNAL = {
    "views/_runs.py",
    "views/_costs.py",
    "observe/_costs.py",
}
"""Modules outside journal/ that still query the records table. The list only shrinks: a
module that moves its queries behind the journal leaves it (the test says so), a new one
cannot join it."""


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every charter import in ``path``, wherever it appears."""
    found: list[tuple[int, str]] = []
    package = ".".join(("charter", *path.relative_to(SRC).parent.parts))
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            found.append((node.lineno, base))
            if base == "charter":  # `from charter import views` imports charter.views
                found.extend((node.lineno, f"charter.{alias.name}") for alias in node.names)
    return [(line, name) for line, name in found if name.split(".")[0] == "charter"]


def modules_of(layer: str) -> list[Path]:
    """The source files of package ``layer`` (or the single module ``layer.py``)."""
    folder = SRC / layer
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [SRC / f"{layer}.py"]


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    """``file:line imports module`` for each import of ``layer`` that ``forbidden`` names."""
    return [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in modules_of(layer)
        for line, name in imports_of(path)
        if any(_within(name, f) for f in forbidden)
    ]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    assert modules_of(layer)[0].exists(), f"no package or module {layer!r}: update this test"
    assert violations(layer, FORBIDDEN[layer]) == []


def test_the_journal_imports_nothing_above_it() -> None:
    above = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for path in modules_of("journal")
        for line, name in imports_of(path)
        if not any(_within(name, allowed) for allowed in JOURNAL_MAY_IMPORT)
    ]
    assert above == []


_TABLE = re.compile(r"\bjournal_records\b|\brecords_table\b")
"""The table's SQL name (not a metric such as ``charter_journal_records``) or its object."""


def table_users() -> set[str]:
    """Files outside journal/ that name the records table (its SQL name or its object)."""
    return {
        str(path.relative_to(SRC))
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).parts[0] != "journal"
        and any(
            token in path.read_text(encoding="utf-8")
            for token in ("journal_records ", 'journal_records"', "records_table")
        )
    }


def test_only_the_journal_queries_its_records_table() -> None:
    users = table_users()
    assert users - TABLE_USERS_OUTSIDE_JOURNAL == set(), "query the journal through journal/"
    assert TABLE_USERS_OUTSIDE_JOURNAL - users == set(), "no longer a user: drop it from the list"


# --- the checks themselves catch what they are meant to catch --------------------------


def test_an_import_inside_a_function_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "charter"
    (fake / "views").mkdir(parents=True)
    (fake / "views" / "_lazy.py").write_text(
        "def f():\n    from charter.server import _app\n    import charter.cli\n"
    )
    monkeypatch.setattr(f"{__name__}.SRC", fake)

    assert violations("views", FORBIDDEN["views"]) == [
        "views/_lazy.py:2 imports charter.server",
        "views/_lazy.py:3 imports charter.cli",
    ]


def test_a_relative_import_and_a_from_charter_import_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "charter"
    (fake / "runtime").mkdir(parents=True)
    (fake / "runtime" / "_loop.py").write_text(
        "from ..views import _runs\nfrom charter import cli\nfrom charter import journal\n"
    )
    monkeypatch.setattr(f"{__name__}.SRC", fake)

    assert violations("runtime", FORBIDDEN["runtime"]) == [
        "runtime/_loop.py:1 imports charter.views",
        "runtime/_loop.py:2 imports charter.cli",
    ]


def test_a_query_of_the_records_table_outside_the_journal_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "charter"
    (fake / "server").mkdir(parents=True)
    (fake / "journal").mkdir()
    (fake / "server" / "_raw.py").write_text('q = "SELECT * FROM journal_records"\n')
    (fake / "server" / "_object.py").write_text(
        "from charter.journal._store import records_table\n"
    )
    (fake / "server" / "_fine.py").write_text('name = "charter_journal_records_by_kind"\n')
    (fake / "journal" / "_store.py").write_text("records_table = None\n")
    monkeypatch.setattr(f"{__name__}.SRC", fake)

    assert table_users() == {"server/_raw.py", "server/_object.py"}
