"""``charter models``: register, list, show, promote, archive, drift (with a PNG)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import typer
from rich.console import Console
from typer.testing import CliRunner, Result

from charter import settings
from charter.cli import _models as _cli_models
from charter.journal import Journal
from charter.models import ModelRegistry, model_tool
from charter.models.demo import TRUSTED_TYPES, shifted_orders
from models._support import CARD, joblib_model, leftovers, reference, skops_model, write_card

cli = CliRunner()


def _app() -> typer.Typer:
    """The ``models`` commands on an app of their own, with the real CLI's helpers."""
    app = typer.Typer()
    console = Console(width=200, highlight=False)

    @app.callback()
    def main() -> None:
        """charter (test)."""

    _cli_models.register(app, console, lambda: Journal(settings.database_url()))
    return app


def _invoke(*args: str | Path) -> Result:
    return cli.invoke(_app(), ["models", *[str(a) for a in args]])


def test_register_list_show_promote_archive(journal: Journal, tmp_path: Path) -> None:
    model = skops_model(tmp_path / "m.skops")
    card = write_card(tmp_path / "card.yaml")
    data = reference(tmp_path / "train.csv")

    registered = _invoke(
        "register", model, "--name", "risk", "--version", "1", "--card", card,
        "--reference", data, "--actor", "ana",
    )  # fmt: skip
    listed = _invoke("list")
    promoted = _invoke("promote", "risk", "1", "--reason", "first", "--actor", "lee")
    shown = _invoke("show", "risk")
    archived = _invoke("archive", "risk", "1", "--actor", "lee")
    as_json = _invoke("show", "risk", "--version", "1", "--json")

    assert registered.exit_code == 0, registered.output
    assert (
        "registered risk 1 (skops" in registered.output
        and "reference 300 rows" in registered.output
    )
    assert "risk" in listed.output and "staging" in listed.output and "complete" in listed.output
    assert promoted.exit_code == 0 and "promoted risk 1 to production" in promoted.output
    assert "production" in shown.output and "intended use: Score test orders." in shown.output
    assert hashlib.sha256(model.read_bytes()).hexdigest() in shown.output
    assert "amount: float — Order amount." in shown.output
    assert "reference: 300 rows" in shown.output
    assert archived.exit_code == 0 and "archived risk 1" in archived.output
    assert '"stage": "archived"' in as_json.output
    kinds = [r.kind for r in journal.records()]
    assert kinds == ["model.registered", "model.promoted", "model.archived"]
    actors = [r.payload["actor"] for r in journal.records()]
    assert actors == ["ana", "lee", "lee"]


def test_register_refusals_exit_2_and_register_nothing(journal: Journal, tmp_path: Path) -> None:
    model = skops_model(tmp_path / "m.skops")
    path, _ = joblib_model(tmp_path / "m.joblib")
    card = write_card(tmp_path / "card.yaml")

    mismatch = _invoke(
        "register", model, "--name", "risk", "--version", "1", "--card", card, "--sha256", "ab" * 32
    )  # fmt: skip
    no_hash = _invoke("register", path, "--name", "risk", "--version", "1", "--card", card)
    bad_card = _invoke(
        "register", model, "--name", "risk", "--version", "1", "--card", tmp_path / "none.yaml"
    )  # fmt: skip

    assert (mismatch.exit_code, no_hash.exit_code, bad_card.exit_code) == (2, 2, 2)
    assert "hash mismatch" in mismatch.output
    assert "--sha256" in no_hash.output
    assert "none.yaml: file not found" in bad_card.output
    assert leftovers(journal) == {"versions": 0, "artifacts": 0, "records": 0}


def test_promoting_an_incomplete_card_or_an_unknown_version_fails(
    journal: Journal, tmp_path: Path
) -> None:
    card = write_card(tmp_path / "card.yaml", CARD | {"owner": ""})
    _invoke(
        "register",
        skops_model(tmp_path / "m.skops"),
        "--name",
        "risk",
        "--version",
        "1",
        "--card",
        card,
    )

    incomplete = _invoke("promote", "risk", "1")
    unknown = _invoke("promote", "risk", "7")
    missing = _invoke("show", "churn")

    assert incomplete.exit_code == 2 and "card lacks owner" in incomplete.output
    assert unknown.exit_code == 2 and "has no version '7'; its versions: 1" in unknown.output
    assert missing.exit_code == 2 and "no model named 'churn'" in missing.output
    assert "lacks owner" in _invoke("list").output


def test_drift_prints_the_table_writes_the_plot_and_acts_with_a_charter(
    journal: Journal, tmp_path: Path, demo_files: Path
) -> None:
    registered = _invoke(
        "register", demo_files / "model.skops", "--name", "fraud_risk", "--version", "1",
        "--card", demo_files / "card.yaml", "--reference", demo_files / "reference.npz",
        *[arg for t in TRUSTED_TYPES for arg in ("--trust", t)],
    )  # fmt: skip
    assert registered.exit_code == 0, registered.output
    _invoke("promote", "fraud_risk", "1")
    fraud_risk = model_tool(ModelRegistry(journal), "fraud_risk")
    for order in shifted_orders(60, seed=3):  # direct calls: the journal sees none
        fraud_risk.invoke(fraud_risk.validate_args(order))
    empty = _invoke("drift", "fraud_risk")
    _score_through_runner(journal, shifted_orders(60, seed=4))
    (tmp_path / "c.charter.yaml").write_text(
        "name: c\nmodels:\n  - {model: fraud_risk, on_drift: [alert, supervise]}\n"
    )

    measured = _invoke("drift", "fraud_risk", "--plot", tmp_path / "drift.png")
    acted = _invoke("drift", "fraud_risk", "--charter", tmp_path / "c.charter.yaml")

    assert empty.exit_code == 0 and "not enough predictions" in empty.output
    assert measured.exit_code == 1, measured.output
    assert "60 of the last 200 predictions" in measured.output
    assert "amount_usd" in measured.output and "prediction" in measured.output
    assert (tmp_path / "drift.png").read_bytes()[:4] == b"\x89PNG"
    assert [r.kind for r in journal.records() if r.kind == "model.drift"] == ["model.drift"]
    assert acted.exit_code == 1 and "on_drift actions: alert, supervise" in acted.output
    kinds = [r.kind for r in journal.records() if r.run_id in ("control", "outbox")]
    assert kinds == ["notify.queued", "control.supervise"]


def test_drift_without_reference_data_is_an_error(journal: Journal, tmp_path: Path) -> None:
    card = write_card(tmp_path / "card.yaml")
    _invoke(
        "register",
        skops_model(tmp_path / "m.skops"),
        "--name",
        "risk",
        "--version",
        "1",
        "--card",
        card,
    )

    result = _invoke("drift", "risk")

    assert result.exit_code == 2 and "no reference data" in result.output


def _score_through_runner(journal: Journal, batch: list[dict[str, object]]) -> None:
    from charter import Charter, Runner
    from charter.testing import ScriptedReasoner, call, make_agent, respond

    script = [call("fraud_risk", **order) for order in batch] + [respond("done")]
    agent = make_agent(
        [model_tool(journal, "fraud_risk")],
        ScriptedReasoner(script),
        charter=Charter.model_validate({"name": "c", "budgets": {"max_steps": len(script)}}),
    )
    assert Runner(journal).run(agent, "score").status == "completed"
