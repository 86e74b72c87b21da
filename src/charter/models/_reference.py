"""Feature matrices and reference distributions.

A model's inputs become one float matrix in the column order its card declares (``bool``
as 0/1). The reference a version is registered with is a sample of its training data: at
most :data:`REFERENCE_SAMPLES` rows of every feature (the same rows for all, so the joint
distribution is kept) and the model's predictions on them. Drift compares the newest
journaled predictions with it.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from charter.models._artifact import ModelError, sha256_hex
from charter.models._card import Feature

REFERENCE_SAMPLES = 2000
"""Rows of the reference data kept per version (a seeded sample of larger data)."""

_TRUE = frozenset({"true", "1", "yes", "1.0"})
_FALSE = frozenset({"false", "0", "no", "0.0"})


def feature_value(feature: Feature, value: Any) -> float:
    """``value`` of ``feature`` as a float; raise ValueError when it is not of its type."""
    if feature.type == "bool":
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, int | float) and value in (0, 1):
            return float(value)
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return float(text in _TRUE)
        raise ValueError(f"{feature.name}: {value!r} is not a bool")
    if isinstance(value, bool):
        raise ValueError(f"{feature.name}: {value!r} is a bool, not a {feature.type}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{feature.name}: {value!r} is not a finite number")
    if feature.type == "int" and not number.is_integer():
        raise ValueError(f"{feature.name}: {value!r} is not an integer")
    return number


def feature_matrix(
    rows: Sequence[Mapping[str, Any]], inputs: Sequence[Feature]
) -> NDArray[np.float64]:
    """Rows of named feature values as a ``[rows, features]`` matrix.

    Raises:
        ValueError: a feature is missing or not of its declared type.
    """
    matrix = np.empty((len(rows), len(inputs)), dtype=np.float64)
    for i, row in enumerate(rows):
        for j, feature in enumerate(inputs):
            if feature.name not in row:
                raise ValueError(f"{feature.name}: missing")
            matrix[i, j] = feature_value(feature, row[feature.name])
    return matrix


def _columns_matrix(
    columns: Mapping[str, Sequence[Any] | NDArray[Any]], inputs: Sequence[Feature], source: str
) -> NDArray[np.float64]:
    missing = [f.name for f in inputs if f.name not in columns]
    if missing:
        raise ModelError(
            f"{source}: reference data has no column(s) {', '.join(missing)}; "
            f"it has {', '.join(columns) or 'none'}"
        )
    lengths = {len(columns[f.name]) for f in inputs}
    if len(lengths) != 1 or 0 in lengths:
        raise ModelError(f"{source}: reference columns must be non-empty and of one length")
    matrix = np.empty((lengths.pop(), len(inputs)), dtype=np.float64)
    for j, feature in enumerate(inputs):
        for i, value in enumerate(columns[feature.name]):
            try:
                matrix[i, j] = feature_value(feature, _item(value))
            except (TypeError, ValueError) as exc:
                raise ModelError(f"{source}: row {i + 1}: {exc}") from exc
    return matrix


def _item(value: Any) -> Any:
    return cast(Any, value).item() if isinstance(value, np.generic) else value


def reference_columns(
    columns: Mapping[str, Sequence[Any] | NDArray[Any]], inputs: Sequence[Feature]
) -> tuple[NDArray[np.float64], str]:
    """In-memory reference columns as a matrix, and a SHA-256 identifying their content."""
    matrix = _columns_matrix(columns, inputs, "reference")
    return matrix, sha256_hex(np.ascontiguousarray(matrix).tobytes())


def read_reference(path: Path, inputs: Sequence[Feature]) -> tuple[NDArray[np.float64], str]:
    """Read reference data from a CSV file (a header naming the features; other columns
    are ignored) or an ``.npz`` (one array per feature, or ``X`` with the features as
    columns in the card's order). Returns the matrix and the file's SHA-256.

    Raises:
        ModelError: the file is unreadable, lacks a feature, or holds a bad value.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read reference data: {exc.strerror}") from exc
    digest = sha256_hex(data)
    if path.suffix.lower() == ".npz":
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                arrays = {key: np.asarray(archive[key]) for key in archive.files}
        except (OSError, ValueError) as exc:
            raise ModelError(f"{path}: not a readable .npz file: {exc}") from exc
        if "X" in arrays and all(f.name not in arrays for f in inputs):
            x = arrays["X"]
            if x.ndim != 2 or x.shape[1] != len(inputs):
                raise ModelError(
                    f"{path}: X has shape {x.shape}; expected [rows, {len(inputs)}] "
                    f"({', '.join(f.name for f in inputs)})"
                )
            arrays = {f.name: x[:, j] for j, f in enumerate(inputs)}
        return _columns_matrix(arrays, inputs, str(path)), digest
    if path.suffix.lower() != ".csv":
        raise ModelError(f"{path}: reference data must be a .csv or .npz file")
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
        rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ModelError(f"{path}: not a readable CSV file: {exc}") from exc
    header = list(reader.fieldnames or [])
    columns: dict[str, list[Any]] = {name: [row[name] for row in rows] for name in header}
    return _columns_matrix(columns, inputs, str(path)), digest


def sample_rows(total: int, limit: int = REFERENCE_SAMPLES) -> NDArray[np.int64]:
    """Indices of at most ``limit`` of ``total`` rows: all of them, or a seeded sample
    (the same data always keeps the same rows)."""
    if total <= limit:
        return np.arange(total, dtype=np.int64)
    chosen = np.random.default_rng(0).choice(total, size=limit, replace=False)
    return np.sort(chosen).astype(np.int64)


@dataclass(frozen=True, slots=True)
class Reference:
    """What the model saw in training, for drift: feature samples and predictions on them."""

    rows: int
    """Rows in the reference data given at registration (before sampling)."""
    sha256: str
    """SHA-256 of the reference data (the file, or the matrix given in code)."""
    features: dict[str, list[float]]
    """A sample of each feature's values, the same rows for every feature."""
    predictions: list[float]
    """The model's scores on the sampled rows."""

    def to_json(self) -> dict[str, Any]:
        """Stored form."""
        return {
            "rows": self.rows,
            "sha256": self.sha256,
            "features": self.features,
            "predictions": self.predictions,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reference:
        """Back from :meth:`to_json`."""
        return cls(
            rows=int(data["rows"]),
            sha256=str(data["sha256"]),
            features={str(k): [float(v) for v in vs] for k, vs in data["features"].items()},
            predictions=[float(v) for v in data["predictions"]],
        )
