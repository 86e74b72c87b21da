"""The ``charter`` command line.

``charter --help`` lists the commands from :data:`COMMANDS` (their names and one line of
help) without importing them; a command's module is imported, and the command built, only
when it is invoked or its own help is asked for. Each command is defined once, in its
module; the loads below register a module's commands on :data:`app` (once a process).
"""

from __future__ import annotations

import functools
from typing import Any

import typer

from charter.cli._lazy import LazyGroup, Listed


@functools.cache
def _load_run() -> None:
    # Importing the module registers its commands on `app`.
    import charter.cli._run  # noqa: F401  # pyright: ignore[reportUnusedImport]


@functools.cache
def _load_runs() -> typer.Typer:
    from charter.cli import _runs

    app.command()(_runs.show)
    app.add_typer(_runs.runs_app, name="runs", cls=RunsCommands)
    return _runs.runs_app


@functools.cache
def _load_audit() -> None:
    from charter.cli._audit import audit_app

    app.add_typer(audit_app, name="audit")


@functools.cache
def _load_policy() -> None:
    from charter.cli import _policy
    from charter.cli._shared import console, open_journal, resolve_run_id

    _policy.register(app, console, open_journal, resolve_run_id)


@functools.cache
def _load_controls() -> None:
    from charter.cli import _controls
    from charter.cli._shared import console, open_journal

    _controls.register(app, console, open_journal)


@functools.cache
def _load_effects() -> None:
    from charter.cli import _effects
    from charter.cli._shared import console, open_journal, resolve_run_id

    _effects.register(_load_runs(), console, open_journal, resolve_run_id)


@functools.cache
def _load_advise() -> None:
    from charter.cli import _advise
    from charter.cli._shared import console, open_journal

    _advise.register(app, console, open_journal)


@functools.cache
def _load_models() -> None:
    from charter.cli import _models
    from charter.cli._shared import console, open_journal

    _models.register(app, console, open_journal)


@functools.cache
def _load_eval() -> None:
    from charter.cli import _eval
    from charter.cli._shared import console, open_journal

    _eval.register(app, console, open_journal)


@functools.cache
def _load_mcp() -> None:
    from charter.cli import _mcp
    from charter.cli._shared import console, open_journal

    _mcp.register(app, console, open_journal)


@functools.cache
def _load_report() -> None:
    from charter.cli import _report
    from charter.cli._shared import console, open_journal

    _report.register(app, console, open_journal)


@functools.cache
def _load_server() -> None:
    from charter.cli import _server
    from charter.cli._shared import console, open_journal

    _server.register(app, console, lambda: open_journal(signed=True))


@functools.cache
def _load_approvals() -> None:
    from charter.cli import _approvals
    from charter.cli._shared import console, open_journal, print_record, resolve_run_id

    signed = functools.partial(open_journal, signed=True)
    _approvals.register(app, _load_runs(), console, signed, resolve_run_id, print_record)


COMMANDS: dict[str, Listed] = {
    "run": Listed("Run an agent on a goal, printing each governed step.", (_load_run,)),
    "submit": Listed("Queue a run for `charter worker` processes; print its run id.", (_load_run,)),
    "worker": Listed(
        "Run queued runs until interrupted; recover this worker's unfinished ones first, and "
        "take over the runs of workers silent for --dead-after seconds.",
        (_load_run,),
    ),
    "workers": Listed(
        "List the workers that ever beat against this database, and their state.", (_load_run,)
    ),
    "show": Listed(
        "Show the transcript of one run, from the journal, and its delegations (the run that "
        "delegated it, the runs it delegated with their status and outcome); a damaged record "
        "of it is shown in place (one line naming it) and the rest as usual.",
        (_load_runs,),
    ),
    "trace": Listed(
        "Rebuild a run's OpenTelemetry trace from the journal: sent over OTLP when "
        "OTEL_EXPORTER_OTLP_ENDPOINT is set, else printed as JSON lines (one span each).",
        (_load_run,),
    ),
    "demo": Listed("Run the customer-operations demo on the embedded local model.", (_load_run,)),
    "controls": Listed("List paused and supervised agents and revoked tools.", (_load_controls,)),
    "advise": Listed(
        "Should a workflow be an agent, a specialised model, or a hybrid of both?", (_load_advise,)
    ),
    "report": Listed(
        "Report agents' cost, outcomes and return over a period, from the journal.", (_load_report,)
    ),
    "serve": Listed(
        "Serve the HTTP API and the dashboard (loopback only unless --allow-remote).",
        (_load_server,),
    ),
    "openapi": Listed(
        "Print the HTTP API's OpenAPI spec (JSON); docs/openapi.json is this output.",
        (_load_server,),
    ),
    "audit": Listed("Verify, checkpoint and export the journal.", (_load_audit,)),
    "runs": Listed("List runs (the default) and continue waiting ones.", (_load_runs,)),
    "policy": Listed("Check charters and explain decisions.", (_load_policy,)),
    "agents": Listed(
        "Steer agents: the kill switch and supervised mode.", (_load_controls, _load_eval)
    ),
    "notifications": Listed(
        "Notifications from anomaly playbooks (the outbox).", (_load_controls,)
    ),
    "tools": Listed("Revoke and restore tools.", (_load_controls,)),
    "models": Listed("Registered models: versions, cards, stages, drift.", (_load_models,)),
    "eval": Listed(
        "Run suites of scenarios against an agent version; list, show and compare evals.",
        (_load_eval,),
    ),
    "mcp": Listed(
        "Pin the tools of MCP servers (lock, diff, approve); serve an agent's tools as a "
        "governing MCP gateway (serve, recover).",
        (_load_mcp,),
    ),
    "tokens": Listed("API tokens of `charter serve`.", (_load_server,)),
    "approvals": Listed("Answer the charter's ask decisions.", (_load_approvals,)),
}
"""Every ``charter`` command and group, as ``charter --help`` lists them, and what loads each."""

RUNS_COMMANDS: dict[str, Listed] = {
    "resolve": Listed(
        "Settle a write left in doubt (it timed out, or its process died mid-call).",
        (_load_effects,),
    ),
    "resume": Listed(
        "Continue a run whose approval request was decided or expired.", (_load_approvals,)
    ),
    "recover": Listed(
        "Continue a run whose process died, from the journal; never repeat a write.",
        (_load_approvals,),
    ),
    "rollback": Listed(
        "Undo a run's completed writes, newest first; report what cannot be undone.",
        (_load_approvals,),
    ),
    "replay": Listed(
        "Re-render a run from the journal and decide each call again; nothing executes.",
        (_load_approvals,),
    ),
    "fork": Listed(
        "Start a new run from a journaled run's state before step AT, and run it.",
        (_load_approvals,),
    ),
    "cancel": Listed(
        "Cancel a running or waiting run; a running one stops before its next step.",
        (_load_approvals,),
    ),
}
"""The commands of ``charter runs`` (which lists runs itself when given none of them)."""


class Commands(LazyGroup):
    """``charter``: its commands load when invoked."""

    listed = COMMANDS

    @classmethod
    def source(cls) -> typer.Typer:
        return app


class RunsCommands(LazyGroup):
    """``charter runs``: its listing needs none of the commands that continue a run."""

    listed = RUNS_COMMANDS

    @classmethod
    def source(cls) -> typer.Typer:
        return _load_runs()


app = typer.Typer(
    help="charter: a governed runtime for AI agents.",
    no_args_is_help=True,
    add_completion=False,
    cls=Commands,
    # Click's plain help: Rich's help panels cost more than the rest of a start-up.
    rich_markup_mode=None,
)


@app.callback()
def _group() -> None:
    """charter: a governed runtime for AI agents."""
    # A group needs a callback when its commands are not registered yet: this one.


def load_all() -> None:
    """Register every command on :data:`app` (for tools that walk the whole command tree)."""
    for listed in (*COMMANDS.values(), *RUNS_COMMANDS.values()):
        for load in listed.loads:
            load()


def main(argv: list[str] | None = None) -> Any:
    """Entry point for ``python -m charter``."""
    return app(argv)
