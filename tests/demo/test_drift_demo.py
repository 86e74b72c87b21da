"""The drift scenario of the demo: quiet on usual orders, an alert and supervision on
shifted ones, all journaled."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.cli import app
from charter.journal import Journal
from charter.runtime import Controls


def test_the_drift_scenario_alerts_and_supervises_the_agent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path))
    monkeypatch.delenv("CHARTER_DATABASE_URL", raising=False)

    result = CliRunner().invoke(app, ["demo", "--drift"])

    assert result.exit_code == 0, result.output
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    drift = journal.records_of_kind("model.drift")[0]  # the newest
    assert drift.payload["model"] == "fraud_risk"
    assert "amount_usd" in [f["name"] for f in drift.payload["features"] if f["drifted"]]
    assert Controls(journal).state().supervision("fraud-screener") is not None
    assert [r.payload["rule"] for r in journal.records_of_kind("notify.queued")] != []
    assert journal.verify().ok
