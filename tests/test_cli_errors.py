"""The CLI's one error-handling decorator: charter's errors are one line and exit 2, a
command's returned status is its exit status, anything else keeps its traceback."""

from __future__ import annotations

from typing import Annotated

import pytest
import typer
from typer.testing import CliRunner

from charter.cli._errors import BAD_INPUT, guarded
from charter.errors import ConfigError

cli = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @guarded
    def go(
        status: Annotated[int, typer.Option(help="What to return.")] = 0,
        fail: Annotated[str, typer.Option(help="A charter error's message.")] = "",
        crash: Annotated[bool, typer.Option(help="Raise a bug.")] = False,
    ) -> int:
        """A command for the test."""
        if crash:
            raise KeyError("a bug")
        if fail:
            raise ConfigError(fail)
        typer.echo("ran")
        return status

    return app


def test_a_charter_error_is_one_line_and_exit_2() -> None:
    result = cli.invoke(_app(), ["--fail", "no agent file at x.yaml"])

    assert result.exit_code == BAD_INPUT == 2
    assert result.output.strip().splitlines() == ["error: no agent file at x.yaml"]


def test_markup_in_an_error_is_printed_as_written() -> None:
    result = cli.invoke(_app(), ["--fail", "bad name [/] [red]x[/red]"])

    assert result.exit_code == 2
    assert result.output.strip() == "error: bad name [/] [red]x[/red]"


@pytest.mark.parametrize("status", [0, 1, 3, 6])
def test_the_status_a_command_returns_is_its_exit_status(status: int) -> None:
    result = cli.invoke(_app(), ["--status", str(status)])

    assert result.exit_code == status and "ran" in result.output


def test_a_bug_is_not_dressed_as_bad_input() -> None:
    result = cli.invoke(_app(), ["--crash"])

    assert isinstance(result.exception, KeyError) and result.exit_code == 1


def test_typer_still_sees_the_commands_options() -> None:
    result = cli.invoke(_app(), ["--help"])

    assert result.exit_code == 0
    assert "--status" in result.output and "A charter error's message" in result.output
