"""Models as the dashboard shows them: the registry (versions, stage, card, lineage) and each
watched model's drift over time, with the alerts and supervision it caused.

The registry is read from its tables; drift history from the journal's ``model.drift``
records (one per breach of a watch, with its measurements and the actions taken), read
newest first through the ``(kind, seq)`` index and stopping at ``limit``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from charter.journal import DamagedRecordError, Journal, Record
from charter.journal._kinds import payload_as
from charter.journal._kinds_platform import ModelDrift
from charter.models import ModelRegistry
from charter.models._version import ModelVersion

DRIFT_SHOWN = 200
"""Most ``model.drift`` records a model's page reads."""


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


class ModelVersionView(_View):
    """One registered version."""

    name: str
    version: str
    stage: str
    flavor: str
    sha256: str
    size_bytes: int
    registered_at: str
    registered_by: str
    stage_changed_at: str
    card: dict[str, Any]
    lineage: dict[str, Any]
    inputs: list[dict[str, Any]]
    output: dict[str, Any]


class DriftPoint(_View):
    """One journaled breach of a model's watch."""

    seq: int
    ts: str
    version: str
    samples: int
    psi: dict[str, float]
    """PSI of each feature and of the prediction."""
    psi_max: float
    breaches: list[str]
    actions: list[dict[str, Any]]
    """What the breach did: ``alert``, ``supervise`` (an agent), ``block`` (a tool)."""
    reason: str


class ModelView(_View):
    """A model: its versions, oldest first, and its drift breaches, oldest first."""

    name: str
    versions: list[ModelVersionView]
    drift: list[DriftPoint]

    @property
    def current(self) -> ModelVersionView:
        """The production version, else the newest."""
        live = [v for v in self.versions if v.stage == "production"]
        return (live or self.versions)[-1]


def models(journal: Journal) -> list[ModelView]:
    """Every registered model with its versions (drift is read per model page)."""
    by_name: dict[str, list[ModelVersionView]] = {}
    for version in ModelRegistry(journal).versions():
        by_name.setdefault(version.name, []).append(_version(version))
    return [ModelView(name=n, versions=v, drift=[]) for n, v in sorted(by_name.items())]


def model(journal: Journal, name: str) -> ModelView | None:
    """One model with its versions and drift history; None if it was never registered."""
    versions = [_version(v) for v in ModelRegistry(journal).versions(name)]
    if not versions:
        return None
    return ModelView(name=name, versions=versions, drift=drift_history(journal, name))


def _version(version: ModelVersion) -> ModelVersionView:
    spec = version.spec
    return ModelVersionView(
        name=version.name,
        version=version.version,
        stage=version.stage,
        flavor=version.flavor,
        sha256=version.sha256,
        size_bytes=version.size_bytes,
        registered_at=version.registered_at,
        registered_by=version.registered_by,
        stage_changed_at=version.stage_changed_at,
        card=spec.card.model_dump(exclude_defaults=True),
        lineage=spec.lineage.model_dump(exclude_defaults=True),
        inputs=[f.model_dump(exclude_defaults=True) for f in spec.inputs],
        output=spec.output.model_dump(),
    )


def drift_history(journal: Journal, name: str, *, limit: int = DRIFT_SHOWN) -> list[DriftPoint]:
    """The model's ``model.drift`` records, oldest first (the newest ``limit``)."""

    def about(record: Record) -> bool:
        try:
            return payload_as(ModelDrift, record.payload).get("model") == name
        except DamagedRecordError:
            return False  # audit verify names it

    found = journal.newest_matching("model.drift", about, limit=limit)
    return [_point(r.seq, r.ts, payload_as(ModelDrift, r.payload)) for r in found[::-1]]


def _point(seq: int, ts: str, p: ModelDrift) -> DriftPoint:
    features = p.get("features", [])
    return DriftPoint(
        seq=seq,
        ts=ts,
        version=str(p.get("version", "")),
        samples=int(p.get("window", {}).get("samples", 0)),
        psi={str(f["name"]): float(f.get("psi", 0.0)) for f in features},
        psi_max=float(p.get("thresholds", {}).get("psi_max", 0.2)),
        breaches=[str(b) for b in p.get("breaches", [])],
        actions=list(p.get("actions", [])),
        reason=str(p.get("reason", "")),
    )


class Line(_View):
    """One series of a line chart, as SVG points."""

    name: str
    points: str
    """``x,y x,y …`` in the chart's coordinates."""
    dots: list[tuple[float, float, str]]
    """Each point and its label (for a title)."""


class LineChart(_View):
    """PSI per feature over the drift breaches, in a 600 by 200 viewBox."""

    lines: list[Line]
    threshold_y: float
    y_max: float
    ticks: list[tuple[float, str]]
    """Y positions and labels of the PSI grid lines."""
    x_labels: list[tuple[float, str]]


WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 600.0, 200.0, 40.0, 20.0, 10.0


def _when(ts: str) -> str:
    """The dashboard's one date format (``2026-12-07 13:45:12``, UTC)."""
    return ts[:19].replace("T", " ")


def drift_chart(points: list[DriftPoint]) -> LineChart | None:
    """A line per feature of PSI across ``points``, with the watch's limit; None for none."""
    if not points:
        return None
    names = sorted({n for p in points for n in p.psi})
    limit = points[-1].psi_max
    top = max([limit * 1.2, *(v for p in points for v in p.psi.values())])
    span_x = WIDTH - LEFT - 10

    def x(i: int) -> float:
        return LEFT + (span_x / 2 if len(points) == 1 else span_x * i / (len(points) - 1))

    def y(v: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - v / top)

    lines: list[Line] = []
    for name in names:
        coords = [(x(i), y(p.psi.get(name, 0.0))) for i, p in enumerate(points)]
        labels = [f"{name}: PSI {p.psi.get(name, 0.0):.3f} at {_when(p.ts)}" for p in points]
        lines.append(
            Line(
                name=name,
                points=" ".join(f"{a:.1f},{b:.1f}" for a, b in coords),
                dots=[(a, b, t) for (a, b), t in zip(coords, labels, strict=True)],
            )
        )
    ticks = [(y(top * k / 4), f"{top * k / 4:.2f}") for k in range(5)]
    step = max(1, len(points) // 4)
    x_labels = [(x(i), _when(points[i].ts)) for i in range(0, len(points), step)]
    return LineChart(lines=lines, threshold_y=y(limit), y_max=top, ticks=ticks, x_labels=x_labels)
