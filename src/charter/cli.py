"""The ``charter`` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from charter import (
    _cli_advise,
    _cli_approvals,
    _cli_controls,
    _cli_effects,
    _cli_eval,
    _cli_mcp,
    _cli_models,
    _cli_policy,
    _cli_report,
    _cli_server,
    settings,
)
from charter._transcript import describe
from charter.errors import CharterError, JournalError

if TYPE_CHECKING:  # commands import what they use: `charter --help` loads no database layer
    from charter.journal import Journal, JournalVerifier, Record

app = typer.Typer(
    help="charter: a governed runtime for AI agents.", no_args_is_help=True, add_completion=False
)
audit_app = typer.Typer(help="Verify, checkpoint and export the journal.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
runs_app = typer.Typer(help="List runs (the default) and continue waiting ones.")
app.add_typer(runs_app, name="runs")

# Piped output keeps whole lines (for grep) instead of Rich's 80-column default.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False)

T = TypeVar("T")

IdempotencyKey = Annotated[
    str | None,
    typer.Option(
        "--idempotency-key",
        help="Starting again with the same key (yours, for this agent) gives the run it "
        "started instead of starting another; another goal under it is refused.",
    ),
]


def _guarded(action: Callable[[], T]) -> T:
    """Run ``action``; turn a CharterError, or a database that fails under a read (a
    damaged file), into one line on stderr and exit status 2."""
    try:
        return action()
    except CharterError as exc:
        err_console.print(f"[red]error:[/] {exc}", markup=True, soft_wrap=True)
        raise typer.Exit(2) from None
    except Exception as exc:
        reason = _database_failure(exc)
        if reason is None:
            raise
        err_console.print(f"[red]error:[/] {escape(reason)}", markup=True, soft_wrap=True)
        raise typer.Exit(2) from None


def _database_failure(exc: Exception) -> str | None:
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


def _journal(*, signed: bool = False, read_only: bool = False) -> Journal:
    from charter.journal import Journal, load_or_create_signer

    # A signed journal checkpoints its head after every run; the key is created on first use.
    # A read-only one is only read: a mistyped path is an error, not a new empty journal.
    signer = load_or_create_signer(settings.signing_key_path()) if signed else None
    return Journal(settings.database_url(), signer, read_only=read_only)


def print_record(record: Record) -> None:
    """Print one transcript line for ``record`` (if it merits one)."""
    line = describe(record)
    if line is not None:
        console.print(line, soft_wrap=True)


def resolve_run_id(journal: Journal, prefix: str) -> str:
    """Expand a (possibly shortened) run id; raise RunNotFoundError if absent,
    AmbiguousIdError (listing the candidates) if several runs start so."""
    from charter.runtime._lookup import resolve_run_id as resolve

    return resolve(journal, prefix)


@app.command()
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
) -> None:
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

    def go() -> int:
        agent = load_agent(agent_file)
        who = _cli_controls.actor_or_user(actor)
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
                return _cli_effects.replayed_start(
                    console, journal, claim.run_id, started=claim.started
                )
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
        return _cli_approvals.run_outcome(console, result)

    raise typer.Exit(_guarded(go))


@app.command()
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

    def go() -> None:
        agent = load_agent(agent_file)  # a bad agent file is refused now, not in a worker
        who, run_id = _cli_controls.actor_or_user(actor), new_run_id()
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

    _guarded(go)


@app.command()
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

    def go() -> None:
        console.print(f"worker {worker_id}: {concurrency} run(s) at a time; Ctrl-C stops")
        try:
            serve(worker_id, concurrency, stop, heartbeat=heartbeat, dead_after=dead_after)
        except KeyboardInterrupt:
            stop.set()

    _guarded(go)


@app.command()
def workers(
    dead_after: Annotated[
        float, typer.Option(min=1.0, help="Seconds of silence that count as dead.")
    ] = 30.0,
) -> None:
    """List the workers that ever beat against this database, and their state."""
    import time

    from charter.runtime._workers import WorkerRegistry

    def go() -> None:
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

    _guarded(go)


@runs_app.callback(invoke_without_command=True)
def runs(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """List runs, newest first."""
    if ctx.invoked_subcommand is not None:
        return

    def go() -> None:
        from charter._cli_outcome import styled_outcome
        from charter.server._queries import list_runs

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

    _guarded(go)


DAMAGED_EXIT = 7
"""Exit status of ``charter show`` when a record of the run is damaged."""


@app.command()
def show(run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix will do).")]) -> None:
    """Show the transcript of one run, from the journal; a damaged record of it is shown
    in place (one line naming it) and the rest as usual.

    Exit status, by the run's outcome: 0 succeeded; 1 failed; 2 bad input; 3 not finished
    (running or waiting); 4 denied; 5 stopped or cancelled; 6 rolled back; 7 a record of
    the run is damaged.
    """
    from charter._cli_outcome import exit_status, styled_outcome
    from charter.journal import DamagedRecordError, read_record
    from charter.journal._outcome import OutcomeTally

    def go() -> int:
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

    raise typer.Exit(_guarded(go))


@audit_app.command("verify")
def audit_verify(
    public_keys: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            metavar="PATH",
            help="PEM public key checkpoints must verify with (repeat for rotated keys). "
            "Default: the local signing key, if there is one.",
        ),
    ] = None,
    expect_signed_through: Annotated[
        int | None,
        typer.Option(
            "--expect-signed-through",
            metavar="SEQ",
            min=1,
            help="Fail unless signatures cover at least records 1..SEQ (the signed head "
            "you saw last): catches checkpoints deleted after a rewrite.",
        ),
    ] = None,
) -> None:
    """Check the whole hash chain and the signed checkpoints, read-only; say which
    records a signature covers; exit 1 naming each bad record."""

    def go() -> int:
        from charter.journal import load_or_create_signer, load_verifier
        from charter.journal._store import safe_url

        keys: list[JournalVerifier] = [load_verifier(path) for path in public_keys or []]
        key_path = settings.signing_key_path()
        if not keys and key_path.exists():  # never create a key just to verify
            keys = [load_or_create_signer(key_path).verifier]
        journal = _journal(read_only=True)
        nothing = journal.stored_head() is None and not journal.checkpoints()
        if nothing and next(journal.records(), None) is None:
            raise JournalError(
                f"the journal at {safe_url(journal.url)} holds no records: nothing to "
                "verify (check CHARTER_HOME or CHARTER_DATABASE_URL)"
            )
        report = journal.verify(keys)
        console.print(f"{report.checked:,} records checked (seq 1\N{EN DASH}{report.head_seq:,})")
        if report.checkpoints_checked:
            console.print(
                f"{report.checkpoints_checked} checkpoint(s) checked with key(s) "
                f"{', '.join(k.key_id for k in keys)}"
            )
        if report.checkpoints_unchecked:
            why = "stopped at too many problems" if keys else "no public key: pass --public-key"
            console.print(
                f"[yellow]{report.checkpoints_unchecked} checkpoint(s) unchecked[/] ({why})"
            )
        style = "" if report.unsigned == 0 else "[yellow]"
        console.print(f"{style}{report.coverage()}", soft_wrap=True)
        ends = report.unsigned_runs
        if ends:
            named = ", ".join(f"{e.run_id[:12]} ({e.kind} at seq {e.seq:,})" for e in ends[:10])
            more = f" and {len(ends) - 10} more" if len(ends) > 10 else ""
            console.print(
                f"[yellow]suspicious:[/] {len(ends)} finished or waiting run(s) have records "
                "beyond the last signature, though charter signs each run's end as it writes "
                f"it: {named}{more}",
                soft_wrap=True,
            )
        status = 0
        if expect_signed_through is not None and report.signed_through < expect_signed_through:
            err_console.print(
                f"[red]signed head too low[/]: signatures cover records up to seq "
                f"{report.signed_through:,}, but you expected at least {expect_signed_through:,}: "
                "checkpoints were deleted or the journal was replaced by an older one",
                soft_wrap=True,
            )
            status = 1
        if report.ok:
            verdict = "chain intact" if ends or status else "journal intact"
            console.print(f"[green]{verdict}[/]: {report.checked:,} records verified")
            return status
        for problem in report.problems:
            err_console.print(f"[red]{problem.kind}[/] at seq {problem.seq}: {problem.message}")
        err_console.print(f"[red]journal TAMPERED[/]: {len(report.problems)} problem(s)")
        return 1

    raise typer.Exit(_guarded(go))


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the journal's head now (creating the signing key if there is none)."""

    def go() -> None:
        journal = _journal(signed=True)
        made = journal.checkpoint()
        if made is None:
            existing = journal.checkpoints()
            if not existing:
                console.print("journal is empty: nothing to checkpoint")
            else:
                last = existing[-1]
                console.print(
                    f"head already checkpointed: seq {last.seq} hash {last.hash[:16]} "
                    f"key {last.key_id}"
                )
            return
        console.print(f"checkpoint: seq {made.seq} hash {made.hash[:16]} key {made.key_id}")

    _guarded(go)


@audit_app.command("public-key")
def audit_public_key() -> None:
    """Print the signing key's public key (PEM) for auditors; creates the key if needed."""

    def go() -> None:
        from charter.journal import load_or_create_signer

        signer = load_or_create_signer(settings.signing_key_path())
        sys.stdout.write(signer.public_pem())

    _guarded(go)


@audit_app.command("export")
def audit_export(
    run_id: Annotated[str | None, typer.Option("--run", help="Only this run.")] = None,
) -> None:
    """Write journal records as JSON lines to stdout."""

    def go() -> None:
        journal = _journal(read_only=True)
        selected = resolve_run_id(journal, run_id) if run_id else None
        if selected is None:
            journal.check_file()  # a damaged page must not end the export silently
        for record in journal.records(selected):
            sys.stdout.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")

    _guarded(go)


@app.command()
def trace(
    run_id: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough).")],
) -> None:
    """Rebuild a run's OpenTelemetry trace from the journal: sent over OTLP when
    OTEL_EXPORTER_OTLP_ENDPOINT is set, else printed as JSON lines (one span each)."""
    import os

    from charter.observe import export_run, telemetry_from_env

    def go() -> None:
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

    _guarded(go)


@app.command()
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
) -> None:
    """Run the customer-operations demo on the embedded local model."""

    def go() -> int:
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

    raise typer.Exit(_guarded(go))


_cli_policy.register(app, console, _journal, _guarded, resolve_run_id)
_cli_controls.register(app, console, _journal, _guarded)
_cli_effects.register(runs_app, console, _journal, _guarded, resolve_run_id)
_cli_advise.register(app, console, _journal, _guarded)
_cli_models.register(app, console, _journal, _guarded)
_cli_eval.register(app, console, _journal, _guarded)
_cli_report.register(app, console, _journal, _guarded)
_cli_mcp.register(app, console, _journal, _guarded)
_cli_server.register(app, console, lambda: _journal(signed=True), _guarded)
_cli_approvals.register(
    app, runs_app, console, lambda: _journal(signed=True), _guarded, resolve_run_id, print_record
)


def main(argv: list[str] | None = None) -> Any:
    """Entry point for ``python -m charter``."""
    return app(argv)
