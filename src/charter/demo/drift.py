"""The drift scenario of the demo: a fraud-screening agent calls the registered fraud-risk
model as a governed tool, first on orders like those it was trained on, then on a shifted
population; the charter's drift watch stays quiet, then raises an alert and puts the agent
under supervision.

Run it with ``charter demo --drift``.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from charter.journal import Journal
from charter.models import ModelRegistry, ModelWatch, check_drift, model_tool
from charter.models.demo import MODEL_NAME, orders, shifted_orders, train_and_register
from charter.policy import Charter
from charter.runtime import Controls, Runner
from charter.testing import ScriptedReasoner, call, make_agent, respond

AGENT = "fraud-screener"
BATCH = 120
WATCH = ModelWatch(model=MODEL_NAME, window=BATCH, min_samples=60, on_drift=["alert", "supervise"])


def _screen(runner: Runner, journal: Journal, batch: list[dict[str, float]], label: str) -> None:
    """One run per order: the agent scores it with the model and answers."""
    tool = model_tool(journal, MODEL_NAME)
    charter = Charter(name="fraud-screening", models=[WATCH])
    for order in batch:
        script = ScriptedReasoner(
            [call(tool.name, **order), lambda ctx: respond(ctx.turns[-1].observation.render())]
        )
        agent = make_agent([tool], script, charter=charter, name=AGENT)
        runner.run(agent, f"Screen a {label} order", actor="charter-demo")


def _table(title: str, report_features: list[tuple[str, float, float, bool]]) -> Table:
    table = Table(title=title)
    for column in ("input", "PSI", "KS p-value", "drifted"):
        table.add_column(column)
    for name, psi, p_value, drifted in report_features:
        table.add_row(name, f"{psi:.3f}", f"{p_value:.2g}", "[red]yes[/]" if drifted else "no")
    return table


def run_drift_demo(console: Console, *, journal: Journal, home: Path) -> int:
    """Register the model, screen normal then shifted orders, check drift after each batch.

    Returns 0 when the watch stays quiet on the first batch and fires on the second.
    """
    version = train_and_register(journal, home)
    card = version.card
    console.print(
        f"[bold]Model[/] {MODEL_NAME} v{version.version} ({version.stage}), "
        f"owner {card.owner}: {card.intended_use}"
    )
    registry = ModelRegistry(journal)
    runner = Runner(journal)
    outcomes: list[bool] = []
    try:
        for label, batch in (("usual", orders(BATCH, 11)), ("shifted", shifted_orders(BATCH, 12))):
            _screen(runner, journal, batch, label)
            (report,) = check_drift(journal, registry, WATCH, actor="charter-demo")
            rows = [(f.name, f.psi, f.ks_p, f.drifted) for f in report.features]
            console.print(_table(f"{BATCH} {label} orders: drift against the training data", rows))
            outcomes.append(report.drifted)
            if report.drifted:
                console.print(
                    f"[red]model.drift[/]: {', '.join(report.breaches)} drifted; "
                    "alert queued (`charter notifications list`)"
                )
    finally:
        runner.close()
    supervised = Controls(journal).state().supervision(AGENT)
    if supervised is not None:
        console.print(f"[yellow]{AGENT} is now supervised[/]: {supervised}")
    return 0 if outcomes == [False, True] and supervised is not None else 1
