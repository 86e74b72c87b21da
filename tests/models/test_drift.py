"""Drift: PSI and KS against hand-checked values; the demo model's journaled predictions
checked against its reference; alerts, supervision and blocking on a breach."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from charter import Charter, Journal, Runner, load_charter, tool
from charter.models import (
    ModelRegistry,
    ModelWatch,
    check_drift,
    ks_test,
    load_spec,
    measure_drift,
    model_tool,
    plot_drift,
    psi,
)
from charter.models._drift import psi_bins
from charter.models.demo import TRUSTED_TYPES, orders, shifted_orders
from charter.runtime import Controls
from charter.runtime._outbox import Outbox
from charter.testing import ScriptedReasoner, call, make_agent, respond

tagged: list[int] = []


@tool(side_effect="write")
def tag_order(order_id: int) -> str:
    """Tag an order for review."""
    tagged.append(order_id)
    return "tagged"


# -- the measures ------------------------------------------------------------------------


def _psi(expected: list[int], actual: list[int]) -> float:
    """PSI from bin counts by hand: an empty bin counts half an observation."""
    e = [(c or 0.5) / sum(expected) for c in expected]
    a = [(c or 0.5) / sum(actual) for c in actual]
    return sum((ai - ei) * math.log(ai / ei) for ei, ai in zip(e, a, strict=True))


def test_psi_of_a_shifted_boolean_matches_the_hand_computed_value() -> None:
    reference = [0] * 50 + [1] * 50
    observed = [0] * 90 + [1] * 10

    # (0.9 - 0.5) ln(0.9 / 0.5) + (0.1 - 0.5) ln(0.1 / 0.5); the unseen-value bin is
    # empty in both, so it is skipped
    by_hand = 0.4 * math.log(1.8) + (-0.4) * math.log(0.2)
    assert psi(reference, observed) == pytest.approx(by_hand, abs=1e-12)
    assert by_hand == pytest.approx(0.878889, abs=1e-6)


def test_psi_bins_a_continuous_feature_by_reference_quantiles() -> None:
    reference = list(range(100))
    observed = list(range(10))

    # Deciles of the reference (10 values each); the window lies in the first one:
    # (1 - 0.1) ln(1 / 0.1) + 9 (0.05 - 0.1) ln(0.05 / 0.1), an empty bin being 0.5 of 10
    by_hand = 0.9 * math.log(10) + 9 * (0.05 - 0.1) * math.log(0.5)
    assert _psi([10] * 10, [10] + [0] * 9) == pytest.approx(by_hand, abs=1e-12)
    assert psi(reference, observed, bins=10) == pytest.approx(by_hand, abs=1e-12)
    # By default 10 values get 2 bins, split at the median.
    assert psi_bins(10) == 2 and psi_bins(60) == 3 and psi_bins(200) == 10 == psi_bins(5000)
    assert psi(reference, observed) == pytest.approx(_psi([50, 50], [10, 0]), abs=1e-12)


def test_psi_is_zero_for_the_same_distribution_and_counts_unseen_values() -> None:
    assert psi([1, 2, 3, 4] * 25, [4, 3, 2, 1] * 5) == pytest.approx(0.0, abs=1e-12)
    # Half the window takes a value the reference never had: the last bin.
    unseen = psi([0, 1] * 50, [0, 1, 2, 2] * 25)
    assert unseen == pytest.approx(_psi([50, 50, 0], [25, 25, 50]), abs=1e-12)
    assert unseen > 2


def test_psi_lets_a_rare_reference_value_share_the_last_bin() -> None:
    reference = [0] * 70 + [1] * 27 + [2] * 3  # 2 is rare (3%)
    observed = [0] * 70 + [1] * 30  # a window that happened to miss it

    assert psi(reference, observed) == pytest.approx(_psi([70, 27, 3], [70, 30, 0]), abs=1e-12)
    assert psi(reference, observed) < 0.05


def test_psi_refuses_an_empty_sample() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        psi([], [1.0])


def test_ks_matches_the_exact_two_sample_test() -> None:
    statistic, p_value = ks_test([1, 2, 3], [4, 5, 6])

    assert statistic == 1.0
    assert p_value == pytest.approx(2 / math.comb(6, 3))  # the 2 most extreme of 20 splits
    assert ks_test([1, 2, 3, 4], [1, 2, 3, 4]) == (0.0, 1.0)


def test_a_watch_whose_window_cannot_hold_its_minimum_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"min_samples \(80\) exceeds window \(60\)"):
        ModelWatch(model="m", window=60, min_samples=80)


# -- the demo model's predictions --------------------------------------------------------


@pytest.fixture
def fraud(registry: ModelRegistry, demo_files: Path) -> ModelRegistry:
    registry.register(
        demo_files / "model.skops",
        name="fraud_risk",
        version="1",
        spec=load_spec(demo_files / "card.yaml"),
        actor="ana",
        trusted=TRUSTED_TYPES,
        reference=demo_files / "reference.npz",
    )
    registry.promote("fraud_risk", "1", actor="ana")
    return registry


def _score(journal: Journal, batch: list[dict[str, Any]], agent: str = "test-agent") -> None:
    """An agent scores each order with the model, through the runner."""
    script: list[Any] = [call("fraud_risk", **order) for order in batch] + [respond("done")]
    charter = Charter.model_validate({"name": "c", "budgets": {"max_steps": len(script)}})
    scorer = make_agent(
        [model_tool(journal, "fraud_risk"), tag_order],
        ScriptedReasoner(script),
        charter=charter,
        name=agent,
    )
    assert Runner(journal).run(scorer, "score orders").status == "completed"


WATCH = ModelWatch(model="fraud_risk", on_drift=["alert", "supervise", "block"])


def _kinds(journal: Journal) -> list[str]:
    return [r.kind for r in journal.records() if r.run_id in ("models", "control", "outbox")]


def test_in_distribution_predictions_raise_no_alert(fraud: ModelRegistry) -> None:
    journal = fraud.journal
    _score(journal, orders(200, seed=11))

    (report,) = check_drift(journal, fraud, [WATCH], actor="monitor")

    assert report.judged and report.samples == 200
    assert not report.drifted, [f for f in report.features if f.drifted]
    assert all(f.psi < 0.2 for f in report.features)
    assert _kinds(journal) == ["model.registered", "model.promoted"]  # nothing added


def test_shifted_inputs_alert_and_supervise_the_agent(fraud: ModelRegistry) -> None:
    journal = fraud.journal
    _score(journal, shifted_orders(200, seed=5), agent="scorer")
    watch = WATCH.model_copy(update={"on_drift": ["alert", "supervise"]})

    (report,) = check_drift(journal, fraud, [watch], actor="monitor")

    assert report.drifted
    assert {"amount_usd", "account_age_days", "country_mismatch", "prediction"} <= set(
        report.breaches
    )
    drift, queued, supervised = [
        r
        for r in journal.records()
        if r.kind in ("model.drift", "notify.queued", "control.supervise")
    ]
    assert drift.kind == "model.drift" and drift.run_id == "models"
    p = drift.payload
    assert (p["model"], p["version"], p["window"]["samples"], p["window"]["size"]) == (
        "fraud_risk",
        "1",
        200,
        200,
    )
    amount = next(f for f in p["features"] if f["name"] == "amount_usd")
    assert amount["psi"] > 0.2 and amount["ks_p"] < 0.01 and amount["drifted"]
    assert p["agents"] == ["scorer"] and p["tools"] == ["fraud_risk"]
    assert [a["action"] for a in p["actions"]] == ["alert", "supervise"]
    assert queued.payload["rule"] == "model.drift:fraud_risk"
    assert "drifted" in queued.payload["message"]
    assert supervised.payload == {"agent": "scorer", "actor": "monitor", "reason": p["reason"]}
    assert [m["status"] for m in Outbox(journal).messages()] == ["journaled"]


def test_a_supervised_agents_next_write_asks_an_approver(fraud: ModelRegistry) -> None:
    journal = fraud.journal
    _score(journal, shifted_orders(120, seed=6))
    check_drift(journal, fraud, [WATCH.model_copy(update={"on_drift": ["supervise"]})], actor="m")
    agent = make_agent(
        [model_tool(journal, "fraud_risk"), tag_order],
        ScriptedReasoner([call("tag_order", order_id=7), respond("x")]),
    )

    run = Runner(journal).run(agent, "tag order 7")

    assert run.status == "waiting" and tagged == []
    decided = [r.payload for r in journal.records(run.run_id) if r.kind == "step.decided"]
    assert decided[-1]["rules"] == ["control.supervised"]
    assert "fraud_risk 1 drifted" in decided[-1]["reason"]


def test_block_revokes_the_model_tool_for_every_agent(fraud: ModelRegistry) -> None:
    journal = fraud.journal
    _score(journal, shifted_orders(120, seed=7))

    check_drift(journal, fraud, [WATCH.model_copy(update={"on_drift": ["block"]})], actor="m")

    assert Controls(journal).state().revocation("fraud_risk", "anyone") is not None
    agent = make_agent(
        [model_tool(journal, "fraud_risk")],
        ScriptedReasoner([call("fraud_risk", **orders(1, seed=1)[0]), respond("x")]),
        name="another-agent",
    )
    run = Runner(journal).run(agent, "score")
    decision = run.steps[0].decision
    assert decision is not None and decision.rules == ("inventory.revoked",)
    assert "drifted" in decision.reason


def test_too_few_predictions_are_not_judged(fraud: ModelRegistry) -> None:
    journal = fraud.journal
    _score(journal, shifted_orders(20, seed=8))

    (report,) = check_drift(journal, fraud, [WATCH], actor="m")

    assert (report.samples, report.judged, report.drifted) == (20, False, False)
    assert report.features  # measured all the same, for people to look at
    assert _kinds(journal) == ["model.registered", "model.promoted"]


def test_the_window_holds_the_newest_predictions(fraud: ModelRegistry) -> None:
    journal = fraud.journal
    _score(journal, shifted_orders(60, seed=9))
    _score(journal, orders(60, seed=12))

    report = measure_drift(
        journal, fraud, "fraud_risk", watch=ModelWatch(model="fraud_risk", window=60)
    )

    assert report.samples == 60 and not report.drifted  # the shifted batch fell out


def test_a_breach_is_journaled_once_until_new_predictions_arrive(fraud: ModelRegistry) -> None:
    journal = fraud.journal
    _score(journal, shifted_orders(80, seed=10))
    watch = WATCH.model_copy(update={"on_drift": ["alert"]})

    check_drift(journal, fraud, [watch], actor="m")
    check_drift(journal, fraud, [watch], actor="m")
    _score(journal, shifted_orders(5, seed=13))
    check_drift(journal, fraud, [watch], actor="m")

    assert [k for k in _kinds(journal) if k == "model.drift"] == ["model.drift"] * 2


def test_the_charters_watches_and_webhook_are_used(fraud: ModelRegistry, tmp_path: Path) -> None:
    journal = fraud.journal
    _score(journal, shifted_orders(80, seed=14))
    (tmp_path / "c.charter.yaml").write_text(
        """
name: scoring
notifications: {webhook_url: "https://hooks.example.com/risk"}
models:
  - model: fraud_risk
    psi_max: 0.25
    window: 100
    min_samples: 60
    on_drift: [alert]
"""
    )
    charter = load_charter(tmp_path / "c.charter.yaml")

    (report,) = check_drift(journal, fraud, charter, actor="m")

    assert report.watch == charter.models[0] and report.samples == 80 and report.drifted
    (queued,) = [r.payload for r in journal.records() if r.kind == "notify.queued"]
    assert queued["webhook_url"] == "https://hooks.example.com/risk"


def test_the_plot_shows_every_feature_and_the_prediction(
    fraud: ModelRegistry, tmp_path: Path
) -> None:
    _score(fraud.journal, shifted_orders(60, seed=15))
    report = measure_drift(fraud.journal, fraud, "fraud_risk")

    written = plot_drift(report, tmp_path / "plots" / "drift.png")

    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert written.stat().st_size > 10_000
    assert list(report.reference) == [
        "amount_usd",
        "account_age_days",
        "country_mismatch",
        "orders_last_day",
        "new_payment_method",
        "prediction",
    ]
