"""Plain option values: read without Pydantic, to the same value Typer would give, and any
value Typer would refuse refused by Typer, in its words."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
import typer
import typer.main
from typer import _click  # pyright: ignore[reportPrivateUsage]
from typer._coercion import build_runtime_param  # pyright: ignore[reportPrivateUsage]
from typer.core import TyperCommand, _TyperParameter  # pyright: ignore[reportPrivateUsage]
from typer.testing import CliRunner

from charter.cli._values import PlainValue, convert_plainly, plain_converter

cli = CliRunner()


def _command() -> _click.Command:
    app = typer.Typer(add_completion=False)

    @app.command()
    def go(
        text: Annotated[str, typer.Option()] = "",
        count: Annotated[int, typer.Option()] = 0,
        bounded: Annotated[int, typer.Option(min=1, max=64)] = 1,
        ratio: Annotated[float, typer.Option()] = 0.0,
        wait: Annotated[float, typer.Option(min=0.1)] = 2.0,
        path: Annotated[Path | None, typer.Option()] = None,
        flag: Annotated[bool, typer.Option()] = False,
    ) -> None:
        """A command for the test."""
        typer.echo(repr((text, count, bounded, ratio, wait, path, flag)))

    return typer.main.get_command(app)


VALUES: dict[str, list[Any]] = {
    "text": ["", "x", " spaced ", "ünï", "12", 3, b"bytes"],
    "count": ["12", "-3", "+5", "007", " 4 ", "1_000", "1.0", "1.5", "٣", "x", "", 7, True],
    "bounded": ["1", "64", "0", "65", "-1", "3", 3, 99],
    "ratio": ["1.5", "-2", "1e3", ".5", "5.", "inf", "nan", "1_0", "x", "", 2, 2.5],
    "wait": ["0.1", "0.05", "2", "0", 1, "-1"],
    "path": ["a", "dir/file.yaml", "", "\0", ".", Path("p")],
    "flag": [True, False, "true", "no", "", "x"],
}


def _typer_reads(param: _TyperParameter, value: Any, ctx: _click.Context) -> tuple[str, Any]:
    try:
        return "value", build_runtime_param(param.type_descriptor)._coerce_value(  # pyright: ignore[reportPrivateUsage]
            value, param=param, ctx=ctx
        )
    except _click.exceptions.BadParameter as refused:
        return "refused", refused.message


def _plain_reads(param: _TyperParameter, value: Any, ctx: _click.Context) -> tuple[str, Any]:
    convert = plain_converter(param)
    assert convert is not None
    plain = PlainValue(
        parameter_info=param.type_descriptor.parameter_info,
        annotation=param.type_descriptor.annotation,
        convert=convert,
    )
    try:
        return "value", plain._coerce_value(value, param=param, ctx=ctx)  # pyright: ignore[reportPrivateUsage]
    except _click.exceptions.BadParameter as refused:
        return "refused", refused.message


@pytest.mark.parametrize(
    ("name", "value"), [(name, value) for name, values in VALUES.items() for value in values]
)
def test_a_value_reads_as_typer_reads_it(name: str, value: Any) -> None:
    command = _command()
    ctx = _click.Context(command)
    (param,) = [p for p in command.params if p.name == name]
    assert isinstance(param, _TyperParameter)

    plain = _plain_reads(param, value, ctx)
    typer_own = _typer_reads(param, value, ctx)

    assert repr(plain) == repr(typer_own)  # repr: nan is not nan
    assert type(plain[1]) is type(typer_own[1])


def test_lists_choices_clamped_numbers_and_parsers_keep_typer_conversion() -> None:
    app = typer.Typer(add_completion=False)

    @app.command(cls=PlainCommand)
    def go(
        many: Annotated[list[str] | None, typer.Option()] = None,
        clamped: Annotated[int, typer.Option(min=1, max=3, clamp=True)] = 1,
        parsed: Annotated[str, typer.Option(parser=str.upper)] = "a",
        choice: Annotated[Literal["a", "b"], typer.Option()] = "a",
    ) -> None:
        """A command for the test."""
        typer.echo(repr((many, clamped, parsed, choice)))

    command = typer.main.get_command(app)
    assert [plain_converter(p) for p in command.params] == [None, None, None, None]
    argv = ["--many", "1", "--many", "2", "--clamped", "9", "--parsed", "x", "--choice", "b"]
    assert cli.invoke(app, argv).output == "(['1', '2'], 3, 'X', 'b')\n"


class PlainCommand(TyperCommand):
    """A command whose plain parameters convert without Pydantic, as the CLI's do."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        convert_plainly(self)


def _bounded(cls: type[TyperCommand]) -> typer.Typer:
    app = typer.Typer(add_completion=False)

    @app.command(cls=cls)
    def go(n: Annotated[int, typer.Option(min=1)] = 1) -> None:
        """A command for the test."""
        typer.echo(f"n={n}")

    return app


def test_a_value_out_of_bounds_is_refused_in_typer_words() -> None:
    typer_own = cli.invoke(_bounded(TyperCommand), ["--n", "0"])
    plain = cli.invoke(_bounded(PlainCommand), ["--n", "0"])

    assert plain.exit_code == typer_own.exit_code == 2
    assert plain.output == typer_own.output
    assert "Input should be greater than or equal to 1" in plain.output
    assert cli.invoke(_bounded(PlainCommand), ["--n", "1_000"]).output == "n=1000\n"
    assert cli.invoke(_bounded(PlainCommand), ["--n", "64"]).output == "n=64\n"


def _charter(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\nfrom charter.cli import app\ntry:\n    app(sys.argv[1:])\n"
        "except SystemExit as exc:\n    code = exc.code\n"
        "print('pydantic' in sys.modules)\nsys.exit(code)\n"
    )
    env = {**os.environ, "CHARTER_HOME": str(tmp_path / "home")}
    return subprocess.run(
        [sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True
    )


def test_listing_runs_with_options_loads_no_pydantic(tmp_path: Path) -> None:
    from charter.journal import Journal

    Journal(f"sqlite:///{tmp_path / 'home' / 'journal.db'}").close()
    done = _charter(tmp_path, "runs", "--limit", "5")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_a_bad_option_value_is_refused_by_typer_with_exit_2(tmp_path: Path) -> None:
    done = _charter(tmp_path, "runs", "--limit", "many")

    assert done.returncode == 2
    assert "Invalid value for '--limit'" in done.stderr
    assert "unable to parse string as an integer" in done.stderr
