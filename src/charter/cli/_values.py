"""Option and argument values of plain types, converted without Pydantic.

Typer (0.29) converts every value of every option and argument through a Pydantic
``TypeAdapter`` built when the parameter is first processed (``typer.core._TyperParameter
.get_runtime_param`` → ``typer._coercion.build_runtime_param``, which imports
``typer._adapters`` and with it Pydantic); it does so even for an option left at its
default, and neither a plain annotation nor a ``parser=`` avoids it. That alone is about a
tenth of a second on every command. The CLI's parameters are flags, strings, integers, floats
and paths: :func:`convert_plainly` gives such parameters a converter of their own for the
values whose meaning is not in doubt (a flag's ``bool`` and a ``str`` as given; digits for an
``int``; a decimal for a ``float``; a non-empty path), within the parameter's bounds. Any
other value (a number in words, one out of bounds, a list) goes to Typer's own conversion,
so its result and its error message are exactly Typer's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer import _click  # pyright: ignore[reportPrivateUsage]
from typer._coercion import (  # pyright: ignore[reportPrivateUsage]
    RuntimeParam,
    build_runtime_param,
)
from typer._param_types import coerce_cli_path  # pyright: ignore[reportPrivateUsage]
from typer.core import _TyperParameter  # pyright: ignore[reportPrivateUsage]
from typer.models import ParameterInfo

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class _NotPlain(Exception):
    """The value is not one this module converts: Typer's conversion decides."""


Param = _TyperParameter
Convert = Callable[[Any, Param, _click.Context], Any]


def _within(number: float, info: ParameterInfo) -> None:
    if (info.min is not None and number < info.min) or (info.max is not None and number > info.max):
        raise _NotPlain  # Typer words the refusal


def _bool(value: Any, param: Param, ctx: _click.Context) -> Any:
    if type(value) is not bool:
        raise _NotPlain
    return value


def _str(value: Any, param: Param, ctx: _click.Context) -> Any:
    if type(value) is not str:
        raise _NotPlain
    return value


def _int(value: Any, param: Param, ctx: _click.Context) -> Any:
    if type(value) is int:
        number = value
    elif type(value) is str and _INT.fullmatch(value):
        number = int(value)
    else:
        raise _NotPlain
    _within(number, param.type_descriptor.parameter_info)
    return number


def _float(value: Any, param: Param, ctx: _click.Context) -> Any:
    if type(value) in (float, int) or (type(value) is str and _FLOAT.fullmatch(value)):
        number = float(value)
    else:
        raise _NotPlain
    _within(number, param.type_descriptor.parameter_info)
    return number


def _path(value: Any, param: Param, ctx: _click.Context) -> Any:
    if type(value) is str and value and "\0" not in value:
        value = Path(value)
    elif not isinstance(value, Path):
        raise _NotPlain
    info = param.type_descriptor.parameter_info
    return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)


_CONVERTERS: dict[Any, Convert] = {bool: _bool, str: _str, int: _int, float: _float, Path: _path}


@dataclass(frozen=True)
class PlainValue(RuntimeParam):
    """Typer's conversion of one parameter's values, with a plain path for plain values."""

    convert: Convert
    """Converts a plain value; raises :class:`_NotPlain` to hand it to Typer."""

    def _coerce_value(self, value: Any, param: Param, ctx: _click.Context) -> Any:
        try:
            return self.convert(value, param, ctx)
        except Exception:  # not plain, or refused: Typer converts or refuses it, its way
            typer_own = build_runtime_param(param.type_descriptor)
            return typer_own._coerce_value(value, param=param, ctx=ctx)  # pyright: ignore[reportPrivateUsage]


def plain_converter(param: _click.Parameter) -> Convert | None:
    """The plain converter for ``param``, or None when Typer's conversion is the only one
    (a list, a choice, a file, a custom parser, a clamped number, a path of another type)."""
    if not isinstance(param, _TyperParameter):
        return None
    descriptor = param.type_descriptor
    info = descriptor.parameter_info
    if param.multiple or param.nargs != 1 or descriptor.is_file or descriptor.is_choice:
        return None
    if info.parser is not None or info.clamp or info.path_type is not None:
        return None
    return _CONVERTERS.get(descriptor.annotation)


def convert_param_plainly(param: _click.Parameter) -> None:
    """Give ``param`` the converter of this module if its type is plain, unless Typer
    already built its own."""
    convert = plain_converter(param)
    if convert is None or not isinstance(param, _TyperParameter):
        return
    if param._runtime_param is None:  # pyright: ignore[reportPrivateUsage]
        descriptor = param.type_descriptor
        param._runtime_param = PlainValue(  # pyright: ignore[reportPrivateUsage]
            parameter_info=descriptor.parameter_info,
            annotation=descriptor.annotation,
            convert=convert,
        )


def convert_plainly(command: _click.Command) -> None:
    """:func:`convert_param_plainly` on each parameter of ``command`` and of its
    sub-commands (their ``--help`` options are made later: see
    :meth:`charter.cli._lazy.LazyGroup.get_help_option`)."""
    for param in command.params:
        convert_param_plainly(param)
    commands: dict[str, _click.Command] = getattr(command, "commands", {})
    for sub in commands.values():
        convert_plainly(sub)
