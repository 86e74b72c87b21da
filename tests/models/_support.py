"""Real model files for registry tests: scikit-learn through skops and joblib, ONNX."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from sqlalchemy import text

from charter.journal import Journal
from charter.models import ModelSpec

# scikit-learn, skops, joblib and skl2onnx ship no type information: held as Any, as
# charter.models holds them.
joblib: Any = importlib.import_module("joblib")
sio: Any = importlib.import_module("skops.io")
linear_model: Any = importlib.import_module("sklearn.linear_model")
LinearRegression, LogisticRegression = (
    linear_model.LinearRegression,
    linear_model.LogisticRegression,
)
DecisionTreeClassifier: Any = importlib.import_module("sklearn.tree").DecisionTreeClassifier

FEATURES = ("amount", "age", "mismatch")
CARD: dict[str, Any] = {
    "intended_use": "Score test orders.",
    "owner": "risk-team",
    "training_data": "300 generated rows (seed 0).",
    "metrics": {"auc": 0.97},
    "limitations": "Toy data.",
}
INPUTS: dict[str, Any] = {
    "amount": {"type": "float", "description": "Order amount."},
    "age": "int",
    "mismatch": "bool",
}


def training(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three features (a float, an int, a bool) and a label that depends on them."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [rng.normal(100, 30, n), rng.integers(0, 1000, n), rng.random(n) < 0.2]
    ).astype(np.float64)
    y = ((x[:, 0] > 110) | (x[:, 2] > 0)).astype(np.int64)
    return x, y


def spec(card: dict[str, Any] | None = None, inputs: dict[str, Any] | None = None) -> ModelSpec:
    """A complete spec for the three features unless told otherwise."""
    return ModelSpec.model_validate(
        {"card": CARD if card is None else card, "inputs": inputs or INPUTS}
    )


def write_card(path: Path, card: dict[str, Any] | None = None, **extra: Any) -> Path:
    """A card YAML file as ``charter models register --card`` reads it."""
    path.write_text(
        yaml.safe_dump({"card": CARD if card is None else card, "inputs": INPUTS} | extra)
    )
    return path


def reference(path: Path, n: int = 300, seed: int = 0) -> Path:
    """Training data as CSV (with an extra label column, which is ignored)."""
    x, y = training(n, seed)
    lines = ["amount,age,mismatch,label"]
    lines += [
        f"{a:.4f},{int(b)},{'true' if c else 'false'},{label}"
        for (a, b, c), label in zip(x, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def skops_model(path: Path, features: int = 3) -> Path:
    """A logistic regression saved with skops (only default-trusted types)."""
    x, y = training()
    path.write_bytes(sio.dumps(LogisticRegression().fit(x[:, :features], y)))
    return path


def tree_model(path: Path) -> Path:
    """A decision tree saved with skops: its ``Tree`` type must be trusted explicitly."""
    x, y = training()
    path.write_bytes(sio.dumps(DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y)))
    return path


def regressor_model(path: Path) -> Path:
    """A linear regression saved with skops (no predict_proba)."""
    x, y = training()
    path.write_bytes(sio.dumps(LinearRegression().fit(x, y.astype(np.float64))))
    return path


def joblib_model(path: Path) -> tuple[Path, str]:
    """A logistic regression saved with joblib, and its SHA-256."""
    x, y = training()
    joblib.dump(LogisticRegression().fit(x, y), path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def onnx_model(path: Path, features: int = 3) -> Path:
    """A logistic regression converted with skl2onnx (labels and a probability matrix)."""
    skl2onnx: Any = importlib.import_module("skl2onnx")

    x, y = training()
    model = LogisticRegression().fit(x[:, :features], y)
    onx = skl2onnx.to_onnx(model, x[:1, :features].astype(np.float32), options={"zipmap": False})
    path.write_bytes(onx.SerializeToString())
    return path


def broken_onnx(path: Path) -> Path:
    """A graph with a dynamic feature dimension whose weights need 4 features: loading and
    the shape check pass for 3 declared features; the sample prediction fails."""
    from onnx import TensorProto, helper

    weights = helper.make_tensor("w", TensorProto.FLOAT, [4, 1], [0.1, 0.2, 0.3, 0.4])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["score"])],
        "broken",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "features"])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch", 1])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def leftovers(journal: Journal) -> dict[str, int]:
    """Registry rows and registry journal records: all zero after a refused registration."""
    with journal.engine.connect() as conn:
        versions = conn.execute(text("SELECT COUNT(*) FROM model_versions")).scalar_one()
        artifacts = conn.execute(text("SELECT COUNT(*) FROM model_artifacts")).scalar_one()
    records = sum(1 for r in journal.records() if r.kind.startswith("model."))
    return {"versions": versions, "artifacts": artifacts, "records": records}


NOTHING = {"versions": 0, "artifacts": 0, "records": 0}
