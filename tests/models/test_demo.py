"""The demo world's fraud-risk model: trained deterministically, registered, in production."""

from __future__ import annotations

from pathlib import Path

from charter.journal import Journal
from charter.models import ModelRegistry, load_spec
from charter.models.demo import (
    FEATURES,
    orders,
    shifted_orders,
    train_and_register,
    training_data,
)


def test_the_demo_model_is_trained_registered_and_promoted(
    journal: Journal, tmp_path: Path
) -> None:
    made = train_and_register(journal, tmp_path / "home")

    assert (made.name, made.version, made.stage, made.flavor) == (
        "fraud_risk",
        "1",
        "production",
        "skops",
    )
    assert made.card.missing() == []
    assert made.card.metrics["auc"] > 0.8
    assert made.lineage.training_data_sha256 is not None
    assert [f.name for f in made.inputs] == FEATURES
    assert made.reference is not None and made.reference.rows == 6000
    folder = tmp_path / "home" / "models" / "fraud_risk" / "1"
    assert {p.name for p in folder.iterdir()} == {"model.skops", "card.yaml", "reference.npz"}
    assert load_spec(folder / "card.yaml") == made.spec
    kinds = [r.kind for r in journal.records()]
    assert kinds == ["model.registered", "model.promoted"]


def test_training_again_on_the_same_journal_keeps_the_registered_version(
    journal: Journal, tmp_path: Path
) -> None:
    first = train_and_register(journal, tmp_path / "home")

    again = train_and_register(journal, tmp_path / "home")

    assert again == first
    assert [r.kind for r in journal.records()] == ["model.registered", "model.promoted"]


def test_generated_data_is_deterministic() -> None:
    x1, y1 = training_data()
    x2, y2 = training_data()

    assert (x1 == x2).all() and (y1 == y2).all()
    assert 0.05 < y1.mean() < 0.2
    assert shifted_orders(5, seed=1) == shifted_orders(5, seed=1) != shifted_orders(5, seed=2)
    assert orders(3, seed=1)[0].keys() == set(FEATURES)


def test_shifted_orders_look_riskier_to_the_model(journal: Journal, demo_files: Path) -> None:
    registry = ModelRegistry(journal)
    made = registry.register(
        demo_files / "model.skops",
        name="fraud_risk",
        version="1",
        spec=load_spec(demo_files / "card.yaml"),
        actor="a",
        trusted=["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"],
    )

    usual = [p.score for p in registry.predict(made, orders(300, seed=1))]
    shifted = [p.score for p in registry.predict(made, shifted_orders(300, seed=1))]

    assert sum(usual) / 300 < 0.2 < 0.5 < sum(shifted) / 300
