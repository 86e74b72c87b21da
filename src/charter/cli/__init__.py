"""The ``charter`` command line."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from charter import settings
from charter._transcript import describe
from charter.cli import (
    _advise,
    _approvals,
    _audit,
    _controls,
    _effects,
    _eval,
    _models,
    _policy,
    _report,
    _server,
)
from charter.cli._errors import err_console, guarded
from charter.cli._shared import console, print_record, resolve_run_id
from charter.cli._shared import open_journal as _journal
from charter.errors import CharterError

if TYPE_CHECKING:  # commands import what they use: `charter --help` loads no database layer
    from charter.journal import Record

app = typer.Typer(
    help="charter: a governed runtime for AI agents.", no_args_is_help=True, add_completion=False
)
app.add_typer(_audit.audit_app, name="audit")
runs_app = typer.Typer(help="List runs (the default) and continue waiting ones.")
app.add_typer(runs_app, name="runs")

T = TypeVar("T")

IdempotencyKey = Annotated[
    str | None,
    typer.Option(
        "--idempotency-key",
        help="Starting again with the same key (yours, for this agent) gives the run it "
        "started instead of starting another; another goal under it is refused.",
    ),
]


@app.command()
@guarded
def run(
    agent_file: Annotated[Path, typer.Argument(help="Agent YAML file.")],
    goal: Annotated[str, typer.Argument(help="What the agent should achieve.")],
    actor: Annotated[
        str | None, typer.Option("--as", help="Who starts the run. Default: the OS user.")
    ] = None,
    trace_console: Annotated[
        bool,
        typer.Option(
            "--trace-console",
            help="Print the run's OpenTelemetry spans as JSON lines on stderr (OTLP export "
            "follows OTEL_EXPORTER_OTLP_ENDPOINT either way).",
        ),
    ] = False,
    idempotency_key: IdempotencyKey = None,
) -> int:
    """Run an agent on a goal, printing each governed step.

    Exit status, by the run's outcome: 0 succeeded; 1 failed (the run, or a tool call);
    2 bad input; 3 waiting for an approval; 4 denied (a call was refused); 5 stopped or
    cancelled; 6 rolled back.
    """
    from charter.agent import load_agent
    from charter.observe import chain_listeners, run_trace_id, telemetry_from_env
    from charter.runtime import Runner
    from charter.runtime._runner import new_run_id
    from charter.runtime._starts import claim_start

    agent = load_agent(agent_file)
    who = _controls.actor_or_user(actor)
    journal = _journal(signed=True)
    run_id: str | None = None
    if idempotency_key is not None:
        claim = claim_start(
            journal,
            agent=agent.name,
            actor=who,
            key=idempotency_key,
            goal=goal,
            run_id=new_run_id(),
        )
        if not claim.new:
            return _effects.replayed_start(console, journal, claim.run_id, started=claim.started)
        run_id = claim.run_id
    telemetry = telemetry_from_env(console=trace_console, stream=sys.stderr)
    listener = chain_listeners(print_record, telemetry.listener if telemetry else None)
    runner = Runner(journal, on_record=listener)
    try:
        result = runner.run(agent, goal, actor=who, run_id=run_id)
    finally:
        runner.close()
        if telemetry is not None:
            telemetry.shutdown()
    if telemetry is not None:
        console.print(f"trace {run_trace_id(result.run_id)}")
    return _approvals.run_outcome(console, result)


@app.command()
@guarded
def submit(
    agent_file: Annotated[Path, typer.Argument(help="Agent YAML file.")],
    goal: Annotated[str, typer.Argument(help="What the agent should achieve.")],
    actor: Annotated[
        str | None, typer.Option("--as", help="Who starts the run. Default: the OS user.")
    ] = None,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Queue a run for `charter worker` processes; print its run id."""
    from charter.agent import load_agent
    from charter.runtime._runner import new_run_id
    from charter.runtime._starts import claim_start
    from charter.runtime._worker import submit as enqueue

    agent = load_agent(agent_file)  # a bad agent file is refused now, not in a worker
    who, run_id = _controls.actor_or_user(actor), new_run_id()
    if idempotency_key is not None:
        claim = claim_start(
            _journal(),
            agent=agent.name,
            actor=who,
            key=idempotency_key,
            goal=goal,
            run_id=run_id,
        )
        if claim.started:
            console.print(f"run {claim.run_id} was already started with this key")
            return
        run_id = claim.run_id  # queued again if never started: the queue keeps one
    run_id = enqueue(agent_file, goal, who, run_id)
    console.print(f"queued run {run_id}")


@app.command()
@guarded
def worker(
    worker_id: Annotated[
        str, typer.Option("--id", help="Stable id: a restarted worker recovers its runs.")
    ] = "worker-1",
    concurrency: Annotated[int, typer.Option(min=1, help="Runs at a time.")] = 4,
    heartbeat: Annotated[
        float, typer.Option(min=0.1, help="Seconds between this worker's heartbeats.")
    ] = 2.0,
    dead_after: Annotated[
        float,
        typer.Option(
            min=1.0, help="Seconds of silence after which a worker's runs are taken over."
        ),
    ] = 30.0,
) -> None:
    """Run queued runs until interrupted; recover this worker's unfinished ones first, and
    take over the runs of workers silent for --dead-after seconds."""
    import signal
    import threading

    from charter.runtime._worker import serve

    stop = threading.Event()

    def on_term(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)

    console.print(f"worker {worker_id}: {concurrency} run(s) at a time; Ctrl-C stops")
    try:
        serve(worker_id, concurrency, stop, heartbeat=heartbeat, dead_after=dead_after)
    except KeyboardInterrupt:
        stop.set()


@app.command()
@guarded
def workers(
    dead_after: Annotated[
        float, typer.Option(min=1.0, help="Seconds of silence that count as dead.")
    ] = 30.0,
) -> None:
    """List the workers that ever beat against this database, and their state."""
    import time

    from charter.runtime._workers import WorkerRegistry

    rows = WorkerRegistry(_journal(), "", dead_after=dead_after).workers()
    if not rows:
        console.print("no workers have started against this database")
        return
    now = int(time.time() * 1000)
    table = Table("worker", "host", "pid", "last beat", "state")
    for row in rows:
        table.add_row(
            row.worker_id,
            row.host,
            str(row.pid),
            f"{(now - row.beat_ms) / 1000:.1f}s ago",
            row.state(now, dead_after),
        )
    console.print(table)


@runs_app.callback(invoke_without_command=True)
@guarded
def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """List runs, newest first."""
    if ctx.invoked_subcommand is not None:
        return

    from charter.cli._outcome import styled_outcome
    from charter.views._runs import list_runs

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("run", no_wrap=True, min_width=32)  # whole: other commands take it
    for column in ("agent", "status", "outcome", "steps", "tokens", "started"):
        table.add_column(column, no_wrap=True)
    table.add_column("goal", overflow="ellipsis", no_wrap=True, min_width=12)
    for run in list_runs(_journal(read_only=True), limit=limit):
        finished = run.status not in ("running", "waiting", "damaged")
        table.add_row(
            run.run_id,
            run.agent,
            run.status,
            styled_outcome(run.outcome),
            str(run.steps) if finished else "",
            str(run.tokens) if finished else "",
            datetime.fromisoformat(run.started_at).strftime("%m-%d %H:%M:%S"),
            run.goal[:60] if run.damaged is None else f"[red]{escape(run.damaged)}[/]",
        )
    console.print(table)


DAMAGED_EXIT = 7
"""Exit status of ``charter show`` when a record of the run is damaged."""


@app.command()
@guarded
def show(run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix will do).")]) -> int:
    """Show the transcript of one run, from the journal; a damaged record of it is shown
    in place (one line naming it) and the rest as usual.

    Exit status, by the run's outcome: 0 succeeded; 1 failed; 2 bad input; 3 not finished
    (running or waiting); 4 denied; 5 stopped or cancelled; 6 rolled back; 7 a record of
    the run is damaged.
    """
    from charter.cli._outcome import exit_status, styled_outcome
    from charter.journal import DamagedRecordError, read_record
    from charter.journal._outcome import OutcomeTally

    journal = _journal(read_only=True)
    tally = OutcomeTally()
    damaged = 0

    def line_of(record: Record) -> str | None:
        tally.add(record.kind, record.payload)
        return describe(record)

    for record in journal.records(resolve_run_id(journal, run_id)):
        try:
            line = read_record(record, line_of)
        except DamagedRecordError as exc:  # shown in place; the rest reads as usual
            damaged += 1
            line = f"[red]damaged[/] {escape(str(exc))}"
        if line is not None:
            console.print(line, soft_wrap=True)
    outcome = tally.outcome()
    if outcome is not None:
        console.print(f"outcome {styled_outcome(outcome)}")
    return DAMAGED_EXIT if damaged else exit_status(outcome)


@app.command()
@guarded
def trace(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
) -> None:
    """Rebuild a run's OpenTelemetry trace from the journal: sent over OTLP when
    OTEL_EXPORTER_OTLP_ENDPOINT is set, else printed as JSON lines (one span each)."""
    import os

    from charter.observe import export_run, telemetry_from_env

    journal = _journal(read_only=True)
    full = resolve_run_id(journal, run_id)
    otlp = bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    telemetry = telemetry_from_env(console=not otlp, stream=sys.stdout)
    if telemetry is None or telemetry.tracer_provider is None:
        raise CharterError("tracing is turned off (OTEL_SDK_DISABLED) or has no exporter")
    try:
        trace_id = export_run(journal, full, telemetry.tracer_provider)
    finally:
        telemetry.shutdown()
    err_console.print(f"trace {trace_id}" + (" sent over OTLP" if otlp else ""))


@app.command()
@guarded
def demo(
    reset: Annotated[bool, typer.Option(help="Recreate the demo world first.")] = True,
    goals: Annotated[int, typer.Option(help="Run only the first N demo goals.")] = 0,
    reasoner: Annotated[
        str,
        typer.Option(
            help="agent: the embedded model (minutes); script: scripted reasoners tell the "
            "same story without the model (seconds)."
        ),
    ] = "agent",
    drift: Annotated[
        bool,
        typer.Option(
            "--drift", help="Run the model-drift scenario instead (the fraud model as a tool)."
        ),
    ] = False,
    reset_world: Annotated[
        bool,
        typer.Option(
            "--reset-world",
            help="Only put the demo world back to its seed (no model needed), then exit.",
        ),
    ] = False,
) -> int:
    """Run the customer-operations demo on the embedded local model."""

    if reset_world:
        from charter.demo.world import create_world, default_world_path

        path = default_world_path()
        try:
            world = create_world(path, reset=True)
        except OSError as exc:
            raise CharterError(f"cannot reset the demo world at {path}: {exc}") from exc
        console.print(f"demo world reset to its seed: {world}")
        return 0
    if drift:
        from charter.demo.drift import run_drift_demo

        home = settings.charter_home()
        return run_drift_demo(console, journal=_journal(signed=True), home=home)
    from charter.demo.showcase import run_demo

    return run_demo(
        console,
        journal=_journal(signed=True),
        reset=reset,
        limit=goals or None,
        reasoner=reasoner,
    )


_policy.register(app, console, _journal, resolve_run_id)
_controls.register(app, console, _journal)
_effects.register(runs_app, console, _journal, resolve_run_id)
_advise.register(app, console, _journal)
_models.register(app, console, _journal)
_eval.register(app, console, _journal)
_report.register(app, console, _journal)
_server.register(app, console, lambda: _journal(signed=True))
_approvals.register(
    app, runs_app, console, lambda: _journal(signed=True), resolve_run_id, print_record
)


def main(argv: list[str] | None = None) -> Any:
    """Entry point for ``python -m charter``."""
    return app(argv)
