"""The CLI starts without loading heavy dependencies it does not use.

Every command imports ``charter.cli``; these tests pin its import graph (not its time):
neither importing it nor printing ``charter --help`` nor listing runs loads the model
clients, the ML stack, DBOS, the web server, the OpenTelemetry exporters or Pydantic (which
Typer would load to convert option values), and ``--help`` loads no Rich either. Each check
runs in a fresh interpreter, so modules the test session already holds do not hide an import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "openai",
    "httpx",
    "sklearn",
    "scipy",
    "numpy",
    "onnxruntime",
    "matplotlib",
    "dbos",
    "uvicorn",
    "fastapi",
    "opentelemetry.exporter",
)
"""Never loaded by `charter --help` nor `charter runs`."""

NOT_TYPER_S = ("pydantic", "typer._adapters", "typer.rich_utils")
"""Typer's Pydantic conversion of option values, and its Rich help."""

NOT_FOR_HELP = (*HEAVY, *NOT_TYPER_S, "sqlalchemy", "alembic", "cedarpy", "cryptography", "rich")
"""Also not loaded just to print the help: no command body runs, and the help is plain."""

_PROBE = """
import json, sys
argv = sys.argv[1:]
if argv:
    from charter.cli import app
    try:
        app(argv)
    except SystemExit as exc:
        assert not exc.code, exc.code
else:
    import charter.cli
print(json.dumps(sorted(sys.modules)))
"""


def loaded_modules(tmp_path: Path, *argv: str) -> list[str]:
    """Module names loaded by a fresh interpreter that imports charter.cli and runs argv."""
    env = {**os.environ, "CHARTER_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def heavy_in(modules: list[str], heavy: tuple[str, ...]) -> list[str]:
    """The entries of ``heavy`` that ``modules`` holds (a package or any submodule)."""
    return [h for h in heavy if any(m == h or m.startswith(h + ".") for m in modules)]


def test_importing_the_cli_loads_nothing_heavy(tmp_path: Path) -> None:
    modules = loaded_modules(tmp_path)
    assert "charter.cli" in modules
    assert heavy_in(modules, NOT_FOR_HELP) == []


def test_help_loads_nothing_heavy(tmp_path: Path) -> None:
    assert heavy_in(loaded_modules(tmp_path, "--help"), NOT_FOR_HELP) == []


NOT_FOR_RUNS = (
    *HEAVY,
    *NOT_TYPER_S,
    "sqlalchemy",
    "alembic",
    "cryptography",
    "charter.views._runs",
    "charter.cli._approvals",
    "charter.cli._effects",
    "charter.cli._run",
)
"""Not loaded by `charter runs` on a SQLite journal at the newest schema: it reads the file
through sqlite3 alone, and loads none of the commands that continue a run."""

_MODELS_PROBE = """
import json, sys
from charter.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    assert not exc.code, exc.code
models = []
if "pydantic" in sys.modules:
    from pydantic import BaseModel
    seen, stack = set(), [BaseModel]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
    models = sorted(m.__module__ for m in seen if m.__module__.startswith("charter"))
print(json.dumps(models))
"""


def charter_models_loaded(tmp_path: Path, *argv: str) -> list[str]:
    """Modules of the charter Pydantic models a fresh interpreter running argv defined."""
    env = {**os.environ, "CHARTER_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", _MODELS_PROBE, *argv],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_listing_runs_loads_no_database_layer_model_client_ml_stack_or_server(
    tmp_path: Path,
) -> None:
    from charter.journal import Journal

    Journal(f"sqlite:///{tmp_path / 'home' / 'journal.db'}").close()  # runs only reads one
    modules = loaded_modules(tmp_path, "runs")
    assert "charter.views._summary" in modules  # it did read the journal
    assert heavy_in(modules, NOT_FOR_RUNS) == []


def test_listing_runs_defines_no_pydantic_model(tmp_path: Path) -> None:
    # At the newest schema no Pydantic model is defined (nor Pydantic loaded); at an older
    # one the read model's are.
    import sqlite3

    from charter.journal import Journal
    from charter.journal._schema import known_revisions

    path = tmp_path / "home" / "journal.db"
    Journal(f"sqlite:///{path}").close()
    assert charter_models_loaded(tmp_path, "runs") == []
    with sqlite3.connect(path) as conn:  # the probe sees them: the read model's are loaded
        conn.execute("UPDATE alembic_version SET version_num = ?", [known_revisions()[-2]])
    assert "charter.views._runs" in charter_models_loaded(tmp_path, "runs")


def test_listing_runs_of_a_journal_at_an_older_schema_reads_it_the_general_way(
    tmp_path: Path,
) -> None:
    import sqlite3

    from charter.journal import Journal
    from charter.journal._schema import known_revisions

    path = tmp_path / "home" / "journal.db"
    Journal(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", [known_revisions()[-2]])
    modules = loaded_modules(tmp_path, "runs")
    assert "sqlalchemy" in modules and "charter.views._runs" in modules


def test_the_public_names_still_resolve() -> None:
    import charter
    import charter.server

    for name in charter.__all__:
        assert getattr(charter, name) is not None, name
    for name in charter.server.__all__:
        assert getattr(charter.server, name) is not None, name
    assert "Runner" in dir(charter)


def test_an_unknown_name_is_an_attribute_error() -> None:
    import charter
    import charter.server

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = charter.Nope  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = charter.server.Nope  # type: ignore[attr-defined]


def test_the_check_sees_a_heavy_import(tmp_path: Path) -> None:
    # The probe must be able to fail: a CLI that loads numpy is caught.
    modules = [*loaded_modules(tmp_path), "numpy", "opentelemetry.exporter.otlp.proto.http"]
    assert heavy_in(modules, HEAVY) == ["numpy", "opentelemetry.exporter"]
