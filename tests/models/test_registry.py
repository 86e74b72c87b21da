"""The model registry: register, read, promote, archive; every bad input leaves nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from charter.errors import JournalError
from charter.journal import Journal
from charter.models import ModelError, ModelNotFoundError, ModelRegistry, OutputSchema
from charter.models._artifact import sha256_hex
from databases import fresh_url
from models._support import (
    CARD,
    NOTHING,
    broken_onnx,
    joblib_model,
    leftovers,
    onnx_model,
    reference,
    regressor_model,
    skops_model,
    spec,
    tree_model,
)

ROW = {"amount": 150.0, "age": 12, "mismatch": True}


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Journal]:
    """The registry's transactions on SQLite always, and on PostgreSQL when one is given."""
    url = fresh_url(request.param, tmp_path)
    monkeypatch.setenv("CHARTER_HOME", str(tmp_path / "home"))
    opened = Journal(url)
    yield opened
    opened.close()


REGRESSOR = spec().model_copy(update={"output": OutputSchema(kind="regressor")})


def test_a_registered_version_round_trips(registry: ModelRegistry, tmp_path: Path) -> None:
    made = registry.register(
        skops_model(tmp_path / "m.skops"),
        name="risk",
        version="1",
        spec=spec(),
        actor="ana",
        reference=reference(tmp_path / "train.csv"),
    )

    found = ModelRegistry(registry.journal).get("risk", "1")

    assert found == made
    assert (found.stage, found.flavor, found.registered_by) == ("staging", "skops", "ana")
    assert found.sha256 == hashlib.sha256((tmp_path / "m.skops").read_bytes()).hexdigest()
    assert [f.name for f in found.inputs] == ["amount", "age", "mismatch"]
    assert found.card.metrics == {"auc": 0.97} and found.card.missing() == []
    assert found.reference is not None and found.reference.rows == 300
    assert len(found.reference.features["amount"]) == 300 == len(found.reference.predictions)
    (record,) = [r for r in registry.journal.records() if r.kind == "model.registered"]
    assert record.run_id == "models"
    assert record.payload["sha256"] == made.sha256 and record.payload["actor"] == "ana"
    assert record.payload["card"]["owner"] == "risk-team"


def test_the_artifact_lives_in_the_database_not_in_charter_home(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    source = skops_model(tmp_path / "m.skops")
    registry.register(source, name="risk", version="1", spec=spec(), actor="ana")
    source.unlink()

    (prediction,) = registry.predict(registry.get("risk", "1"), [ROW])

    assert 0.0 <= prediction.score <= 1.0 and prediction.label in (0, 1)
    assert not (tmp_path / "home" / "models").exists()


def test_predictions_follow_the_declared_column_order(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    registry.register(
        skops_model(tmp_path / "m.skops"), name="risk", version="1", spec=spec(), actor="a"
    )
    version = registry.get("risk", "1")

    low, high = registry.predict(
        version, [ROW | {"amount": 10.0, "mismatch": False}, ROW | {"amount": 500.0}]
    )

    assert low.score < 0.5 < high.score


def test_promotion_archives_the_previous_production_version(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    for version in ("1", "2"):
        registry.register(
            skops_model(tmp_path / f"{version}.skops"),
            name="risk",
            version=version,
            spec=spec(),
            actor="a",
        )
    registry.promote("risk", "1", actor="ana")

    registry.promote("risk", "2", actor="lee", reason="better auc")

    stages = {v.version: v.stage for v in registry.versions("risk")}
    assert stages == {"1": "archived", "2": "production"}
    assert registry.current("risk").version == "2"
    promoted = [r.payload for r in registry.journal.records() if r.kind == "model.promoted"]
    assert (promoted[-1]["version"], promoted[-1]["archived"], promoted[-1]["actor"]) == (
        "2",
        ["1"],
        "lee",
    )
    assert promoted[-1]["reason"] == "better auc"


def test_an_archived_version_can_be_promoted_back(registry: ModelRegistry, tmp_path: Path) -> None:
    for version in ("1", "2"):
        registry.register(
            skops_model(tmp_path / f"{version}.skops"),
            name="risk",
            version=version,
            spec=spec(),
            actor="a",
        )
        registry.promote("risk", version, actor="a")

    registry.promote("risk", "1", actor="a", reason="roll back")

    assert {v.version: v.stage for v in registry.versions("risk")} == {
        "1": "production",
        "2": "archived",
    }


def test_archiving_is_journaled_and_leaves_no_production(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    registry.register(
        skops_model(tmp_path / "m.skops"), name="risk", version="1", spec=spec(), actor="a"
    )
    registry.promote("risk", "1", actor="a")

    registry.archive("risk", "1", actor="ana", reason="retired")

    assert registry.get("risk", "1").stage == "archived"
    with pytest.raises(
        ModelNotFoundError, match=r"no production version; its versions: 1 .archived."
    ):
        registry.current("risk")
    (archived,) = [r.payload for r in registry.journal.records() if r.kind == "model.archived"]
    assert archived == {
        "name": "risk",
        "version": "1",
        "from_stage": "production",
        "actor": "ana",
        "reason": "retired",
    }
    with pytest.raises(ModelError, match=r"already archived"):
        registry.archive("risk", "1", actor="a")


def test_a_tree_model_loads_once_its_type_is_trusted(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    made = registry.register(
        tree_model(tmp_path / "tree.skops"),
        name="tree",
        version="1",
        spec=spec(),
        actor="a",
        trusted=["sklearn.tree._tree.Tree"],
    )

    assert made.trusted_types == ("sklearn.tree._tree.Tree",)
    assert ModelRegistry(registry.journal).predict(made, [ROW])[0].label in (0, 1)


def test_a_joblib_file_with_its_declared_hash_is_registered(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    path, digest = joblib_model(tmp_path / "m.joblib")

    made = registry.register(path, name="risk", version="1", spec=spec(), actor="a", sha256=digest)

    assert made.flavor == "joblib"
    assert ModelRegistry(registry.journal).predict(made, [ROW])[0].score > 0.5


def test_an_onnx_model_is_registered_and_predicts(registry: ModelRegistry, tmp_path: Path) -> None:
    made = registry.register(
        onnx_model(tmp_path / "m.onnx"),
        name="risk_onnx",
        version="1",
        spec=spec(),
        actor="a",
        reference=reference(tmp_path / "train.csv"),
    )

    low, high = ModelRegistry(registry.journal).predict(
        made, [ROW | {"amount": 10.0, "mismatch": False}, ROW | {"amount": 500.0}]
    )

    assert made.flavor == "onnx"
    assert low.score < 0.5 < high.score and (low.label, high.label) == (0, 1)


def test_a_regressor_scores_without_labels(registry: ModelRegistry, tmp_path: Path) -> None:
    made = registry.register(
        regressor_model(tmp_path / "r.skops"),
        name="amount",
        version="1",
        spec=REGRESSOR,
        actor="a",
    )

    (prediction,) = registry.predict(made, [ROW])

    assert prediction.label is None and isinstance(prediction.score, float)


# -- bad input: each refused, nothing registered half-way -------------------------------


def test_a_file_whose_hash_differs_from_the_declared_one_is_refused(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match=r"hash mismatch: declared sha256 0{64}"):
        registry.register(
            skops_model(tmp_path / "m.skops"),
            name="risk",
            version="1",
            spec=spec(),
            actor="a",
            sha256="0" * 64,
        )

    assert leftovers(registry.journal) == NOTHING


def test_a_joblib_file_without_a_declared_hash_is_not_unpickled(
    registry: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = joblib_model(tmp_path / "m.joblib")
    loads: list[object] = []

    def load(*args: object, **kwargs: object) -> None:
        loads.append(args)

    monkeypatch.setattr("joblib.load", load)

    with pytest.raises(ModelError, match=r"pickle.*declare the SHA-256"):
        registry.register(path, name="risk", version="1", spec=spec(), actor="a")

    assert loads == []
    assert leftovers(registry.journal) == NOTHING


def test_untrusted_skops_types_are_refused_by_name(registry: ModelRegistry, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"not trusted: sklearn\.tree\._tree\.Tree.*--trust"):
        registry.register(
            tree_model(tmp_path / "tree.skops"), name="tree", version="1", spec=spec(), actor="a"
        )

    assert leftovers(registry.journal) == NOTHING


def test_a_model_with_another_feature_count_is_refused(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    with pytest.raises(
        ModelError, match=r"schema mismatch: the model takes 2 feature\(s\), the card declares 3"
    ):
        registry.register(
            skops_model(tmp_path / "m.skops", features=2),
            name="risk",
            version="1",
            spec=spec(),
            actor="a",
        )

    assert leftovers(registry.journal) == NOTHING


def test_an_onnx_model_with_another_input_width_is_refused(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match=r"the model takes 2 feature\(s\)"):
        registry.register(
            onnx_model(tmp_path / "m.onnx", features=2),
            name="risk",
            version="1",
            spec=spec(),
            actor="a",
        )

    assert leftovers(registry.journal) == NOTHING


def test_a_failing_sample_prediction_is_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"sample prediction on 1 row.s. failed"):
        registry.register(
            broken_onnx(tmp_path / "b.onnx"), name="risk", version="1", spec=REGRESSOR, actor="a"
        )

    assert leftovers(registry.journal) == NOTHING


def test_a_classifier_card_for_a_regressor_is_refused(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match=r"declares a classifier.*no predict_proba"):
        registry.register(
            regressor_model(tmp_path / "r.skops"),
            name="amount",
            version="1",
            spec=spec(),
            actor="a",
        )

    assert leftovers(registry.journal) == NOTHING


def test_reference_data_without_a_feature_is_refused(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    data = tmp_path / "train.csv"
    data.write_text("amount,age\n1.0,2\n")

    with pytest.raises(ModelError, match=r"no column.s. mismatch"):
        registry.register(
            skops_model(tmp_path / "m.skops"),
            name="risk",
            version="1",
            spec=spec(),
            actor="a",
            reference=data,
        )

    assert leftovers(registry.journal) == NOTHING


def test_reference_data_with_a_bad_value_is_refused(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    data = tmp_path / "train.csv"
    data.write_text("amount,age,mismatch\n1.0,2,false\n3.0,2.5,true\n")

    with pytest.raises(ModelError, match=r"row 2: age: '2.5' is not an integer"):
        registry.register(
            skops_model(tmp_path / "m.skops"),
            name="risk",
            version="1",
            spec=spec(),
            actor="a",
            reference=data,
        )

    assert leftovers(registry.journal) == NOTHING


def test_a_duplicate_name_and_version_is_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    first = registry.register(
        skops_model(tmp_path / "a.skops"), name="risk", version="1", spec=spec(), actor="a"
    )
    before = leftovers(registry.journal)

    with pytest.raises(ModelError, match=r"'risk' version '1' is already registered"):
        registry.register(
            tree_model(tmp_path / "b.skops"),
            name="risk",
            version="1",
            spec=spec(),
            actor="b",
            trusted=["sklearn.tree._tree.Tree"],
        )

    assert leftovers(registry.journal) == before
    assert registry.get("risk", "1").sha256 == first.sha256


def test_a_malformed_name_is_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model name 'fraud risk'"):
        registry.register(
            skops_model(tmp_path / "m.skops"),
            name="fraud risk",
            version="1",
            spec=spec(),
            actor="a",
        )

    assert leftovers(registry.journal) == NOTHING


def test_unknown_models_and_versions_are_named(registry: ModelRegistry, tmp_path: Path) -> None:
    registry.register(
        skops_model(tmp_path / "m.skops"), name="risk", version="1", spec=spec(), actor="a"
    )
    before = leftovers(registry.journal)

    with pytest.raises(ModelNotFoundError, match=r"no model named 'churn'.*registered: risk"):
        registry.get("churn")
    with pytest.raises(ModelNotFoundError, match=r"'risk' has no version '9'; its versions: 1"):
        registry.promote("risk", "9", actor="a")
    with pytest.raises(ModelNotFoundError, match=r"no model named 'churn'"):
        registry.archive("churn", "1", actor="a")

    assert leftovers(registry.journal) == before


def test_promotion_needs_a_complete_card(registry: ModelRegistry, tmp_path: Path) -> None:
    incomplete = spec(card=CARD | {"limitations": " ", "metrics": {}})
    registry.register(
        skops_model(tmp_path / "m.skops"), name="risk", version="1", spec=incomplete, actor="a"
    )
    before = leftovers(registry.journal)

    with pytest.raises(
        ModelError, match=r"cannot go to production: its card lacks limitations, metrics"
    ):
        registry.promote("risk", "1", actor="a")

    assert registry.get("risk", "1").stage == "staging"
    assert leftovers(registry.journal) == before


def test_a_change_the_journal_refuses_is_taken_back(
    registry: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise JournalError("disk full")

    monkeypatch.setattr(registry.journal, "append", refuse)

    with pytest.raises(JournalError, match=r"disk full"):
        registry.register(
            skops_model(tmp_path / "m.skops"), name="risk", version="1", spec=spec(), actor="a"
        )

    monkeypatch.undo()
    assert leftovers(registry.journal) == NOTHING


def test_a_promotion_the_journal_refuses_is_taken_back(
    registry: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for version in ("1", "2"):
        registry.register(
            skops_model(tmp_path / f"{version}.skops"),
            name="risk",
            version=version,
            spec=spec(),
            actor="a",
        )
    registry.promote("risk", "1", actor="a")

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise JournalError("disk full")

    monkeypatch.setattr(registry.journal, "append", refuse)
    with pytest.raises(JournalError):
        registry.promote("risk", "2", actor="a")

    assert {v.version: v.stage for v in registry.versions("risk")} == {
        "1": "production",
        "2": "staging",
    }


def test_a_rewritten_artifact_is_refused_at_load(journal: Journal, tmp_path: Path) -> None:
    ModelRegistry(journal).register(
        skops_model(tmp_path / "a.skops"), name="risk", version="1", spec=spec(), actor="a"
    )
    other = tree_model(tmp_path / "b.skops").read_bytes()
    with journal.engine.begin() as conn:
        conn.execute(text("UPDATE model_artifacts SET content = :c"), {"c": other})

    fresh = ModelRegistry(journal)
    with pytest.raises(ModelError, match=r"hash mismatch"):
        fresh.predict(fresh.get("risk", "1"), [ROW])


def test_a_rewritten_registry_row_is_caught_by_the_journaled_hash(
    journal: Journal, tmp_path: Path
) -> None:
    ModelRegistry(journal).register(
        skops_model(tmp_path / "a.skops"), name="risk", version="1", spec=spec(), actor="a"
    )
    evil = tree_model(tmp_path / "c.skops").read_bytes()
    with journal.engine.begin() as conn:
        conn.execute(text("UPDATE model_artifacts SET content = :c"), {"c": evil})
        conn.execute(text("UPDATE model_versions SET sha256 = :h"), {"h": sha256_hex(evil)})

    fresh = ModelRegistry(journal)
    with pytest.raises(ModelError, match=r"model.registered record says"):
        fresh.predict(fresh.get("risk", "1"), [ROW])
