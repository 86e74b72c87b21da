"""``charter report``: what agents cost, how their runs ended and what they saved, as one
self-contained HTML file or as JSON."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from charter.cli._errors import guarded
from charter.errors import CharterError

if TYPE_CHECKING:
    from charter.journal import Journal


def register(
    app: typer.Typer,
    console: Console,
    journal: Callable[[], Journal],
) -> None:
    """Add ``charter report`` to ``app`` (the CLI's helpers are passed in)."""

    @app.command("report")
    @guarded
    def report_command(
        out: Annotated[
            Path, typer.Option("--out", help="HTML file to write (replaced if it exists).")
        ] = Path("report.html"),
        since: Annotated[
            str | None,
            typer.Option(
                help="Start: a date (YYYY-MM-DD, midnight UTC) or an ISO 8601 time. "
                "Default: 30 days before the end."
            ),
        ] = None,
        until: Annotated[
            str | None,
            typer.Option(
                help="End: a date (that whole day included) or an ISO 8601 time. Default: now."
            ),
        ] = None,
        agent: Annotated[str | None, typer.Option(help="Only this agent.")] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the figures as JSON instead.")
        ] = False,
    ) -> None:
        """Report agents' cost, outcomes and return over a period, from the journal.

        Per agent: runs and success rate, cost per run (model tokens and tools), cost by
        tool and model, violations by rule, approvals, run duration, and against the
        charter's baseline the hours saved, their value, net savings and ROI.
        """
        from charter.observe import cost_report, parse_period, render_report

        period = parse_period(since, until)
        store = journal()
        try:
            report = cost_report(store, period, agent=agent)
        finally:
            store.close()
        if as_json:
            print(report.model_dump_json(indent=2))
            return
        html = render_report(report)
        try:
            out.write_text(html, encoding="utf-8")
        except OSError as exc:
            raise CharterError(
                f"cannot write the report to {out}: {exc.strerror or exc}; pick another --out"
            ) from exc
        runs, agents = report.overall.runs, len(report.agents)
        console.print(
            f"wrote {escape(str(out))}: {runs} run(s) of {agents} agent(s), "
            f"{report.since[:19]} to {report.until[:19]} UTC"
        )
