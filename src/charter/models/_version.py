"""A model version as the registry stores it: the ``model_versions`` and
``model_artifacts`` tables, and the :class:`ModelVersion` read back from them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from sqlalchemy import BigInteger, Column, LargeBinary, MetaData, String, Table, Text

from charter.models._artifact import Flavor
from charter.models._card import Feature, Lineage, ModelCard, ModelSpec, OutputSchema
from charter.models._reference import Reference

Stage = Literal["staging", "production", "archived"]
STAGES: tuple[Stage, ...] = get_args(Stage)

_metadata = MetaData()
versions_table = Table(
    "model_versions",
    _metadata,
    Column("name", String(128), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("flavor", String(16), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("trusted_types", Text, nullable=False),
    Column("card", Text, nullable=False),
    Column("lineage", Text, nullable=False),
    Column("inputs", Text, nullable=False),
    Column("output", Text, nullable=False),
    Column("reference", Text),
    Column("registered_at", String(40), nullable=False),
    Column("registered_by", String(128), nullable=False),
    Column("stage_changed_at", String(40), nullable=False),
)
artifacts_table = Table(
    "model_artifacts",
    _metadata,
    Column("name", String(128), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),
)
LISTED: list[Any] = [c for c in versions_table.c if c.name != "reference"]
"""The columns but the reference samples (listings and predictions do not need them)."""


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One registered version of a model."""

    name: str
    version: str
    flavor: Flavor
    stage: Stage
    sha256: str
    """SHA-256 of the artifact's bytes."""
    size_bytes: int
    trusted_types: tuple[str, ...]
    """skops types trusted beyond skops's defaults when it was registered."""
    spec: ModelSpec
    """Card, lineage, inputs and output, as declared."""
    reference: Reference | None
    """Reference distributions for drift (None if registered without, or not loaded)."""
    registered_at: str
    registered_by: str
    stage_changed_at: str

    @property
    def card(self) -> ModelCard:
        """The model card."""
        return self.spec.card

    @property
    def lineage(self) -> Lineage:
        """Where this version came from."""
        return self.spec.lineage

    @property
    def inputs(self) -> list[Feature]:
        """The input schema, in column order."""
        return self.spec.inputs

    @property
    def output(self) -> OutputSchema:
        """The output schema."""
        return self.spec.output

    def to_json(self) -> dict[str, Any]:
        """Everything but the reference samples (their size and hash instead)."""
        reference = None
        if self.reference is not None:
            reference = {"rows": self.reference.rows, "sha256": self.reference.sha256}
        return {
            "name": self.name,
            "version": self.version,
            "flavor": self.flavor,
            "stage": self.stage,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "trusted_types": list(self.trusted_types),
            "reference": reference,
            "registered_at": self.registered_at,
            "registered_by": self.registered_by,
            "stage_changed_at": self.stage_changed_at,
        } | self.spec.model_dump(mode="json")


def from_row(row: Any, reference: Reference | None = None) -> ModelVersion:
    """A version from its ``model_versions`` row (and its reference, if loaded)."""
    spec = ModelSpec(
        card=ModelCard.model_validate_json(row.card),
        lineage=Lineage.model_validate_json(row.lineage),
        inputs=[Feature.model_validate(f) for f in json.loads(row.inputs)],
        output=OutputSchema.model_validate_json(row.output),
    )
    return ModelVersion(
        name=row.name,
        version=row.version,
        flavor=cast(Flavor, row.flavor),
        stage=cast(Stage, row.stage),
        sha256=row.sha256,
        size_bytes=int(row.size_bytes),
        trusted_types=tuple(json.loads(row.trusted_types)),
        spec=spec,
        reference=reference,
        registered_at=row.registered_at,
        registered_by=row.registered_by,
        stage_changed_at=row.stage_changed_at,
    )


@dataclass(frozen=True, slots=True)
class Prediction:
    """One prediction, as the model tool returns it."""

    score: float
    label: Any

    def to_json(self, version: ModelVersion) -> dict[str, Any]:
        """``{score, label, model, version}``."""
        return {
            "score": self.score,
            "label": self.label,
            "model": version.name,
            "version": version.version,
        }


def to_row(made: ModelVersion) -> dict[str, Any]:
    """The ``model_versions`` row of ``made``."""
    spec = made.spec
    return {
        "name": made.name,
        "version": made.version,
        "flavor": made.flavor,
        "stage": made.stage,
        "sha256": made.sha256,
        "size_bytes": made.size_bytes,
        "trusted_types": json.dumps(list(made.trusted_types)),
        "card": spec.card.model_dump_json(),
        "lineage": spec.lineage.model_dump_json(),
        "inputs": json.dumps([f.model_dump(mode="json") for f in spec.inputs]),
        "output": spec.output.model_dump_json(),
        "reference": None if made.reference is None else json.dumps(made.reference.to_json()),
        "registered_at": made.registered_at,
        "registered_by": made.registered_by,
        "stage_changed_at": made.stage_changed_at,
    }
