"""``charter models register|list|show|promote|archive|drift``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from charter.cli._controls import actor_or_user
from charter.cli._errors import guarded

if TYPE_CHECKING:
    from charter.journal import Journal
    from charter.models import DriftReport, ModelVersion

Actor = Annotated[str | None, typer.Option(help="Who acts (journaled). Default: the OS user.")]
Reason = Annotated[str, typer.Option(help="Why (journaled).")]
_STAGE_STYLE = {"production": "green", "staging": "yellow", "archived": "dim"}


def _stage(stage: str) -> str:
    return f"[{_STAGE_STYLE.get(stage, 'white')}]{stage}[/]"


def _show(console: Console, found: ModelVersion) -> None:
    card, lineage = found.card, found.lineage
    console.print(
        f"[bold]{escape(found.name)}[/] {escape(found.version)} {_stage(found.stage)} "
        f"({found.flavor}, {found.size_bytes:,} bytes)\n"
        f"sha256 {found.sha256}\n"
        f"registered {found.registered_at} by {escape(found.registered_by)}; "
        f"stage since {found.stage_changed_at}"
    )
    if found.trusted_types:
        console.print(f"trusted types: {escape(', '.join(found.trusted_types))}")
    console.rule("card")
    missing = card.missing()
    for label, text in (
        ("intended use", card.intended_use),
        ("owner", card.owner),
        ("training data", card.training_data),
        ("limitations", card.limitations),
    ):
        console.print(f"{label}: {escape(text) if text.strip() else '[red]missing[/]'}")
    metrics = ", ".join(f"{k} {v:g}" for k, v in card.metrics.items())
    console.print(f"metrics: {escape(metrics) if metrics else '[red]missing[/]'}")
    if missing:
        console.print(f"[yellow]incomplete card ({', '.join(missing)}): cannot go to production[/]")
    console.rule("lineage")
    console.print(
        f"training data: {escape(lineage.training_data) or '-'}"
        f" (sha256 {lineage.training_data_sha256 or '-'})\n"
        f"parent version: {escape(lineage.parent_version or '-')}; "
        f"code: {escape(lineage.code_ref) or '-'}"
    )
    console.rule("schema")
    for feature in found.inputs:
        about = f" — {escape(feature.description)}" if feature.description else ""
        console.print(f"  {escape(feature.name)}: {feature.type}{about}")
    output = found.output
    positive = "" if output.positive is None else f", positive class {output.positive!r}"
    console.print(
        f"  → {output.kind}{escape(positive)}: {{score, label, model, version}}, "
        f"{output.confidentiality}"
    )
    reference = found.reference
    console.print(
        "reference: none (drift cannot be checked)"
        if reference is None
        else f"reference: {reference.rows:,} rows (sha256 {reference.sha256[:16]}), "
        f"{len(reference.predictions):,} kept"
    )


def _drift_table(console: Console, report: DriftReport) -> None:
    watch = report.watch
    console.print(
        f"[bold]{escape(report.model)}[/] {escape(report.version)}: {report.samples} of the "
        f"last {watch.window} predictions vs {report.reference_rows:,} reference rows "
        f"(PSI > {watch.psi_max:g} or KS p < {watch.ks_p_min:g} is drift)"
    )
    if not report.judged:
        console.print(
            f"[yellow]not enough predictions to judge drift[/] "
            f"({report.samples} < min_samples {watch.min_samples})"
        )
    if not report.features:
        return
    table = Table(box=box.SIMPLE)
    for column in ("feature", "PSI", "KS statistic", "KS p-value", "drift"):
        table.add_column(column, justify="left" if column in ("feature", "drift") else "right")
    for item in report.features:
        flag = "[red]yes[/]" if item.drifted and report.judged else "no"
        table.add_row(
            escape(item.name),
            f"{item.psi:.3f}",
            f"{item.ks_statistic:.3f}",
            f"{item.ks_p:.3g}",
            flag,
        )
    console.print(table)


def register(
    app: typer.Typer,
    console: Console,
    journal: Callable[[], Journal],
) -> None:
    """Add ``charter models`` to ``app`` (the CLI's helpers are passed in)."""
    models_app = typer.Typer(
        help="Registered models: versions, cards, stages, drift.", no_args_is_help=True
    )

    @models_app.command("register")
    @guarded
    def register_model(
        file: Annotated[Path, typer.Argument(help="Model file: .skops, .joblib or .onnx.")],
        name: Annotated[str, typer.Option(help="Model name (also its tool's name).")],
        version: Annotated[str, typer.Option(help="Version label, unique per name.")],
        card: Annotated[Path, typer.Option(help="YAML with card, lineage, inputs and output.")],
        reference: Annotated[
            Path | None,
            typer.Option(help="Training data sample (.csv with a header, or .npz) for drift."),
        ] = None,
        sha256: Annotated[
            str | None,
            typer.Option(help="The file's expected SHA-256 (required for joblib files)."),
        ] = None,
        trust: Annotated[
            list[str] | None,
            typer.Option(help="A skops type to trust beyond skops's defaults (repeatable)."),
        ] = None,
        flavor: Annotated[
            str | None, typer.Option(help="skops, joblib or onnx (default: from the suffix).")
        ] = None,
        actor: Actor = None,
    ) -> None:
        """Register a model file as NAME VERSION, in staging."""

        from charter.models import FLAVORS, ModelError, ModelRegistry, load_spec

        if flavor is not None and flavor not in FLAVORS:
            raise ModelError(f"--flavor {flavor!r}: use one of {', '.join(FLAVORS)}")
        spec = load_spec(card)
        made = ModelRegistry(journal()).register(
            file,
            name=name,
            version=version,
            spec=spec,
            actor=actor_or_user(actor),
            flavor=next((f for f in FLAVORS if f == flavor), None),
            sha256=sha256,
            trusted=trust or [],
            reference=reference,
        )
        rows = "no reference" if made.reference is None else f"{made.reference.rows} rows"
        console.print(
            f"[green]registered[/] {escape(made.name)} {escape(made.version)} "
            f"({made.flavor}, sha256 {made.sha256[:16]}, reference {rows}) in staging"
        )
        missing = made.card.missing()
        if missing:
            console.print(
                f"[yellow]its card lacks {', '.join(missing)}: "
                "it cannot be promoted to production[/]"
            )

    @models_app.command("list")
    @guarded
    def list_models(
        name: Annotated[str | None, typer.Argument(help="Only this model.")] = None,
    ) -> None:
        """List registered model versions."""

        from charter.models import ModelRegistry

        found = ModelRegistry(journal()).versions(name)
        if not found:
            console.print("no models registered")
            return
        table = Table(box=box.SIMPLE)
        for column in ("model", "version", "stage", "flavor", "sha256", "registered", "card"):
            table.add_column(column)
        for item in found:
            missing = item.card.missing()
            table.add_row(
                escape(item.name),
                escape(item.version),
                _stage(item.stage),
                item.flavor,
                item.sha256[:12],
                item.registered_at[:19],
                "complete" if not missing else f"[yellow]lacks {', '.join(missing)}[/]",
            )
        console.print(table)

    @models_app.command("show")
    @guarded
    def show(
        name: Annotated[str, typer.Argument(help="Model name.")],
        version: Annotated[
            str | None, typer.Option(help="Default: the production version, else the newest.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Show a model version: card, lineage, schema, hash, stage."""

        from charter.models import ModelRegistry

        found = ModelRegistry(journal()).get(name, version)
        if as_json:
            console.print_json(json.dumps(found.to_json()))
        else:
            _show(console, found)

    @models_app.command("promote")
    @guarded
    def promote(
        name: Annotated[str, typer.Argument(help="Model name.")],
        version: Annotated[str, typer.Argument(help="Version to put in production.")],
        reason: Reason = "",
        actor: Actor = None,
    ) -> None:
        """Put VERSION in production; the production version before it is archived."""

        from charter.models import ModelRegistry

        registry = ModelRegistry(journal())
        before = [v.version for v in registry.versions(name) if v.stage == "production"]
        registry.promote(name, version, actor=actor_or_user(actor), reason=reason)
        archived = f"; archived {', '.join(before)}" if before else ""
        console.print(
            f"[green]promoted[/] {escape(name)} {escape(version)} to production{escape(archived)}"
        )

    @models_app.command("archive")
    @guarded
    def archive(
        name: Annotated[str, typer.Argument(help="Model name.")],
        version: Annotated[str, typer.Argument(help="Version to retire.")],
        reason: Reason = "",
        actor: Actor = None,
    ) -> None:
        """Archive VERSION: agents no longer call it."""

        from charter.models import ModelRegistry

        ModelRegistry(journal()).archive(name, version, actor=actor_or_user(actor), reason=reason)
        console.print(f"[yellow]archived[/] {escape(name)} {escape(version)}")

    @models_app.command("drift")
    @guarded
    def drift(
        name: Annotated[str, typer.Argument(help="Model name.")],
        version: Annotated[
            str | None, typer.Option(help="Default: the production version, else the newest.")
        ] = None,
        plot: Annotated[
            Path | None, typer.Option(help="Write reference vs window histograms (PNG).")
        ] = None,
        charter: Annotated[
            Path | None,
            typer.Option(
                help="Apply this charter's watch of the model: its thresholds, and on drift "
                "journal model.drift and carry out its on_drift actions."
            ),
        ] = None,
        window: Annotated[int | None, typer.Option(help="Predictions to compare.")] = None,
        psi_max: Annotated[float | None, typer.Option(help="PSI above this is drift.")] = None,
        ks_p_min: Annotated[
            float | None, typer.Option(help="KS p-value below this is drift.")
        ] = None,
        actor: Actor = None,
    ) -> int:
        """Compare the model's newest journaled predictions with its reference data.

        Exit status: 1 when drift is found, 0 otherwise.
        """

        from charter.errors import ConfigError
        from charter.models import ModelRegistry, ModelWatch, check_drift, measure_drift
        from charter.models import plot_drift as draw
        from charter.policy import load_charter
        from charter.runtime._outbox import Outbox

        opened = journal()
        registry = ModelRegistry(opened)
        watch = ModelWatch(model=name)
        policy = None
        if charter is not None:
            policy = load_charter(charter)
            watches = [w for w in policy.models if w.model == name]
            if not watches:
                raise ConfigError(f"{charter}: field models: no watch of model {name!r}")
            watch = watches[0]
        overrides = {
            key: value
            for key, value in (
                ("window", window),
                ("psi_max", psi_max),
                ("ks_p_min", ks_p_min),
            )
            if value is not None
        }
        if overrides:
            merged = watch.model_dump() | overrides
            merged["min_samples"] = min(merged["min_samples"], merged["window"])
            watch = ModelWatch.model_validate(merged)
        if policy is not None and version is None:
            (report,) = check_drift(
                opened,
                registry,
                [watch],
                actor=actor_or_user(actor),
                notifications=policy.notifications,
            )
        else:
            report = measure_drift(opened, registry, name, version=version, watch=watch)
        _drift_table(console, report)
        if plot is not None:
            draw(report, plot)
            console.print(f"plot written to {escape(str(plot))}")
        if report.drifted:
            console.print(f"[red]drift[/] in {', '.join(report.breaches)}")
            if policy is not None:
                actions = ", ".join(watch.on_drift) or "none"
                console.print(f"journaled model.drift; on_drift actions: {actions}")
                Outbox(opened).deliver()
            return 1
        return 0

    app.add_typer(models_app, name="models")
