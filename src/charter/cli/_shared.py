"""What every command module of the CLI shares: the console, the journal it opens, run ids
by prefix, and the transcript line of a record. Kept light: nothing here loads a database
layer until a command calls it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rich.console import Console

from charter import settings

if TYPE_CHECKING:  # commands import what they use: `charter --help` loads no database layer
    from charter.journal import Journal, Record

# Piped output keeps whole lines (for grep) instead of Rich's 80-column default.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def open_journal(*, signed: bool = False, read_only: bool = False) -> Journal:
    from charter.journal import Journal, load_or_create_signer

    # A signed journal checkpoints its head after every run; the key is created on first use.
    # A read-only one is only read: a mistyped path is an error, not a new empty journal.
    signer = load_or_create_signer(settings.signing_key_path()) if signed else None
    return Journal(settings.database_url(), signer, read_only=read_only)


def print_record(record: Record) -> None:
    """Print one transcript line for ``record`` (if it merits one)."""
    from charter._transcript import describe

    line = describe(record)
    if line is not None:
        console.print(line, soft_wrap=True)


def resolve_run_id(journal: Journal, prefix: str) -> str:
    """Expand a (possibly shortened) run id; raise RunNotFoundError if absent,
    AmbiguousIdError (listing the candidates) if several runs start so."""
    from charter.runtime._lookup import resolve_run_id as resolve

    return resolve(journal, prefix)
