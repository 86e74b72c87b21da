"""Model files: checked by hash, then loaded without running untrusted code.

Three flavors:

* ``skops`` (scikit-learn, ``skops.io.dump``): loaded with an explicit list of trusted
  types. skops refuses any type not on the list, so a file cannot smuggle in code; types
  outside skops's defaults (a tree's ``Tree``, say) must be named by whoever registers it.
* ``joblib`` (scikit-learn, a pickle): loading a pickle runs whatever code it holds, so a
  joblib file is loaded only after its SHA-256 matches the one its registrant declared.
* ``onnx`` (``onnxruntime``): a graph of operators, no code; one input tensor of shape
  ``[batch, features]``.

Heavy libraries are imported when a model is loaded, not when charter starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import math
import threading
import warnings
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, cast

import numpy as np
from numpy.typing import NDArray

from charter.errors import CharterError
from charter.models._card import OutputSchema

Flavor = Literal["skops", "joblib", "onnx"]
FLAVORS: tuple[Flavor, ...] = ("skops", "joblib", "onnx")
_SUFFIXES: dict[str, Flavor] = {
    ".skops": "skops",
    ".joblib": "joblib",
    ".pkl": "joblib",
    ".pickle": "joblib",
    ".onnx": "onnx",
}


_ONNX_DTYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


class ModelError(CharterError):
    """A model cannot be registered, changed, loaded or called as asked."""


class ModelNotFoundError(ModelError):
    """No registered model or version has the given name."""


def _library(name: str) -> Any:
    """Import a heavy (and untyped) library when a model is first loaded, not at start."""
    return importlib.import_module(name)


_threads_lock = threading.Lock()
_threads: Any = None


@contextlib.contextmanager
def one_thread() -> Generator[None]:
    """Run scikit-learn's native code on one thread, one caller at a time.

    Agents score one row per call. Under load, OpenMP's worker threads cost far more than
    they save there: a one-row ``predict_proba`` of a gradient-boosted model took 61 ms
    with the default threads and 1 ms with one, measured on two busy cores (training the
    demo model: 27 s against 0.12 s). The limit is process-wide while it holds, hence the
    lock.
    """
    global _threads
    with _threads_lock:
        if _threads is None:
            _threads = _library("threadpoolctl").ThreadpoolController()
        with _threads.limit(limits=1):
            yield


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data``, as 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


def flavor_of(path: Path) -> Flavor:
    """The flavor a file's suffix implies; raise :class:`ModelError` for an unknown one."""
    flavor = _SUFFIXES.get(path.suffix.lower())
    if flavor is None:
        known = ", ".join(sorted(_SUFFIXES))
        raise ModelError(
            f"{path}: cannot tell the model format from the suffix {path.suffix!r} "
            f"(known: {known}); pass --flavor skops|joblib|onnx"
        )
    return flavor


def _native(value: Any) -> Any:
    """A numpy scalar (or bytes) as the JSON-ready Python value it stands for."""
    if isinstance(value, np.generic):
        return cast(Any, value).item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


@dataclass(frozen=True, slots=True)
class Predictions:
    """Scores (a probability or a regression value) and labels, one per input row."""

    scores: NDArray[np.float64]
    labels: list[Any] | None


class Predictor(Protocol):
    """A loaded model, whatever its flavor."""

    @property
    def n_features(self) -> int | None:
        """How many input columns the model expects, if it says."""
        ...

    @property
    def feature_names(self) -> list[str] | None:
        """The column names the model was trained on, if it recorded them."""
        ...

    def predict(self, rows: NDArray[np.float64]) -> Predictions:
        """Predict for a ``[rows, features]`` matrix."""
        ...


class SklearnPredictor:
    """A scikit-learn estimator (or pipeline) loaded from skops or joblib."""

    def __init__(self, model: Any, output: OutputSchema) -> None:
        if not callable(getattr(model, "predict", None)):
            raise ModelError(
                f"the file holds a {type(model).__name__}, which has no predict(): "
                "not a scikit-learn estimator"
            )
        self._model = model
        self._output = output
        self._positive = 0
        if output.kind == "classifier":
            classes = getattr(model, "classes_", None)
            if classes is None or not callable(getattr(model, "predict_proba", None)):
                raise ModelError(
                    f"the card declares a classifier, but the {type(model).__name__} has no "
                    "predict_proba/classes_; declare output.kind: regressor"
                )
            names = [_native(c) for c in cast(Sequence[Any], classes)]
            self._classes = names
            if output.positive is None:
                self._positive = len(names) - 1
            else:
                matches = [i for i, c in enumerate(names) if str(c) == str(output.positive)]
                if not matches:
                    raise ModelError(
                        f"output.positive {output.positive!r} is not one of the model's "
                        f"classes {names}"
                    )
                self._positive = matches[0]

    @property
    def n_features(self) -> int | None:
        """``n_features_in_`` of the estimator, if fitted with it."""
        found = getattr(self._model, "n_features_in_", None)
        return None if found is None else int(found)

    @property
    def feature_names(self) -> list[str] | None:
        """``feature_names_in_`` of the estimator (fitted on named columns), if any."""
        found = getattr(self._model, "feature_names_in_", None)
        return None if found is None else [str(n) for n in cast(Sequence[Any], found)]

    def predict(self, rows: NDArray[np.float64]) -> Predictions:
        """Probabilities of the positive class and predicted classes, or regression values."""
        with one_thread(), warnings.catch_warnings():
            # Fitted on a DataFrame, it warns that a matrix has no column names; the
            # registry has already checked the names and orders the columns to match.
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            if self._output.kind == "regressor":
                values = np.asarray(self._model.predict(rows), dtype=np.float64).reshape(-1)
                return Predictions(values, None)
            proba = np.asarray(self._model.predict_proba(rows), dtype=np.float64)
        best = proba.argmax(axis=1)
        return Predictions(proba[:, self._positive], [self._classes[int(i)] for i in best])


class OnnxPredictor:
    """An ONNX graph run by onnxruntime on the CPU."""

    def __init__(self, data: bytes, output: OutputSchema) -> None:
        ort = _library("onnxruntime")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        options.intra_op_num_threads = 1  # one row per call: threads cost more than they save
        try:
            session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own (unexported) error types
            raise ModelError(f"not a loadable ONNX model: {exc}") from exc
        inputs: list[Any] = list(session.get_inputs())
        if len(inputs) != 1:
            raise ModelError(
                f"the ONNX model has {len(inputs)} inputs "
                f"({', '.join(i.name for i in inputs)}); charter feeds one "
                "[batch, features] tensor"
            )
        shape = list(cast(list[Any], inputs[0].shape))
        if len(shape) != 2:
            raise ModelError(
                f"the ONNX model's input {inputs[0].name!r} has shape {shape}; "
                "charter feeds [batch, features]"
            )
        dtype = _ONNX_DTYPES.get(inputs[0].type)
        if dtype is None:
            raise ModelError(
                f"the ONNX model's input {inputs[0].name!r} is a {inputs[0].type}; "
                f"charter feeds {', '.join(_ONNX_DTYPES)}"
            )
        self._session = session
        self._input = inputs[0].name
        self._dtype = dtype
        self._n_features = shape[1] if isinstance(shape[1], int) else None
        self._output = output

    @property
    def n_features(self) -> int | None:
        """The input tensor's second dimension, unless it is dynamic."""
        return self._n_features

    @property
    def feature_names(self) -> list[str] | None:
        """ONNX graphs do not name their columns."""
        return None

    def predict(self, rows: NDArray[np.float64]) -> Predictions:
        """Run the graph. Classifiers: the last output holds probabilities (a matrix, or
        one ``{class: p}`` map per row) and the first the labels; ``output.positive`` is
        the probability column (or the map's key), by default the last. Regressors: the
        first output."""
        outputs = self._session.run(None, {self._input: rows.astype(self._dtype)})
        count = rows.shape[0]
        if self._output.kind == "regressor":
            values = np.asarray(outputs[0], dtype=np.float64).reshape(count, -1)[:, 0]
            return Predictions(values, None)
        if len(outputs) < 2:
            raise ModelError(
                "the card declares a classifier, but the ONNX model has one output; "
                "classifiers need labels and probabilities (or declare output.kind: regressor)"
            )
        labels = [_native(v) for v in np.asarray(outputs[0]).reshape(-1)]
        raw = outputs[-1]
        if isinstance(raw, list):  # ZipMap: one {class: probability} per row
            maps = cast(list[dict[Any, float]], raw)
            keys = list(maps[0])
            key = keys[-1] if self._output.positive is None else self._key(keys)
            scores = np.array([m[key] for m in maps], dtype=np.float64)
            return Predictions(scores, labels)
        proba = np.asarray(raw, dtype=np.float64).reshape(count, -1)
        column = proba.shape[1] - 1
        if self._output.positive is not None:
            column = int(self._output.positive)
            if not 0 <= column < proba.shape[1]:
                raise ModelError(
                    f"output.positive {self._output.positive!r} is not a probability column "
                    f"of the ONNX model (it has {proba.shape[1]})"
                )
        return Predictions(proba[:, column], labels)

    def _key(self, keys: list[Any]) -> Any:
        for key in keys:
            if str(key) == str(self._output.positive):
                return key
        raise ModelError(f"output.positive {self._output.positive!r} is not one of {keys}")


def untrusted_types(data: bytes) -> list[str]:
    """Types in a skops file that skops does not trust by default."""
    sio = _library("skops.io")
    try:
        return sorted(sio.get_untrusted_types(data=data))
    except Exception as exc:  # a corrupt zip, a missing schema: skops raises many kinds
        raise ModelError(f"not a readable skops file: {type(exc).__name__}: {exc}") from exc


def load_predictor(
    data: bytes,
    *,
    flavor: Flavor,
    sha256: str,
    trusted: Sequence[str],
    output: OutputSchema,
) -> Predictor:
    """Load a model file's bytes, refusing them unless their SHA-256 is ``sha256``.

    Args:
        data: the file's content.
        flavor: its format.
        sha256: the hash it must have (declared, or recorded when it was registered).
        trusted: skops types to trust beyond skops's defaults; any other is refused.
        output: what predictions are (classifier or regressor, the positive class).

    Raises:
        ModelError: the hash differs, the file carries untrusted types, or it does not
            load as a model.
    """
    actual = sha256_hex(data)
    if actual != sha256:
        raise ModelError(
            f"model file hash mismatch: expected sha256 {sha256}, the bytes hash to "
            f"{actual}; refusing to load it"
        )
    if flavor == "onnx":
        return OnnxPredictor(data, output)
    if flavor == "skops":
        untrusted = [t for t in untrusted_types(data) if t not in trusted]
        if untrusted:
            raise ModelError(
                f"the skops file contains types that are not trusted: {', '.join(untrusted)}; "
                "check them, then trust each explicitly (--trust TYPE)"
            )
        sio = _library("skops.io")
        try:
            model = sio.loads(data, trusted=list(trusted))
        except Exception as exc:
            raise ModelError(f"cannot load the skops file: {type(exc).__name__}: {exc}") from exc
        return SklearnPredictor(model, output)
    joblib = _library("joblib")
    try:
        # Safe only because the bytes hash to what the registrant vouched for (above).
        model = joblib.load(io.BytesIO(data))
    except Exception as exc:
        raise ModelError(f"cannot load the joblib file: {type(exc).__name__}: {exc}") from exc
    return SklearnPredictor(model, output)


def check_scores(scores: NDArray[np.float64], rows: int) -> None:
    """Refuse predictions that are not one finite number per row."""
    if scores.shape != (rows,):
        raise ModelError(f"the model returned {scores.shape} scores for {rows} row(s)")
    bad = [float(s) for s in scores if not math.isfinite(float(s))]
    if bad:
        raise ModelError(f"the model returned non-finite scores ({bad[0]})")
