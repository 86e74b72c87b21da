"""Models inside the runtime: agents orchestrate, specialised models predict.

A :class:`ModelRegistry` keeps versioned models (scikit-learn through skops or
hash-checked joblib, ONNX through onnxruntime) in the journal's database with a card,
lineage, schemas and reference data; :func:`model_tool` makes one a governed tool;
:func:`check_drift` compares its journaled predictions with the reference and carries out
the charter's ``models:`` watches.

.. code-block:: python

    from charter.models import ModelRegistry, load_spec, model_tool

    registry = ModelRegistry(journal)
    registry.register(Path("fraud.skops"), name="fraud_risk", version="3",
                      spec=load_spec("card.yaml"), reference=Path("train.csv"), actor="ana")
    registry.promote("fraud_risk", "3", actor="ana")
    fraud_risk = model_tool(registry, "fraud_risk", cost_usd=0.0002)
"""

from charter.models._artifact import FLAVORS, Flavor, ModelError, ModelNotFoundError
from charter.models._card import (
    Feature,
    FeatureType,
    Lineage,
    ModelCard,
    ModelSpec,
    OutputSchema,
    load_spec,
)
from charter.models._drift import (
    PREDICTION,
    DriftReport,
    FeatureDrift,
    check_drift,
    ks_test,
    measure_drift,
    plot_drift,
    psi,
)
from charter.models._reference import REFERENCE_SAMPLES, Reference
from charter.models._registry import MODELS_RUN, ModelRegistry
from charter.models._tool import model_tool, tools
from charter.models._version import STAGES, ModelVersion, Prediction, Stage
from charter.models._watch import watch_drift
from charter.policy._model_watch import DriftAction, ModelWatch

__all__ = [
    "FLAVORS",
    "MODELS_RUN",
    "PREDICTION",
    "REFERENCE_SAMPLES",
    "STAGES",
    "DriftAction",
    "DriftReport",
    "Feature",
    "FeatureDrift",
    "FeatureType",
    "Flavor",
    "Lineage",
    "ModelCard",
    "ModelError",
    "ModelNotFoundError",
    "ModelRegistry",
    "ModelSpec",
    "ModelVersion",
    "ModelWatch",
    "OutputSchema",
    "Prediction",
    "Reference",
    "Stage",
    "check_drift",
    "ks_test",
    "load_spec",
    "measure_drift",
    "model_tool",
    "plot_drift",
    "psi",
    "tools",
    "watch_drift",
]
