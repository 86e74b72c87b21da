"""``charter demo``: the customer-operations world driven by the embedded local model."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from charter._transcript import describe
from charter.agent import load_agent
from charter.demo.world import create_world, default_world_path
from charter.journal import Journal, Record
from charter.models.demo import train_and_register
from charter.observe import (
    chain_listeners,
    cost_report,
    parse_period,
    render_report,
    telemetry_from_env,
)
from charter.runtime import Run, Runner

AGENT_FILE = Path(__file__).with_name("support.agent.yaml")


@dataclass(frozen=True, slots=True)
class DemoGoal:
    """One goal of the demo and what it exercises."""

    goal: str
    shows: str


DEMO_GOALS: tuple[DemoGoal, ...] = (
    DemoGoal("What is the status of order 1042?", "a read"),
    DemoGoal(
        "Refund order 1042 in full; the customer reports the item arrived damaged.",
        "a governed write",
    ),
    DemoGoal("Read ticket 88 and reply to the customer.", "untrusted text, then a reply"),
    DemoGoal(
        "Summarise our shipping policy from the knowledge base.",
        "a document carrying an injected instruction",
    ),
    DemoGoal("Give me the churn report for the last 7 days.", "an analytics read"),
)


def run_demo(
    console: Console, *, journal: Journal, reset: bool = True, limit: int | None = None
) -> int:
    """Run the demo goals, print each governed step, verify the journal; return an exit code."""
    world = default_world_path()
    create_world(world, reset=reset)
    console.print(f"[bold]Demo world[/]: {world} ({'fresh' if reset else 'kept'})")
    fraud = train_and_register(journal, world.parent)  # the world's specialised model
    console.print(
        f"[bold]Fraud model[/]: {fraud.name} v{fraud.version} ({fraud.stage}), a governed "
        "tool for agents; `charter demo --drift` shows its drift watch"
    )
    agent = load_agent(AGENT_FILE)
    load = getattr(agent.reasoner, "load", None)
    if callable(load):
        with console.status("Preparing the embedded model (the first run joins and verifies it)…"):
            seconds = load()
        console.print(f"[bold]Model ready[/] ({seconds:.1f}s to load)")

    goals = DEMO_GOALS[:limit]
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task("starting", total=len(goals))

    def show(record: Record) -> None:
        line = describe(record)
        if line is not None:
            console.print(line, soft_wrap=True)
        # What the run waits for next: the model after a result, the tool after a proposal.
        waiting = "running the tool" if record.kind == "step.decided" else "model is reasoning"
        progress.update(task, description=waiting)

    # OpenTelemetry: spans go to a file through the console exporter (and to a collector
    # too when OTEL_EXPORTER_OTLP_ENDPOINT is set).
    traces = world.parent / "demo-traces.jsonl"
    with traces.open("w", encoding="utf-8") as stream:
        telemetry = telemetry_from_env(console=True, stream=stream)
        runner = Runner(
            journal, on_record=chain_listeners(show, telemetry.listener if telemetry else None)
        )
        outcomes: list[tuple[DemoGoal, Run, float]] = []
        try:
            with progress:
                for item in goals:
                    console.rule(f"[bold]{item.goal}[/] [dim]({item.shows})[/]")
                    started = time.perf_counter()
                    run = runner.run(agent, item.goal)
                    outcomes.append((item, run, time.perf_counter() - started))
                    progress.advance(task)
        finally:
            runner.close()
            if telemetry is not None:
                telemetry.shutdown()

    table = Table(title="Demo runs")
    for column in ("goal", "status", "steps", "denied", "tokens", "seconds"):
        table.add_column(column)
    for item, run, seconds in outcomes:
        denied = sum(1 for s in run.steps if s.decision is not None and not s.decision.allowed)
        cells = (item.goal, run.status, len(run.steps), denied, run.tokens, f"{seconds:.1f}")
        table.add_row(*(str(cell) for cell in cells))
    console.print(table)
    with traces.open(encoding="utf-8") as written:
        spans = sum(1 for line in written if line.strip())
    console.print(
        f"[bold]OpenTelemetry[/]: {spans} spans (GenAI conventions) in {traces}; set "
        "OTEL_EXPORTER_OTLP_ENDPOINT to send them to a collector"
    )
    html = world.parent / "report.html"
    figures = cost_report(journal, parse_period(None, None))
    html.write_text(render_report(figures), encoding="utf-8")
    overall = figures.overall
    console.print(
        f"[bold]Cost and ROI[/]: {html} ({overall.runs} runs in the last 30 days; "
        "`charter report` makes it for any period)"
    )
    report = journal.verify()
    if report.ok:
        console.print(f"[green]Journal intact[/]: {report.checked} records verified.")
    else:
        for problem in report.problems:
            console.print(f"[red]{problem.kind}[/] {problem.message}")
    failed = [run for _, run, _ in outcomes if run.status == "failed"]
    return 0 if report.ok and not failed else 1
