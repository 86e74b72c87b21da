"""``charter eval <suite> --agent <file>``, ``charter eval list|show|compare``, and
``charter agents rollout|promote|demote``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperGroup

from charter.cli._controls import actor_or_user, agents_app
from charter.cli._errors import guarded

if TYPE_CHECKING:
    from charter.evals import CaseResult, EvalResult
    from charter.journal import Journal
    from charter.policy import Phase

Actor = Annotated[str | None, typer.Option(help="Who acts (journaled). Default: the OS user.")]
AgentFile = Annotated[Path, typer.Argument(help="The agent file (its exact version is judged).")]


class _DefaultRun(TyperGroup):
    """``charter eval SUITE ...`` means ``charter eval run SUITE ...``."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Route a first argument that is no subcommand to ``run``."""
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


eval_app = typer.Typer(
    cls=_DefaultRun,
    help="Run suites of scenarios against an agent version; list, show and compare evals.",
    no_args_is_help=True,
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _kpi_text(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    if name.endswith("_rate"):
        return f"{value:.1%}"
    if name.endswith("_usd"):
        return f"${value:.4f}"
    return f"{value:g}"


def register(
    app: typer.Typer,
    console: Console,
    journal: Callable[[], Journal],
) -> None:
    """Add ``charter eval`` and the rollout commands to ``app``."""

    def show_result(result: EvalResult) -> None:
        table = Table(box=box.SIMPLE_HEAD, title=f"{result.suite}: {result.agent}")
        for column in ("case", "outcome", "status", "steps", "denied", "asked", "cost", "why"):
            table.add_column(column)
        for case in result.cases:
            table.add_row(*_case_row(case))
        console.print(table)
        kpis = ", ".join(f"{k} {_kpi_text(k, v)}" for k, v in result.kpis.items())
        console.print(
            f"eval [bold]{result.eval_id}[/] of {escape(result.agent)} "
            f"{escape(result.version_id)} ({result.reasoner} reasoner, "
            f"{len(result.cases)} cases, {result.seconds:.1f}s)\n{escape(kpis)}",
            soft_wrap=True,
        )

    def _case_row(case: CaseResult) -> list[str]:
        if case.error is not None and case.status == "error":
            outcome = "[red]error[/]"
        elif case.attack_succeeded:
            outcome = "[red]attacked[/]"
        elif case.passed is False:
            outcome = "[red]failed[/]"
        elif case.passed is None:
            outcome = "[green]defended[/]"
        else:
            outcome = "[green]passed[/]" + (" · defended" if case.attack_succeeded is False else "")
        why = "; ".join([*case.failures, *case.attack_evidence]) or (case.error or "")
        return [
            escape(case.name),
            outcome,
            case.status + (f" ({case.outcome})" if case.outcome else ""),
            str(case.steps),
            str(case.denials),
            str(case.approvals),
            f"${case.cost_usd:.4f}",
            escape(why[:160]),
        ]

    @eval_app.command("run")
    @guarded
    def run(
        suite: Annotated[Path, typer.Argument(help="The suite file (YAML).")],
        agent: Annotated[Path, typer.Option(help="The agent file to evaluate.")],
        reasoner: Annotated[
            str,
            typer.Option(
                help="agent: the agent's own reasoner; script: each case's script (judges "
                "the charter and tools alone)."
            ),
        ] = "agent",
        jobs: Annotated[int, typer.Option(min=1, max=64, help="Cases run at once.")] = 2,
        approver: Annotated[
            str,
            typer.Option(
                help="Who answers approval requests: none (runs that ask wait), approve "
                "or deny (every request, with a receipt, and the run resumes)."
            ),
        ] = "none",
        only: Annotated[
            str | None, typer.Option(help="Run only cases whose name matches this regex.")
        ] = None,
        record: Annotated[
            bool, typer.Option(help="Journal the result (the evidence promotions read).")
        ] = True,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> int:
        """Run SUITE against an agent (exit 1 when a case fails, errs or is attacked)."""
        from charter.errors import ConfigError
        from charter.evals import load_suite, record_eval, run_suite

        if reasoner not in ("agent", "script"):
            raise ConfigError(f"--reasoner must be agent or script, not {reasoner!r}")
        if approver not in ("none", "approve", "deny"):
            raise ConfigError(f"--approver must be none, approve or deny, not {approver!r}")
        loaded = load_suite(suite)
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
            disable=as_json,
        ) as progress:
            task = progress.add_task(loaded.suite, total=None)

            def advance(case: CaseResult) -> None:
                progress.update(task, advance=1, description=f"{loaded.suite}: {case.name}")

            result = run_suite(
                loaded,
                agent,
                suite_source=str(suite),
                reasoner="script" if reasoner == "script" else "agent",
                jobs=jobs,
                only=only,
                progress=advance,
                approver=approver,  # narrowed to the policies by the check above
            )
        if record:
            record_eval(journal(), result)
        if as_json:
            typer.echo(json.dumps(result.to_json(), indent=2))
        else:
            show_result(result)
            if not record:
                console.print("[dim]not journaled (--no-record): promotions cannot use it[/]")
        bad = any(
            c.passed is False or c.attack_succeeded or c.status == "error" for c in result.cases
        )
        return 1 if bad else 0

    @eval_app.command("list")
    @guarded
    def list_(
        suite: Annotated[str | None, typer.Option(help="Only this suite.")] = None,
        agent: Annotated[str | None, typer.Option(help="Only this agent (name).")] = None,
        limit: Annotated[int, typer.Option(min=1)] = 20,
    ) -> None:
        """Recorded evals, newest first."""
        from charter.evals import list_evals

        found = list_evals(journal(), suite=suite, agent=agent, limit=limit)
        table = Table(box=box.SIMPLE_HEAD)
        for column in ("eval", "started", "suite", "agent", "version", "reasoner", "success"):
            table.add_column(column)
        table.add_column("attacks")
        for e in found:
            kpis = e.kpis
            attacks = kpis.get("attack_successes")
            table.add_row(
                e.eval_id,
                e.started[:19],
                escape(e.suite),
                escape(e.agent),
                escape(e.version_id),
                e.reasoner,
                _pct(kpis.get("success_rate")),
                "-" if attacks is None else f"{attacks:g}",
            )
        console.print(table if found else "no recorded evals")

    @eval_app.command("show")
    @guarded
    def show(
        eval_id: Annotated[str, typer.Argument(help="Eval id (a unique prefix is enough).")],
        as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    ) -> None:
        """One recorded eval, case by case."""
        from charter.evals import get_eval

        found = get_eval(journal(), eval_id)
        if as_json:
            typer.echo(json.dumps(found.to_json(), indent=2))
        else:
            show_result(found)

    @eval_app.command("compare")
    @guarded
    def compare_(
        before: Annotated[str, typer.Argument(help="The earlier eval's id.")],
        after: Annotated[str, typer.Argument(help="The later eval's id.")],
    ) -> None:
        """KPIs of two evals of one suite side by side, and the cases that changed."""
        from charter.evals import compare, get_eval

        store = journal()
        result = compare(get_eval(store, before), get_eval(store, after))
        table = Table(box=box.SIMPLE_HEAD)
        table.add_column("kpi")
        table.add_column(f"{result.before.version_id} ({result.before.eval_id})")
        table.add_column(f"{result.after.version_id} ({result.after.eval_id})")
        for name, (old, new) in result.kpis.items():
            table.add_row(name, _kpi_text(name, old), _kpi_text(name, new))
        console.print(table)
        for label, names in (
            ("fixed", result.fixed),
            ("broken", result.broken),
            ("newly attacked", result.newly_attacked),
            ("now defended", result.defended),
        ):
            if names:
                console.print(f"{label}: {escape(', '.join(names))}")
        if not result.same_suite:
            console.print("[yellow]the suite's content changed between the two evals[/]")

    app.add_typer(eval_app, name="eval")
    _rollout_commands(console, journal)


def _rollout_commands(
    console: Console,
    journal: Callable[[], Journal],
) -> None:
    from charter.errors import ConfigError

    def phase_of(text: str | None) -> Phase | None:
        from charter.policy import PHASES

        if text is None:
            return None
        for phase in PHASES:
            if phase == text:
                return phase
        raise ConfigError(f"--to must be one of {', '.join(PHASES)}, not {text!r}")

    @agents_app.command("rollout")
    @guarded
    def rollout(agent_file: AgentFile) -> None:
        """An agent version's rollout phase and the gates before each later phase."""
        from charter.agent import load_agent
        from charter.evals import current_phase, gate_results
        from charter.policy import PHASES

        store, agent = journal(), load_agent(agent_file)
        current = current_phase(store, agent)
        console.print(
            f"[bold]{escape(agent.name)}[/] {escape(agent.version_id)}: {current} "
            f"(phases {' → '.join(PHASES)})"
        )
        if current == PHASES[-1]:
            return
        results = gate_results(store, agent, PHASES[-1])
        if not results:
            console.print("no gates declared: promotion needs no evidence")
        for r in results:
            mark = "[green]met[/]" if r.met else "[red]unmet[/]"
            console.print(f"  [{r.phase}] {mark} {escape(r.why)}", soft_wrap=True)

    @agents_app.command("promote")
    @guarded
    def promote(
        agent_file: AgentFile,
        to: Annotated[str | None, typer.Option(help="Target phase (default: the next).")] = None,
        reason: Annotated[str, typer.Option(help="Why (journaled).")] = "",
        actor: Actor = None,
    ) -> None:
        """Move an agent version to a later phase if its charter's gates are met."""
        from charter.agent import load_agent
        from charter.evals import current_phase
        from charter.evals import promote as promote_version

        store, agent = journal(), load_agent(agent_file)
        left, results = promote_version(
            store, agent, actor=actor_or_user(actor), reason=reason, to=phase_of(to)
        )
        console.print(
            f"[green]promoted[/] {escape(agent.name)} {escape(agent.version_id)}: "
            f"{left} → {current_phase(store, agent)} ({len(results)} gate(s) met)"
        )
        for r in results:
            console.print(f"  {escape(r.why)}", soft_wrap=True)

    @agents_app.command("demote")
    @guarded
    def demote(
        agent_file: AgentFile,
        to: Annotated[str, typer.Option(help="The earlier phase to move back to.")],
        reason: Annotated[str, typer.Option(help="Why (journaled).")],
        actor: Actor = None,
    ) -> None:
        """Move an agent version back to an earlier phase (no gate)."""
        from charter.agent import load_agent
        from charter.evals import demote as demote_version

        agent, target = load_agent(agent_file), phase_of(to)
        assert target is not None
        left = demote_version(journal(), agent, target, actor=actor_or_user(actor), reason=reason)
        console.print(
            f"[yellow]demoted[/] {escape(agent.name)} {escape(agent.version_id)}: {left} → {target}"
        )
