"""Lazily loaded command groups: ``charter --help`` lists every command from a table without
importing it, the table says what the commands themselves say, and a command loads (once)
when invoked."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
import typer
import typer.main
from typer import _click  # pyright: ignore[reportPrivateUsage]
from typer.testing import CliRunner

from charter.cli import COMMANDS, RUNS_COMMANDS, app, load_all
from charter.cli._lazy import LazyGroup, Listed

cli = CliRunner()


def one_line(help_text: str | None) -> str:
    """The first paragraph of a help text, its lines joined."""
    return " ".join((help_text or "").split("\n\n")[0].split())


def mismatches(group: _click.Command, listed: Mapping[str, Listed]) -> list[str]:
    """How ``listed`` differs from the commands ``group`` holds (built eagerly)."""
    commands: dict[str, _click.Command] = getattr(group, "commands", {})
    found: list[str] = []
    for name in sorted(set(commands) - set(listed)):
        found.append(f"not listed: {name!r}: {one_line(commands[name].help)!r}")
    for name in sorted(set(listed) - set(commands)):
        found.append(f"listed, but nothing registers it: {name!r}")
    for name in sorted(set(listed) & set(commands)):
        if listed[name].help != one_line(commands[name].help):
            found.append(f"help of {name!r} is now {one_line(commands[name].help)!r}")
    return found


def everything() -> _click.Command:
    """``charter`` with every command registered and built."""
    load_all()
    return typer.main.get_command(app)


def test_the_table_lists_every_command_with_the_help_it_gives() -> None:
    root = everything()

    assert mismatches(root, COMMANDS) == []
    runs: _click.Command = getattr(root, "commands", {})["runs"]
    assert mismatches(runs, RUNS_COMMANDS) == []


def test_the_check_sees_a_table_out_of_step() -> None:
    root = everything()
    stale = dict(COMMANDS)
    del stale["run"]
    stale["ghost"] = Listed("Haunts.", ())
    stale["show"] = Listed("Show a run.", stale["show"].loads)

    assert mismatches(root, stale) == [
        "not listed: 'run': 'Run an agent on a goal, printing each governed step.'",
        "listed, but nothing registers it: 'ghost'",
        "help of 'show' is now " + repr(COMMANDS["show"].help),
    ]


def test_each_load_registers_its_commands_once() -> None:
    load_all()
    counts = (len(app.registered_commands), len(app.registered_groups))
    load_all()

    assert (len(app.registered_commands), len(app.registered_groups)) == counts
    names = [info.name for info in app.registered_groups]
    assert sorted(names, key=str) == sorted({*names}, key=str)


def _charter(tmp_path: Path, *argv: str, probe: str = "") -> subprocess.CompletedProcess[str]:
    """``charter argv`` in a fresh interpreter; ``probe`` runs after it (its output last)."""
    code = (
        "import sys\nfrom charter.cli import app\ntry:\n    app(sys.argv[1:])\n"
        f"except SystemExit as exc:\n    code = exc.code\n{probe}\nsys.exit(code)\n"
    )
    env = {**os.environ, "CHARTER_HOME": str(tmp_path / "home")}
    return subprocess.run(
        [sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True
    )


_MODULES = "print(sorted(m for m in sys.modules if m.startswith('charter.cli.')))"


def test_help_lists_every_command_and_imports_none(tmp_path: Path) -> None:
    done = _charter(tmp_path, "--help", probe=_MODULES)

    assert done.returncode == 0, done.stderr
    *listing, loaded = done.stdout.split("Commands:", 1)[1].strip("\n").splitlines()
    assert [line.split()[0] for line in listing if line[2:3].strip()] == list(COMMANDS)
    assert loaded == "['charter.cli._lazy', 'charter.cli._values']"


def test_listing_runs_imports_no_command_that_continues_a_run(tmp_path: Path) -> None:
    done = _charter(tmp_path, "runs", "--help", probe=_MODULES)

    assert done.returncode == 0, done.stderr
    for name, listed in RUNS_COMMANDS.items():
        assert name in done.stdout and listed.help.split()[0] in done.stdout
    loaded = done.stdout.strip().splitlines()[-1]
    assert "_approvals" not in loaded and "_effects" not in loaded and "_runs'" in loaded


def test_a_group_two_modules_register_on_has_the_commands_of_both(tmp_path: Path) -> None:
    done = _charter(tmp_path, "agents", "--help")

    assert done.returncode == 0, done.stderr
    assert "pause" in done.stdout and "supervise" in done.stdout  # charter.cli._controls
    assert "rollout" in done.stdout and "promote" in done.stdout  # charter.cli._eval


def test_a_command_of_runs_loads_when_invoked(tmp_path: Path) -> None:
    done = _charter(tmp_path, "runs", "resolve", "--help")

    assert done.returncode == 0, done.stderr
    assert "Settle a write left in doubt" in done.stdout


def test_a_mistyped_command_is_refused_naming_the_near_ones(tmp_path: Path) -> None:
    done = _charter(tmp_path, "rus")

    assert done.returncode == 2
    assert "No such command 'rus'. Did you mean 'runs', 'run'?" in done.stderr


def test_a_mistyped_command_far_from_any_is_refused_as_typer_refuses_it(tmp_path: Path) -> None:
    done = _charter(tmp_path, "zzzzzz")

    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "Error: No such command 'zzzzzz'."


def _group(listed: dict[str, Listed], source: typer.Typer) -> type[LazyGroup]:
    class Group(LazyGroup):
        @classmethod
        def source(cls) -> typer.Typer:
            return source

    Group.listed = listed
    return Group


def test_a_listed_name_nothing_registers_is_a_bug_named_as_such() -> None:
    source = typer.Typer()
    loads: list[str] = []
    root = typer.Typer(
        cls=_group({"ghost": Listed("Haunts.", (lambda: loads.append("x"),))}, source)
    )

    @root.callback()
    def main() -> None:
        """A test CLI."""

    result = cli.invoke(root, ["ghost"])

    assert loads == ["x"]
    assert isinstance(result.exception, LookupError)
    assert "'ghost' is listed, but nothing registered a command so named" in str(result.exception)


def test_a_command_registered_outside_the_table_is_listed_and_runs() -> None:
    source = typer.Typer()

    def register() -> None:
        @source.command()
        def hello() -> None:
            """Say hello."""
            typer.echo("hello")

    root = typer.Typer(cls=_group({"hello": Listed("Say hello.", (register,))}, source))

    @root.callback()
    def main() -> None:
        """A test CLI."""

    @root.command()
    def extra() -> None:
        """Not in the table."""
        typer.echo("extra ran")

    listing = cli.invoke(root, ["--help"])
    assert listing.exit_code == 0
    assert "hello  Say hello." in listing.output and "extra  Not in the table." in listing.output
    assert cli.invoke(root, ["extra"]).output == "extra ran\n"
    assert cli.invoke(root, ["hello"]).output == "hello\n"


@pytest.mark.parametrize("argv", [["--help"], []])
def test_charter_alone_or_with_help_prints_the_listing(argv: list[str]) -> None:
    result = cli.invoke(app, argv)

    assert result.exit_code == (0 if argv else 2)
    assert "Commands:" in result.output and "approvals" in result.output
