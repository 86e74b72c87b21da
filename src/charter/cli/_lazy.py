"""Command groups whose commands are imported only when one of them is invoked.

A :class:`LazyGroup` knows its commands by name and one-line help (:class:`Listed`) without
importing them: its help lists them from that table, and asking for one (to run it, or for
its ``--help``) first runs what registers it on the group's Typer app, then builds that one
command. So ``charter --help`` imports Typer and this table, and ``charter runs`` imports
the modules of ``runs`` alone, not those of every command. The commands themselves are
written as before (``@app.command()`` in their module), one definition each; a test keeps
each table in step with what its modules register.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer import _click  # pyright: ignore[reportPrivateUsage]
from typer.core import TyperGroup
from typer.main import get_command_from_info, get_command_name, get_group_from_info

from charter.cli._values import convert_param_plainly, convert_plainly


@dataclass(frozen=True)
class Listed:
    """A command as its group's help lists it, before its module is imported."""

    help: str
    """One line: the first paragraph of the command's own help, its lines joined."""
    loads: tuple[Callable[[], object], ...]
    """What registers the command on the group's Typer app (each is run once a process)."""


class LazyGroup(TyperGroup):
    """A Typer group whose commands are built, and their modules imported, when asked for.

    A subclass names its table (:attr:`listed`) and the Typer app its commands register on
    (:meth:`source`); Typer builds it with ``cls=`` as any group.
    """

    listed: ClassVar[Mapping[str, Listed]] = {}
    """Each command by name, in the order the help lists them."""

    @classmethod
    def source(cls) -> typer.Typer:
        """The Typer app the loads of :attr:`listed` register the commands on."""
        raise NotImplementedError

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        convert_plainly(self)

    def get_help_option(self, ctx: _click.Context) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:  # made on first use; not given, its value is converted too
            convert_param_plainly(option)
        return option

    def list_commands(self, ctx: _click.Context) -> list[str]:
        built = [name for name in super().list_commands(ctx) if name not in self.listed]
        return [*self.listed, *built]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        command = super().get_command(ctx, cmd_name)
        listed = self.listed.get(cmd_name)
        if command is not None or listed is None:
            return command
        for load in listed.loads:
            load()
        command = self._build(cmd_name)
        convert_plainly(command)
        self.add_command(command, cmd_name)
        return command

    def _build(self, name: str) -> _click.Command:
        source = self.source()
        for info in source.registered_commands:
            callback = info.callback
            if callback is not None and (info.name or get_command_name(callback.__name__)) == name:
                return get_command_from_info(
                    info,
                    pretty_exceptions_short=source.pretty_exceptions_short,
                    rich_markup_mode=self.rich_markup_mode,
                )
        for group in source.registered_groups:
            if group.name == name:
                return get_group_from_info(
                    group,
                    pretty_exceptions_short=source.pretty_exceptions_short,
                    rich_markup_mode=self.rich_markup_mode,
                    suggest_commands=self.suggest_commands,
                )
        raise LookupError(f"charter: {name!r} is listed, but nothing registered a command so named")

    def format_commands(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        rows = [(name, listed.help) for name, listed in self.listed.items()]
        for name in super().list_commands(ctx):  # a command registered outside the table
            command = self.commands[name]
            if name not in self.listed and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except _click.exceptions.UsageError as error:
            # Typer suggests among the commands built so far: suggest among all of them.
            if self.suggest_commands and args:
                message = error.message.split(". Did you mean", 1)[0].rstrip(".")
                matches = difflib.get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    suggested = ", ".join(repr(m) for m in matches)
                    error.message = f"{message}. Did you mean {suggested}?"
            raise
