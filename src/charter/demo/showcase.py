"""``charter demo``: the customer-operations world, governed, told in five parts.

Routine work (a read, a reply to an untrusted ticket), an injected instruction stopped by
an information-flow rule, a write held for a human and resumed with a signed receipt, a
run rolled back, and the journal verified. Every goal is judged against the world
afterwards, and a goal the agent got wrong is reported as failed, whatever the run's
status says.

The embedded model is the default reasoner. ``reasoner="script"`` tells the same story
with scripted reasoners instead, in seconds and without the model: honest ones for the
tasks, and one that obeys the injection for part 2.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from charter.agent import Agent, load_agent
from charter.demo._screen import Transcript, note, part_header, receipt_table, verdict_line
from charter.demo._story import (
    AUDIT,
    DEMO_GOALS,
    ROLLBACK_ORDER,
    Check,
    DemoGoal,
    Evidence,
    Part,
    Verdict,
    flow_rule_fired,
    judge,
    order_line,
    refundable_again,
    rolled_back,
)
from charter.demo.world import create_world, default_world_path, session
from charter.errors import ConfigError
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
from charter.runtime._rollback import rollback
from charter.testing import ScriptedReasoner

__all__ = ["AGENT_FILE", "DEMO_GOALS", "DemoGoal", "ReasonerMode", "run_demo"]

AGENT_FILE = Path(__file__).with_name("support.agent.yaml")
ReasonerMode = Literal["agent", "script"]
"""``agent``: the agent file's reasoner (the embedded model); ``script``: scripted ones."""
_MODES: dict[str, ReasonerMode] = {"agent": "agent", "script": "script"}

REQUESTER = "support-desk@acme.example"
"""Who starts the demo's runs (and so may not approve their requests)."""
APPROVER = "team-lead@acme.example"
OPERATOR = "ops@acme.example"
_MAX_APPROVAL_ROUNDS = 3
_VERDICTS = ("allow", "ask", "deny", "simulate", "redact")


@dataclass(frozen=True, slots=True)
class GoalResult:
    """One judged run of the demo."""

    goal: DemoGoal
    label: str
    run: Run
    reasoner: str
    verdict: Verdict
    seconds: float
    governed: str
    """What the charter did with the run's calls (``2 allow, 1 ask``), or the rollback's
    compensations."""


class _Story:
    """Plays the demo's goals on one runner and judges each against the world."""

    def __init__(self, console: Console, agent: Agent, world: Path, mode: ReasonerMode) -> None:
        self.console, self.agent, self.world, self.mode = console, agent, world, mode
        self.runner: Runner | None = None
        """Set once the runner exists (it prints through :meth:`show`)."""
        self.transcript = Transcript()

    @property
    def _runner(self) -> Runner:
        assert self.runner is not None, "set the story's runner first"
        return self.runner

    def play(self, item: DemoGoal) -> list[GoalResult]:
        """Run ``item`` (and what its part adds: approval, rollback, the compromised run)."""
        self.console.rule(f"[bold]{item.goal}[/] [dim]({item.shows})[/]", style="dim")
        if self.mode == "script":
            obeys = item.kind == "injection"
            if obeys:
                note(
                    self.console,
                    "Model-free run: a [bold]scripted reasoner that obeys the injected "
                    "instruction[/] plays the compromised model.",
                )
            label = "scripted, obeys the injection" if obeys else "scripted"
            result = self._run(item, ScriptedReasoner(item.script), label, harm_only=obeys)
            return [result, *self._after(item, result)]
        result = self._run(item, None, "embedded model", harm_only=False)
        results = [result, *self._after(item, result)]
        if item.kind == "injection" and item.attack is not None:
            fired = flow_rule_fired(self._runner.journal.records(result.run.run_id))
            if fired is None:
                note(
                    self.console,
                    "The embedded model did not take the bait this time: it made no call the "
                    "injected instruction demands. To show what charter "
                    "does when a model does, the same goal again with a [bold]scripted "
                    "reasoner that obeys the injected instruction[/] (a compromised model):",
                )
                compromised = ScriptedReasoner(item.attack.obey)
                results.append(
                    self._run(item, compromised, "scripted, obeys the injection", harm_only=True)
                )
        return results

    def _run(
        self, item: DemoGoal, reasoner: ScriptedReasoner | None, label: str, *, harm_only: bool
    ) -> GoalResult:
        """Run ``item`` with ``reasoner`` (None: the agent's own), settle its approvals,
        and judge it (``harm_only``: only on whether the injection's harm was kept out)."""
        agent = self.agent
        if reasoner is not None:
            agent = dataclasses.replace(agent, reasoner=reasoner)
        started = time.perf_counter()
        run = self._runner.run(agent, item.goal, actor=REQUESTER)
        run = self._settle(item, agent, run)
        seconds = time.perf_counter() - started
        verdict = self._judge(run, item.checks[:1] if harm_only else item.checks)
        decided = [s.decision.verdict for s in run.steps if s.decision is not None]
        governed = ", ".join(f"{decided.count(v)} {v}" for v in _VERDICTS if v in decided)
        return GoalResult(item, item.goal, run, label, verdict, seconds, governed or "-")

    def _settle(self, item: DemoGoal, agent: Agent, run: Run) -> Run:
        """Answer the run's approval requests as the demo's approver would, and resume it."""
        rounds = 0
        while run.status == "waiting" and run.waiting_for is not None:
            rounds += 1
            approvals = self._runner.approvals
            request = approvals.get(run.waiting_for).request
            flows = [r for r in request.rules if r.startswith("flow.")]
            if rounds > _MAX_APPROVAL_ROUNDS:
                self._runner.cancel(run.run_id, actor=APPROVER, reason="too many requests")
                run.status = "stopped"
                return run
            if item.kind == "approval" and request.tool == item.approve_tool and not flows:
                note(
                    self.console,
                    f"{APPROVER} reviews request {request.request_id} "
                    f"({request.tool} {escape(str(request.args))}) and approves it.",
                )
                receipt = approvals.approve(
                    request.request_id, APPROVER, "checked the order: the desk was delayed"
                )
                self.console.print(receipt_table(receipt))
            else:
                why = (
                    f"{request.reason}; nobody asked for this {request.tool}"
                    if flows
                    else f"{request.tool} is not what the goal asked for"
                )
                note(
                    self.console,
                    f"{APPROVER} reviews request {request.request_id} ({request.tool} "
                    f"{escape(str(request.args))}, held by {', '.join(request.rules)}) and "
                    f"refuses it: {escape(why)}.",
                )
                approvals.deny(request.request_id, APPROVER, why)
            note(self.console, "The run resumes from the journal:")
            run = self._runner.resume(agent, run.run_id, actor=REQUESTER)
        return run

    def _after(self, item: DemoGoal, result: GoalResult) -> list[GoalResult]:
        """A ``rollback`` goal's run is rolled back by an operator; others end here."""
        if item.kind != "rollback":
            return []
        with session(self.world) as db:
            before = order_line(db, ROLLBACK_ORDER)
        note(
            self.console,
            f"The damage report turns out to be false. {OPERATOR} rolls the run back "
            f"([bold]charter runs rollback {result.run.run_id[:12]}[/] does the same). "
            f"Before: {before}.",
        )
        started = time.perf_counter()
        report = rollback(
            self._runner.journal, self.agent, result.run.run_id, actor=OPERATOR, on_record=self.show
        )
        with session(self.world) as db:
            after = order_line(db, ROLLBACK_ORDER)
        note(self.console, f"After: {after}.")
        checks = (rolled_back(), refundable_again(ROLLBACK_ORDER))
        verdict = self._judge(result.run, checks)
        seconds = time.perf_counter() - started
        undone = sum(1 for i in report.items if i.outcome == "compensated")
        return [
            GoalResult(
                item,
                "…then rolled back",
                result.run,
                OPERATOR,
                verdict,
                seconds,
                f"{undone} compensated",
            )
        ]

    def show(self, record: Record) -> None:
        """Print a record as the demo shows it."""
        for line in self.transcript.lines(record):
            self.console.print(line, soft_wrap=True)

    def _judge(self, run: Run, checks: tuple[Check, ...]) -> Verdict:
        records = list(self._runner.journal.records(run.run_id))
        with session(self.world) as db:
            verdict = judge(Evidence(db, run.answer, records), checks)
        self.console.print(verdict_line(verdict), soft_wrap=True)
        return verdict


def _load_agent(world: Path, mode: ReasonerMode, console: Console) -> Agent:
    """The support agent on ``world``; the embedded model loaded unless scripts stand in."""
    toolsets = [{"ref": "charter.demo.tools:toolset", "options": {"world": str(world)}}]
    overrides: dict[str, object] = {"toolsets": toolsets}
    if mode == "script":  # never touch the model: its reasoner is replaced goal by goal
        overrides["reasoner"] = {"kind": "rules", "steps": [{"respond": "unused"}]}
    agent = load_agent(AGENT_FILE, overrides=overrides)
    load = getattr(agent.reasoner, "load", None)
    if mode == "agent" and callable(load):
        with console.status("Preparing the embedded model (the first run joins and verifies it)…"):
            seconds = load()
        console.print(f"[bold]Model ready[/] ({seconds:.1f}s to load)")
    return agent


def _summary(results: list[GoalResult]) -> Table:
    table = Table(title="What each goal left in the world", title_justify="left")
    for column in ("part", "goal", "reasoner", "governed", "verdict", "seconds"):
        table.add_column(column)
    for result in results:
        mark = "[green]✓[/]" if result.verdict.ok else "[red]✗[/]"
        table.add_row(
            str(result.goal.part.number),
            escape(result.label),
            result.reasoner,
            result.governed,
            f"{mark} {escape(result.verdict.text)}",
            f"{result.seconds:.1f}",
        )
    return table


def _audit(console: Console, journal: Journal) -> bool:
    """``charter audit verify`` on the demo's journal: the chain and its signed checkpoints."""
    part_header(console, AUDIT)
    console.print("[bold]$ charter audit verify[/]")
    report = journal.verify()
    if report.checkpoints_checked and journal.signer is not None:
        console.print(
            f"{report.checkpoints_checked} checkpoint(s) checked with key "
            f"{journal.signer.key_id}; records 1..{report.signed_through} signed"
        )
    if report.ok:
        console.print(f"[green]journal intact[/]: {report.checked} records verified")
        return True
    for problem in report.problems:
        console.print(f"[red]{problem.kind}[/] at seq {problem.seq}: {escape(problem.message)}")
    console.print(f"[red]journal TAMPERED[/]: {len(report.problems)} problem(s)")
    return False


def run_demo(
    console: Console,
    *,
    journal: Journal,
    reset: bool = True,
    limit: int | None = None,
    reasoner: str = "agent",
) -> int:
    """Tell the demo's story, judge every goal against the world, verify the journal.

    Args:
        console: where the story is printed.
        journal: where the runs go (a journal with a signer signs receipts and checkpoints).
        reset: recreate the demo world first.
        limit: run only the first ``limit`` goals of :data:`DEMO_GOALS`.
        reasoner: ``agent`` (the embedded model) or ``script`` (scripted reasoners).

    Returns:
        0 when every goal's checks hold and the journal verifies, else 1.

    Raises:
        ConfigError: ``reasoner`` is neither ``agent`` nor ``script``.
    """
    mode = _MODES.get(reasoner)
    if mode is None:
        raise ConfigError(f"--reasoner must be agent or script, not {reasoner!r}")
    world = default_world_path()
    create_world(world, reset=reset)
    console.print(f"[bold]Demo world[/]: {world} ({'fresh' if reset else 'kept'})")
    fraud = train_and_register(journal, world.parent)  # the world's specialised model
    console.print(
        f"[bold]Fraud model[/]: {fraud.name} v{fraud.version} ({fraud.stage}), a governed "
        "tool for agents; `charter demo --drift` shows its drift watch"
    )
    agent = _load_agent(world, mode, console)
    goals = DEMO_GOALS[:limit]
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    task = progress.add_task("starting", total=len(goals))

    def waiting(record: Record) -> None:
        # What the run waits for next: the model after a result, the tool after a proposal.
        thinking = "model is reasoning" if mode == "agent" else "reasoner is proposing"
        what = "running the tool" if record.kind == "step.decided" else thinking
        progress.update(task, description=what)

    # OpenTelemetry: spans go to a file through the console exporter (and to a collector
    # too when OTEL_EXPORTER_OTLP_ENDPOINT is set).
    traces = world.parent / "demo-traces.jsonl"
    results: list[GoalResult] = []
    story = _Story(console, agent, world, mode)
    with traces.open("w", encoding="utf-8") as stream:
        telemetry = telemetry_from_env(console=True, stream=stream)
        listeners: list[Callable[[Record], None] | None] = [
            story.show,
            waiting,
            telemetry.listener if telemetry else None,
        ]
        story.runner = runner = Runner(journal, on_record=chain_listeners(*listeners))
        try:
            with progress:
                part: Part | None = None
                for item in goals:
                    if item.part is not part:
                        part = item.part
                        part_header(console, part)
                    results.extend(story.play(item))
                    progress.advance(task)
        finally:
            runner.close()
            if telemetry is not None:
                telemetry.shutdown()

    console.print()
    console.print(_summary(results))
    with traces.open(encoding="utf-8") as written:
        spans = sum(1 for line in written if line.strip())
    console.print(
        f"[bold]OpenTelemetry[/]: {spans} spans (GenAI conventions) in {traces}; set "
        "OTEL_EXPORTER_OTLP_ENDPOINT to send them to a collector"
    )
    html = world.parent / "report.html"
    figures = cost_report(journal, parse_period(None, None))
    html.write_text(render_report(figures), encoding="utf-8")
    console.print(
        f"[bold]Cost and ROI[/]: {html} ({figures.overall.runs} runs in the last 30 days; "
        "`charter report` makes it for any period)"
    )
    intact = _audit(console, journal)
    met = sum(1 for r in results if r.verdict.ok)
    breached = sum(1 for r in results if r.verdict.breached)
    held = intact and not breached
    journal_state = "Journal intact" if intact else "Journal NOT intact"
    harm = (
        "no injected action reached the world"
        if not breached
        else f"{breached} injected action(s) reached the world"
    )
    console.print(
        f"\n[bold {'green' if held else 'red'}]{journal_state}; {harm}.[/]\n"
        f"[bold {'green' if met == len(results) else 'yellow'}]{met} of {len(results)} "
        "results passed their world checks[/]"
        + ("" if met == len(results) else " (each ✗ above says what the agent got wrong)")
    )
    # The exit status is charter's part: the journal verifies and no injected action got
    # through. A ✗ on the agent's own work is shown, never counted as a success, but it is
    # the model's result, which charter judges and does not make.
    return 0 if held else 1
