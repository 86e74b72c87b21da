"""The one place the CLI turns charter's errors into a line and an exit status.

Every command is decorated with :func:`guarded`: a :class:`~charter.errors.CharterError`, or
a database that fails under a read (a damaged file), prints one line on stderr and exits 2
(bad input); an ``int`` the command returns is its exit status (the run outcome codes of
:mod:`charter.cli._outcome`). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from charter import settings
from charter.errors import CharterError

P = ParamSpec("P")
T = TypeVar("T")

BAD_INPUT = 2
"""Exit status of a command refused for what it was given (or a journal it cannot read)."""

err_console = Console(stderr=True, highlight=False)


def run_guarded(action: Callable[[], T]) -> T:
    """Run ``action``; turn a CharterError, or a database that fails under a read (a
    damaged file), into one line on stderr and exit status 2."""
    try:
        return action()
    except CharterError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}", markup=True, soft_wrap=True)
        raise typer.Exit(BAD_INPUT) from None
    except Exception as exc:
        reason = database_failure(exc)
        if reason is None:
            raise
        err_console.print(f"[red]error:[/] {escape(reason)}", markup=True, soft_wrap=True)
        raise typer.Exit(BAD_INPUT) from None


def guarded(command: Callable[P, int | None]) -> Callable[P, None]:
    """Decorate a Typer command: charter's errors become one line and exit status 2; a
    non-zero ``int`` it returns becomes its exit status."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        code = run_guarded(lambda: command(*args, **kwargs))
        if code:
            raise typer.Exit(code)

    return run


def database_failure(exc: Exception) -> str | None:
    """One line for a read the database failed midway (a damaged file), or None if
    ``exc`` is no database error. (SQLAlchemy is imported only once one happened.)"""
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy.exc import DatabaseError

    from charter.journal._store import safe_url

    if not isinstance(exc, DatabaseError):
        return None
    reason = ((str(exc.orig) if exc.orig else str(exc)).strip().splitlines() or ["?"])[0]
    damaged = "malformed" in reason or "not a database" in reason
    hint = "; the database file is damaged: restore it from a backup" if damaged else ""
    return f"cannot read journal at {safe_url(settings.database_url())}: {reason}{hint}"
