"""``charter run``, ``submit``, ``worker``, ``workers``, ``trace`` and ``demo``: the commands
that start runs and follow them. Imported only when one of them runs (``charter --help`` lists
them from :data:`charter.cli.COMMANDS`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from charter import settings
from charter.cli import _approvals, _controls, _effects, app
from charter.cli._errors import err_console, guarded
from charter.cli._shared import console, print_record, resolve_run_id
from charter.cli._shared import open_journal as _journal
from charter.errors import CharterError

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
