"""Drift is checked as predictions are made: an agent's charter watch fires during its
runs, without anyone calling check_drift."""

from __future__ import annotations

from pathlib import Path

from charter import Charter, Journal, Runner
from charter.models import ModelWatch, model_tool
from charter.models.demo import MODEL_NAME, orders, shifted_orders, train_and_register
from charter.runtime import Controls
from charter.testing import ScriptedReasoner, call, make_agent, respond

WATCH = ModelWatch(model=MODEL_NAME, window=120, min_samples=60, on_drift=["supervise"])


def _score(runner: Runner, journal: Journal, batch: list[dict[str, float]]) -> None:
    tool = model_tool(journal, MODEL_NAME)
    charter = Charter(name="screening", models=[WATCH])
    for order in batch:
        script = ScriptedReasoner([call(tool.name, **order), respond("scored")])
        runner.run(make_agent([tool], script, charter=charter, name="screener"), "score")


def test_a_watched_model_drifting_during_runs_supervises_the_agent(tmp_path: Path) -> None:
    journal = Journal(f"sqlite:///{tmp_path / 'journal.db'}")
    train_and_register(journal, tmp_path)
    runner = Runner(journal)

    _score(runner, journal, orders(120, seed=11))  # checked at 60 and 120
    assert journal.records_of_kind("model.drift") == []  # usual orders: quiet

    _score(runner, journal, shifted_orders(120, seed=12))

    drift = journal.records_of_kind("model.drift")[-1]  # the first breach
    assert drift.payload["actor"] == "charter:drift-watch"
    assert Controls(journal).state().supervision("screener") is not None
    runner.close()
