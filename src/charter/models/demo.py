"""The demo world's fraud-risk model: generated orders, a scikit-learn classifier, a card.

Orders are described by five features a shop knows when an order comes in (see
:data:`INPUTS`). Training data is generated deterministically (seeded numpy): amounts
around the demo catalog's prices, mostly established accounts, few country mismatches;
fraud is likelier for large amounts, new accounts, a card from another country, bursts of
orders and a new payment method. :func:`train_and_register` trains a histogram gradient
boosting classifier in well under a second, saves it with skops, registers it with a card
whose metrics come from a held-out quarter of the data, and promotes it to production.
:func:`shifted_orders` makes inputs from a different population (a fraud ring: big
amounts, new accounts, foreign cards), which a drift check should flag.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

from charter.journal import Journal
from charter.models._artifact import ModelNotFoundError, one_thread, sha256_hex
from charter.models._card import Lineage, ModelCard, ModelSpec, OutputSchema
from charter.models._registry import ModelRegistry
from charter.models._version import ModelVersion

MODEL_NAME = "fraud_risk"
MODEL_VERSION = "1"
TRAINING_SEED = 7
TRAINING_ROWS = 6000
TRUSTED_TYPES = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)
"""The one type outside skops's defaults this model's file holds (its trees), trusted
explicitly after checking it."""

INPUTS: dict[str, dict[str, str]] = {
    "amount_usd": {"type": "float", "description": "Order total in dollars."},
    "account_age_days": {"type": "int", "description": "Days since the customer signed up."},
    "country_mismatch": {
        "type": "bool",
        "description": "The card's country differs from the shipping country.",
    },
    "orders_last_day": {
        "type": "int",
        "description": "Orders the customer placed in the 24 hours before this one.",
    },
    "new_payment_method": {
        "type": "bool",
        "description": "The payment method was added for this order.",
    },
}
FEATURES = list(INPUTS)


def _population(
    n: int, rng: np.random.Generator, *, shifted: bool
) -> dict[str, NDArray[np.float64]]:
    if shifted:  # a fraud ring: bigger baskets, fresh accounts, foreign cards, bursts
        amount = np.exp(rng.normal(np.log(420.0), 0.6, n))
        age = rng.exponential(25.0, n)
        mismatch = rng.random(n) < 0.45
        burst = rng.poisson(2.0, n)
        new_method = rng.random(n) < 0.6
    else:
        amount = np.exp(rng.normal(np.log(150.0), 0.7, n))
        age = rng.gamma(2.0, 220.0, n)
        mismatch = rng.random(n) < 0.06
        burst = rng.poisson(0.3, n)
        new_method = rng.random(n) < 0.12
    return {
        "amount_usd": np.round(np.clip(amount, 5.0, 5000.0), 2).astype(np.float64),
        "account_age_days": np.floor(np.clip(age, 0, 3650)).astype(np.float64),
        "country_mismatch": mismatch.astype(np.float64),
        "orders_last_day": np.clip(burst, 0, 20).astype(np.float64),
        "new_payment_method": new_method.astype(np.float64),
    }


def _rows(columns: dict[str, NDArray[np.float64]]) -> list[dict[str, Any]]:
    n = len(columns["amount_usd"])
    return [
        {
            "amount_usd": float(columns["amount_usd"][i]),
            "account_age_days": int(columns["account_age_days"][i]),
            "country_mismatch": bool(columns["country_mismatch"][i]),
            "orders_last_day": int(columns["orders_last_day"][i]),
            "new_payment_method": bool(columns["new_payment_method"][i]),
        }
        for i in range(n)
    ]


def orders(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` orders from the population the model was trained on (the tool's arguments)."""
    return _rows(_population(n, np.random.default_rng(seed), shifted=False))


def shifted_orders(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` orders from a shifted population, as the tool's arguments: a drift check
    over enough of them flags every feature and the predictions."""
    return _rows(_population(n, np.random.default_rng(seed), shifted=True))


def training_data(
    n: int = TRAINING_ROWS, seed: int = TRAINING_SEED
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Features (columns in :data:`FEATURES` order) and fraud labels, deterministic."""
    rng = np.random.default_rng(seed)
    columns = _population(n, rng, shifted=False)
    logit = (
        -1.1
        + 2.0 * np.log(columns["amount_usd"] / 150.0)
        - 3.0 * np.log1p(columns["account_age_days"]) / np.log1p(400.0)
        + 3.0 * columns["country_mismatch"]
        + 1.2 * columns["orders_last_day"]
        + 2.0 * columns["new_payment_method"]
    )
    fraud = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    x = np.column_stack([columns[name] for name in FEATURES])
    return x, fraud.astype(np.int64)


def _metrics(model: Any, x: NDArray[np.float64], y: NDArray[np.int64]) -> dict[str, float]:
    metrics: Any = importlib.import_module("sklearn.metrics")
    scores = model.predict_proba(x)[:, 1]
    predicted = (scores >= 0.5).astype(np.int64)
    return {
        "auc": round(float(metrics.roc_auc_score(y, scores)), 4),
        "accuracy": round(float(metrics.accuracy_score(y, predicted)), 4),
        "precision": round(float(metrics.precision_score(y, predicted, zero_division=0)), 4),
        "recall": round(float(metrics.recall_score(y, predicted)), 4),
        "test_fraud_rate": round(float(y.mean()), 4),
    }


def train(seed: int = TRAINING_SEED) -> tuple[Any, ModelSpec, NDArray[np.float64]]:
    """Train the classifier; return it, its spec (card with held-out metrics, lineage)
    and the training features (the reference for drift)."""
    ensemble: Any = importlib.import_module("sklearn.ensemble")
    x, y = training_data(seed=seed)
    split = int(len(y) * 0.75)
    model: Any = ensemble.HistGradientBoostingClassifier(
        max_iter=100, max_leaf_nodes=15, learning_rate=0.1, random_state=seed
    )
    with one_thread():
        model.fit(x[:split], y[:split])
        metrics = _metrics(model, x[split:], y[split:])
    data_hash = hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()
    spec = ModelSpec.model_validate(
        {
            "card": ModelCard(
                intended_use=(
                    "Score an order's fraud risk before a refund, credit or manual review; "
                    "a score above 0.5 means likely fraud"
                ),
                owner="risk-team",
                training_data=(
                    f"{len(y)} generated orders (seed {seed}), {y.mean():.1%} fraud; "
                    f"trained on {split}, evaluated on the other {len(y) - split}"
                ),
                metrics=metrics,
                limitations=(
                    "Generated data, not real orders. Knows nothing of items, addresses or "
                    "devices. Amounts above $2,000 and accounts younger than a week are rare "
                    "in training, so scores there are less reliable."
                ),
            ),
            "lineage": Lineage(
                training_data_sha256=data_hash,
                training_data=f"charter.models.demo.training_data(n={len(y)}, seed={seed})",
                code_ref="charter.models.demo.train",
            ),
            "inputs": INPUTS,
            "output": OutputSchema(kind="classifier", positive=1, confidentiality="internal"),
        }
    )
    return model, spec, x


def train_and_register(
    journal: Journal, home: Path, *, actor: str = "charter-demo", version: str = MODEL_VERSION
) -> ModelVersion:
    """Train the fraud model, register it and promote it to production.

    The training outputs (``model.skops``, ``card.yaml``, ``reference.npz``) are written
    to ``home/models/fraud_risk/<version>/`` (they can be registered again with
    ``charter models register``); the registry keeps its own copy of the model's bytes.
    A version already registered is left as it is (and promoted if it is not in
    production), so the demo can run again on the same journal.
    """
    registry = ModelRegistry(journal)
    try:
        existing = registry.get(MODEL_NAME, version)
    except ModelNotFoundError:
        existing = None
    if existing is not None:
        if existing.stage != "production":
            existing = registry.promote(MODEL_NAME, version, actor=actor, reason="demo model")
        return existing
    sio: Any = importlib.import_module("skops.io")
    model, spec, x = train()
    folder = home / "models" / MODEL_NAME / version
    folder.mkdir(parents=True, exist_ok=True)
    model_file = folder / "model.skops"
    data: bytes = sio.dumps(model)
    model_file.write_bytes(data)
    (folder / "card.yaml").write_text(
        yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False)
    )
    columns: dict[str, Any] = {name: x[:, j] for j, name in enumerate(FEATURES)}
    np.savez(folder / "reference.npz", **columns)
    registry.register(
        model_file,
        name=MODEL_NAME,
        version=version,
        spec=spec,
        actor=actor,
        sha256=sha256_hex(data),
        trusted=TRUSTED_TYPES,
        reference=folder / "reference.npz",
    )
    return registry.promote(MODEL_NAME, version, actor=actor, reason="demo model")
