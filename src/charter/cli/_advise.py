"""``charter advise``: should a workflow be an agent, a specialised model, or a hybrid?"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from charter.cli._errors import guarded
from charter.errors import CharterError

if TYPE_CHECKING:  # the advisor's models load when a command runs, not with every command
    from charter.advisor import Advice, Assumption, Workflow
    from charter.journal import Journal

QUESTIONS: tuple[tuple[str, str, str], ...] = (
    ("name", "Workflow name", "my-workflow"),
    ("latency.p95_seconds", "p95 latency the business needs (seconds)", "60"),
    (
        "regulatory",
        "Regulatory constraints (comma-separated: {regulations})",
        "none",
    ),
    ("systems_touched", "Systems it reads or changes (count)", "1"),
    ("volume_per_month", "Volume (cases per month)", "1000"),
    ("inputs", "Inputs (structured, unstructured or mixed)", "structured"),
    ("task_variety", "Task variety (narrow or varied)", "narrow"),
    ("labelled_history", "Labelled past outcomes available (cases)", "0"),
    ("error_cost_usd", "Cost of one wrong outcome (USD)", "50"),
    ("manual_cost_usd", "Cost of a person handling one case (USD)", "5"),
    ("horizon_months", "Horizon of the estimate (months)", "12"),
)
"""(field, question with its unit, default) for each answer asked without a file; a
question's ``{regulations}`` is replaced by the known regulatory constraints."""


def _field_error(answers: dict[str, Any], path: tuple[str, ...]) -> str | None:
    """Why the answer at ``path`` is invalid, if it is (other fields may still be missing)."""
    from pydantic import ValidationError

    from charter.advisor import Workflow

    try:
        Workflow.model_validate(answers)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(str(p) for p in err["loc"])
            if loc[: len(path)] == path:
                message = err["msg"].removeprefix("Value error, ")
                return f"{'.'.join(loc)}: {message} (got {err['input']!r})"
    return None


def ask_workflow(*, err: bool) -> Workflow:
    """Ask for each field of a workflow, re-asking until an answer is valid."""
    from charter._yaml import load_model
    from charter.advisor import REGULATIONS, Workflow

    answers: dict[str, Any] = {}
    for name, question, default in QUESTIONS:
        path = tuple(name.split("."))

        def accept(text: str, path: tuple[str, ...] = path) -> Any:
            value: Any = text.strip()
            if path == ("regulatory",):
                value = [part.strip() for part in value.split(",") if part.strip()]
            target = answers
            for key in path[:-1]:
                target = target.setdefault(key, {})
            target[path[-1]] = value
            problem = _field_error(answers, path)
            if problem is not None:
                raise typer.BadParameter(problem)
            return value

        question = question.format(regulations=", ".join(REGULATIONS))
        typer.prompt(question, default=default, value_proc=accept, err=err)
    return load_model(Workflow, answers, "answers")


def _usd(value: float) -> str:
    sign, amount = ("-" if value < 0 else ""), abs(value)
    if amount >= 1000:
        return f"{sign}${amount:,.0f}"
    return f"{sign}${amount:,.2f}" if amount >= 1 or amount == 0 else f"{sign}${amount:.4f}"


def _payback(months: float | None) -> str:
    if months is None:
        return "never"
    if months == 0:
        return "at once"
    return "<0.1 mo" if months < 0.1 else f"{months:.1f} mo"


def _value(assumption: Assumption) -> str:
    if assumption.unit == "USD":
        return _usd(assumption.value)
    if assumption.unit.startswith("share"):
        return f"{assumption.value:.1%}"
    return f"{assumption.value:,.0f} {assumption.unit}"


def print_advice(console: Console, advice: Advice) -> None:
    """The options' scores and estimates, the recommendation, reasons and assumptions."""
    from charter.advisor import OPTIONS

    months = advice.horizon_months
    table = Table(box=box.SIMPLE_HEAD, title=f"{escape(advice.workflow)}: model, agent or hybrid?")
    for column in ("option", "score", "cost/case", "monthly cost", "of which errors"):
        table.add_column(column, justify="left" if column == "option" else "right")
    for column in ("savings/month", "build", f"net over {months} mo", "ROI", "payback"):
        table.add_column(column, justify="right")
    for e in advice.estimates:
        table.add_row(
            e.option,
            str(advice.scores[e.option]),
            _usd(e.cost_per_case_usd),
            _usd(e.monthly_cost_usd),
            _usd(e.monthly_error_cost_usd),
            _usd(e.monthly_savings_usd),
            _usd(e.build_cost_usd),
            _usd(e.net_usd),
            "-" if e.roi_percent is None else f"{e.roi_percent:,.0f}%",
            _payback(e.payback_months),
            style="bold" if e.option == advice.recommendation else None,
        )
    console.print(table)
    console.print(f"manual today: {_usd(advice.manual_monthly_cost_usd)} a month, errors included")
    others = ", ".join(f"{o} {s}" for o, s in advice.scores.items() if o != advice.recommendation)
    console.print(
        f"[bold]recommendation: {advice.recommendation}[/] "
        f"(score {advice.scores[advice.recommendation]}; {others})"
    )
    reasons = Table("model", "agent", "hybrid", "because", box=box.SIMPLE_HEAD, pad_edge=False)
    for reason in advice.reasons:
        points = [f"{reason.points[o]:+d}" if reason.points[o] else "" for o in OPTIONS]
        reasons.add_row(*points, escape(reason.text))
    console.print(reasons)
    if advice.measured is not None:
        m = advice.measured
        rate = "-" if m.success_rate is None else f"{m.success_rate:.0%}"
        cost = "-" if m.mean_cost_usd is None else _usd(m.mean_cost_usd)
        median = "-" if m.median_cost_usd is None else _usd(m.median_cost_usd)
        took = "-" if m.median_duration_seconds is None else f"{m.median_duration_seconds:.1f}s"
        console.print(
            f"measured {escape(m.agent)}: {m.runs} run(s), {m.finished} finished, "
            f"{rate} succeeded ({m.denied} denied, {m.failed} failed), "
            f"cost per run mean {cost} / median {median}, "
            f"{m.approvals_per_run or 0:.2f} approval(s) per run, "
            f"median {m.median_steps or 0:g} step(s) and {took}"
        )
    for note in advice.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    assumptions = Table("assumption", "value", "source", "note", box=box.SIMPLE_HEAD)
    for a in advice.assumptions:
        assumptions.add_row(a.name, _value(a), a.source, escape(a.note))
    console.print(assumptions)


def register(
    app: typer.Typer,
    console: Console,
    journal: Callable[[], Journal],
) -> None:
    """Add ``charter advise`` to ``app`` (the CLI's helpers are passed in)."""

    @app.command("advise")
    @guarded
    def advise_command(
        workflow_file: Annotated[
            Path | None,
            typer.Argument(help="Workflow YAML file. Without it, each figure is asked for."),
        ] = None,
        agent: Annotated[
            str | None,
            typer.Option(
                "--agent", help="Use this agent's journaled runs for its cost and error rate."
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the advice as JSON.")] = False,
    ) -> None:
        """Should a workflow be an agent, a specialised model, or a hybrid of both?

        Scores the options on documented criteria and estimates each one's cost,
        savings, ROI and payback against doing the work by hand.
        """

        from charter.advisor import advise, load_workflow, measure

        workflow = load_workflow(workflow_file) if workflow_file is not None else None
        measured = None
        if agent is not None:  # before any question: an unknown agent is an error
            store = journal()
            try:
                measured = measure(store, agent)
            finally:
                store.close()
            if measured.runs == 0:
                raise CharterError(
                    f"no runs of agent {agent!r} in the journal; `charter runs` lists runs"
                )
        if workflow is None:
            workflow = ask_workflow(err=as_json)
        advice = advise(workflow, measured)
        if as_json:
            print(advice.model_dump_json(indent=2))
        else:
            print_advice(console, advice)
