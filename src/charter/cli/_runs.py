"""``charter runs`` (the list; the commands that continue a run join this group from
:mod:`charter.cli._approvals` and :mod:`charter.cli._effects`) and ``charter show``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from charter import settings
from charter.cli._errors import guarded
from charter.cli._shared import console, resolve_run_id
from charter.cli._shared import open_journal as _journal

if TYPE_CHECKING:
    from charter.journal import Record

runs_app = typer.Typer(help="List runs (the default) and continue waiting ones.")


@runs_app.callback(invoke_without_command=True)
@guarded
def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    search: Annotated[
        str | None, typer.Option(help="A run id prefix, or words of the goal.")
    ] = None,
    agent: Annotated[str | None, typer.Option(help="Only this agent's runs.")] = None,
    tool: Annotated[str | None, typer.Option(help="Only runs that called this tool.")] = None,
    status: Annotated[
        str | None, typer.Option(help="running, waiting, completed, failed or stopped.")
    ] = None,
    outcome: Annotated[
        str | None,
        typer.Option(help="succeeded, denied, failed, rolled_back, cancelled or stopped."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Started since: 30m, 2h, 3d, 1w ago, or 2026-12-07[T13:45] UTC."),
    ] = None,
) -> None:
    """List runs, newest first; the options filter them (and combine)."""
    if ctx.invoked_subcommand is not None:
        return
    if any(v is not None for v in (search, agent, tool, status, outcome, since)):
        from charter.cli._runs_found import list_found

        filters = {"search": search, "agent": agent, "tool": tool, "status": status}
        list_found(limit=limit, outcome=outcome, since=since, **filters)
        return

    from charter.cli._outcome import styled_outcome

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("run", no_wrap=True, min_width=32)  # whole: other commands take it
    for column in ("agent", "status", "outcome", "steps", "tokens", "started"):
        table.add_column(column, no_wrap=True)
    table.add_column("goal", overflow="ellipsis", no_wrap=True, min_width=12)
    for run in _listed(limit):
        finished = run["status"] not in ("running", "waiting", "damaged")
        damaged: str | None = run["damaged"]
        table.add_row(
            run["run_id"],
            run["agent"],
            run["status"],
            styled_outcome(run["outcome"]),
            str(run["steps"]) if finished else "",
            str(run["tokens"]) if finished else "",
            datetime.fromisoformat(run["started_at"]).strftime("%m-%d %H:%M:%S"),
            run["goal"][:60] if damaged is None else f"[red]{escape(damaged)}[/]",
        )
    console.print(table)


def _listed(limit: int) -> Sequence[Mapping[str, Any]]:
    """The ``limit`` newest runs' summaries: from a SQLite journal file at the newest
    schema through sqlite3 alone (the command then loads neither SQLAlchemy nor the read
    model's Pydantic views), else through the read model."""
    from charter.views._summary import runs_in_file

    found = runs_in_file(settings.database_url(), limit=limit)
    if found is not None:
        return found
    from charter.views._runs import list_runs

    return [run.model_dump() for run in list_runs(_journal(read_only=True), limit=limit)]


DAMAGED_EXIT = 7
"""Exit status of ``charter show`` when a record of the run is damaged."""


@guarded
def show(run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix will do).")]) -> int:
    """Show the transcript of one run, from the journal, and its delegations (the run that
    delegated it, the runs it delegated with their status and outcome); a damaged record
    of it is shown in place (one line naming it) and the rest as usual.

    Exit status, by the run's outcome: 0 succeeded; 1 failed; 2 bad input; 3 not finished
    (running or waiting); 4 denied; 5 stopped or cancelled; 6 rolled back; 7 a record of
    the run is damaged.
    """
    from charter._transcript import describe
    from charter.cli._outcome import exit_status, styled_outcome
    from charter.cli._run_tree import print_run_tree
    from charter.journal import DamagedRecordError, read_record
    from charter.journal._outcome import OutcomeTally

    journal = _journal(read_only=True)
    tally = OutcomeTally()
    damaged = 0

    def line_of(record: Record) -> str | None:
        tally.add(record.kind, record.payload)
        return describe(record)

    full_id = resolve_run_id(journal, run_id)
    for record in journal.records(full_id):
        try:
            line = read_record(record, line_of)
        except DamagedRecordError as exc:  # shown in place; the rest reads as usual
            damaged += 1
            line = f"[red]damaged[/] {escape(str(exc))}"
        if line is not None:
            console.print(line, soft_wrap=True)
    damaged += 0 if print_run_tree(console, journal, full_id) else 1
    outcome = tally.outcome()
    if outcome is not None:
        console.print(f"outcome {styled_outcome(outcome)}")
    return DAMAGED_EXIT if damaged else exit_status(outcome)
