"""Drift: does what a model sees now still look like what it was trained on?

The window is the newest journaled predictions of one version: ``step.effect`` records
whose result names the model and version (the prediction), joined with their
``step.proposed`` records (the arguments: the inputs). Each input feature and the
predictions are compared with the version's reference by two measures:

* **PSI**, the population stability index: ``Σ (a - e) · ln(a / e)`` over bins, where
  ``e`` and ``a`` are the shares of the reference and of the window in each bin (an
  empty bin counts half an observation; bins empty in both are skipped). Bins are
  quantiles of the reference, as many as the window can fill (:func:`psi_bins`), or each
  of its values when it has no more than ten distinct ones (booleans, small counts), plus
  one bin for values it rarely or never had. Rule of thumb: below 0.1 stable, above 0.2
  shifted.
* the **two-sample Kolmogorov-Smirnov** test (``scipy.stats.ks_2samp``): a small p-value
  says the two samples are unlikely to come from one distribution.

A charter's ``models:`` watches set the thresholds and what a breach does;
:func:`check_drift` journals ``model.drift`` and carries the actions out in the same
append.
"""

from __future__ import annotations

import contextlib
import importlib
import math
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from charter.journal import Journal
from charter.journal._kinds import ControlRevoke, ControlSupervise, Entry
from charter.journal._reads import newest_containing, payloads_of_runs
from charter.models._artifact import ModelError
from charter.models._reference import feature_value
from charter.models._registry import MODELS_RUN, ModelRegistry
from charter.models._version import ModelVersion
from charter.policy import Charter, Notifications
from charter.policy._model_watch import ModelWatch
from charter.runtime import CONTROL_RUN, Controls
from charter.runtime._outbox import notification

PSI_BINS = 10
PSI_EMPTY = 0.5
"""The count an empty bin is given (half an observation)."""
PSI_RARE = 0.05
"""A value of a discrete feature rarer than this in the reference shares the last bin."""
PREDICTION = "prediction"
"""The name the predictions go by among the features of a drift report."""


def psi_bins(observed: int) -> int:
    """Quantile bins for a window of ``observed`` values: one per 20, from 2 to 10.

    PSI grows with the bins a small sample must fill: with ``n`` values in ``k`` bins its
    expected value for an unchanged distribution is about ``(k - 1) / n``, so ten bins
    over 60 predictions read 0.15 on average and would often cross 0.2. One bin per 20
    values keeps it near 0.05 for any window.
    """
    return max(2, min(PSI_BINS, observed // 20))


def psi(reference: ArrayLike, observed: ArrayLike, *, bins: int | None = None) -> float:
    """Population stability index of ``observed`` against ``reference`` (see the module).

    Args:
        reference: the reference sample.
        observed: the window.
        bins: quantile bins of a continuous feature; default :func:`psi_bins` of the
            window. A feature with at most :data:`PSI_BINS` distinct reference values gets
            one bin per value instead, and one for rare (:data:`PSI_RARE`) and unseen
            values.

    Raises:
        ValueError: either sample is empty.
    """
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    obs = np.asarray(observed, dtype=np.float64).reshape(-1)
    if ref.size == 0 or obs.size == 0:
        raise ValueError("PSI needs two non-empty samples")
    values, counts = np.unique(ref, return_counts=True)
    if values.size <= PSI_BINS:
        # A bin per common reference value; rare ones share the last bin with values the
        # reference never had (a 0.3% category a small window missed is not a shift).
        common = values[counts >= PSI_RARE * ref.size]

        def index(x: NDArray[np.float64]) -> NDArray[np.intp]:
            at = np.minimum(np.searchsorted(common, x), common.size - 1)
            return np.where(common[at] == x, at, common.size)

        count = common.size + 1
    else:
        chosen = psi_bins(obs.size) if bins is None else bins
        edges = np.unique(np.quantile(ref, np.linspace(0, 1, chosen + 1)[1:-1]))

        def index(x: NDArray[np.float64]) -> NDArray[np.intp]:
            return np.searchsorted(edges, x, side="right")

        count = edges.size + 1
    ref_counts = np.bincount(index(ref), minlength=count)
    obs_counts = np.bincount(index(obs), minlength=count)
    used = (ref_counts + obs_counts) > 0  # a bin empty in both says nothing
    expected = _shares(ref_counts)[used]
    actual = _shares(obs_counts)[used]
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _shares(counts: NDArray[np.intp]) -> NDArray[np.float64]:
    # An empty bin counts as half an observation of its sample: its share is small but not
    # zero (where the logarithm is undefined), and scales with the sample, unlike a fixed
    # floor such as 1e-4, which charges 0.19 when a window misses a 3% category.
    return np.where(counts > 0, counts, PSI_EMPTY) / counts.sum()


def ks_test(reference: ArrayLike, observed: ArrayLike) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value (``scipy.stats.ks_2samp``)."""
    stats: Any = importlib.import_module("scipy.stats")  # imported on first use (~0.3 s)
    result: Any = stats.ks_2samp(
        np.asarray(reference, dtype=np.float64), np.asarray(observed, dtype=np.float64)
    )
    return float(result.statistic), float(result.pvalue)


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """How far one feature (or the prediction) moved from its reference."""

    name: str
    psi: float
    ks_statistic: float
    ks_p: float
    drifted: bool
    """PSI above the limit, or the KS p-value below it."""

    def to_json(self) -> dict[str, Any]:
        """Journaled form (rounded: the journal is for people and audits)."""
        return {
            "name": self.name,
            "psi": round(self.psi, 6),
            "ks_statistic": round(self.ks_statistic, 6),
            "ks_p": float(f"{self.ks_p:.6g}"),
            "drifted": self.drifted,
        }


@dataclass(frozen=True, slots=True)
class DriftReport:
    """One model version's window of predictions against its reference."""

    model: str
    version: str
    watch: ModelWatch
    samples: int
    """Predictions found in the window (at most ``watch.window``)."""
    reference_rows: int
    features: list[FeatureDrift]
    """Each input feature, then the prediction (named :data:`PREDICTION`)."""
    first_seq: int = 0
    last_seq: int = 0
    """Journal seqs of the oldest and newest prediction in the window."""
    agents: list[str] = field(default_factory=lambda: [])
    """Agents whose calls made the window's predictions."""
    tools: list[str] = field(default_factory=lambda: [])
    """Tools that served them."""
    reference: dict[str, list[float]] = field(default_factory=lambda: {})
    observed: dict[str, list[float]] = field(default_factory=lambda: {})
    """The samples compared (for plots; not journaled)."""

    @property
    def judged(self) -> bool:
        """Enough predictions to judge drift (``watch.min_samples``)."""
        return self.samples >= self.watch.min_samples

    @property
    def breaches(self) -> list[str]:
        """Names of the features (and ``prediction``) that drifted."""
        return [f.name for f in self.features if f.drifted] if self.judged else []

    @property
    def drifted(self) -> bool:
        """Judged, and something drifted."""
        return bool(self.breaches)

    def to_json(self) -> dict[str, Any]:
        """The ``model.drift`` payload (without actions and actor)."""
        return {
            "model": self.model,
            "version": self.version,
            "window": {
                "size": self.watch.window,
                "samples": self.samples,
                "first_seq": self.first_seq,
                "last_seq": self.last_seq,
            },
            "thresholds": {"psi_max": self.watch.psi_max, "ks_p_min": self.watch.ks_p_min},
            "reference_rows": self.reference_rows,
            "features": [f.to_json() for f in self.features],
            "breaches": self.breaches,
            "agents": self.agents,
            "tools": self.tools,
        }


@dataclass(frozen=True, slots=True)
class _Observation:
    seq: int
    run_id: str
    step: int
    tool: str
    agent: str
    score: float


def _predictions(journal: Journal, version: ModelVersion) -> Generator[_Observation]:
    """The version's predictions in the journal, newest first."""
    marker = f'"model":"{version.name}"'  # canonical JSON: a cheap filter in the database
    for run_id, seq, p in newest_containing(journal, "step.effect", marker):
        result = p.get("result")
        if p.get("status") != "ok" or not isinstance(result, dict):
            continue
        found = cast(dict[str, Any], result)
        if found.get("model") != version.name or found.get("version") != version.version:
            continue
        score = found.get("score")
        if not isinstance(score, int | float) or not math.isfinite(score):
            continue
        yield _Observation(
            seq,
            run_id,
            int(p["step"]),
            str(p.get("tool", "")),
            str(p.get("agent", "")),
            float(score),
        )


def _arguments(journal: Journal, wanted: Sequence[_Observation]) -> dict[tuple[str, int], Any]:
    """The proposed arguments of each observation's step."""
    runs = sorted({o.run_id for o in wanted})
    found: dict[tuple[str, int], Any] = {}
    for run_id, _seq, _kind, p in payloads_of_runs(journal, runs, ["step.proposed"]):
        found.setdefault((run_id, int(p["step"])), p["action"].get("args"))
    return found


def measure_drift(
    journal: Journal,
    registry: ModelRegistry,
    name: str,
    *,
    version: str | None = None,
    watch: ModelWatch | None = None,
) -> DriftReport:
    """Compare the newest predictions of model ``name`` with its reference; no side effects.

    Args:
        journal: holds the predictions.
        registry: holds the model and its reference.
        name: the model.
        version: which version; default: the production one (else the newest).
        watch: thresholds and window; default: :class:`ModelWatch` defaults.

    Raises:
        ModelNotFoundError: no such model or version.
        ModelError: the version was registered without reference data.
    """
    watch = watch or ModelWatch(model=name)
    chosen = registry.get(name, version)
    reference = chosen.reference
    if reference is None:
        raise ModelError(
            f"model {name!r} version {chosen.version!r} has no reference data to compare with; "
            "register a version with --reference"
        )
    observations: list[_Observation] = []
    with contextlib.closing(_predictions(journal, chosen)) as newest_first:
        for found in newest_first:
            observations.append(found)
            if len(observations) >= watch.window:
                break
    args = _arguments(journal, observations)
    rows: list[tuple[_Observation, list[float]]] = []
    for obs in observations:
        given = args.get((obs.run_id, obs.step))
        if not isinstance(given, dict):
            continue
        values = cast(dict[str, Any], given)
        try:
            rows.append((obs, [feature_value(f, values[f.name]) for f in chosen.inputs]))
        except (KeyError, TypeError, ValueError):
            continue  # a call the tool refused never reached the model: not in the window
    observed: dict[str, list[float]] = {
        f.name: [r[1][j] for r in rows] for j, f in enumerate(chosen.inputs)
    }
    observed[PREDICTION] = [r[0].score for r in rows]
    expected = dict(reference.features) | {PREDICTION: reference.predictions}
    features: list[FeatureDrift] = []
    if rows:
        for feature_name, sample in observed.items():
            index = psi(expected[feature_name], sample)
            statistic, p_value = ks_test(expected[feature_name], sample)
            drifted = index > watch.psi_max or p_value < watch.ks_p_min
            features.append(FeatureDrift(feature_name, index, statistic, p_value, drifted))
    return DriftReport(
        model=name,
        version=chosen.version,
        watch=watch,
        samples=len(rows),
        reference_rows=reference.rows,
        features=features,
        first_seq=min((r[0].seq for r in rows), default=0),
        last_seq=max((r[0].seq for r in rows), default=0),
        agents=sorted({r[0].agent for r in rows if r[0].agent}),
        tools=sorted({r[0].tool for r in rows if r[0].tool}),
        reference=expected,
        observed=observed,
    )


def _already_reported(journal: Journal, report: DriftReport) -> bool:
    """A ``model.drift`` record already covers this window's newest prediction."""
    for record in journal.records_of_kind("model.drift", limit=100):
        p = record.payload
        if p.get("model") == report.model and p.get("version") == report.version:
            return p["window"]["last_seq"] >= report.last_seq
    return False


def check_drift(
    journal: Journal,
    registry: ModelRegistry,
    watches: Charter | ModelWatch | Sequence[ModelWatch],
    *,
    actor: str,
    notifications: Notifications | None = None,
) -> list[DriftReport]:
    """Measure every watched model; on a breach, journal ``model.drift`` and act.

    Actions (the watch's ``on_drift``), appended with the ``model.drift`` record in one
    transaction, so the journal never shows one without the other:

    * ``alert``: a notification in the outbox (posted to the charter's
      ``notifications.webhook_url``, if any, by ``charter notifications deliver`` or a
      runner);
    * ``supervise``: ``control.supervise`` for each agent whose calls are in the window
      (their writes and external calls ask an approver from their next step);
    * ``block``: ``control.revoke`` of each tool that served the model, for all agents.

    Agents already supervised and tools already revoked are left as they are. A breach
    whose newest prediction an earlier ``model.drift`` already covers is not journaled
    again, so a periodic check does not repeat itself while nothing new was predicted.

    Args:
        journal: holds the predictions; gets the records.
        registry: holds the models and their references.
        watches: a charter (its ``models`` and ``notifications``) or watches.
        actor: who checks (journaled as the actor of the controls).
        notifications: where alerts go; default: the charter's, else the journal only.

    Returns:
        One report per watch, breached or not.
    """
    if isinstance(watches, Charter):
        notifications = notifications or watches.notifications
        watch_list = list(watches.models)
    elif isinstance(watches, ModelWatch):
        watch_list = [watches]
    else:
        watch_list = list(watches)
    notifications = notifications or Notifications()
    reports: list[DriftReport] = []
    for watch in watch_list:
        report = measure_drift(journal, registry, watch.model, watch=watch)
        reports.append(report)
        if not report.drifted or _already_reported(journal, report):
            continue
        journal.append(_drift_entries(journal, report, actor, notifications))
    return reports


def _drift_entries(
    journal: Journal, report: DriftReport, actor: str, notifications: Notifications
) -> list[Entry]:
    watch = report.watch
    why = (
        f"model {report.model} {report.version} drifted "
        f"({', '.join(report.breaches)}; {report.samples} predictions)"
    )
    state = Controls(journal).state()
    entries: list[Entry] = []
    actions: list[dict[str, Any]] = []
    for action in watch.on_drift:
        match action:
            case "alert":
                queued = notification(
                    rule=f"model.drift:{report.model}",
                    agent=", ".join(report.agents),
                    run_id=MODELS_RUN,
                    message=why,
                    webhook_url=notifications.webhook_url,
                    timeout=notifications.timeout_seconds,
                )
                entries.append(queued)
                actions.append({"action": "alert", "notification_id": queued[2]["notification_id"]})
            case "supervise":
                for agent in report.agents:
                    if state.supervision(agent) is None:
                        supervise = ControlSupervise(agent=agent, actor=actor, reason=why)
                        entries.append((CONTROL_RUN, "control.supervise", supervise))
                        actions.append({"action": "supervise", "agent": agent})
            case "block":
                for tool in report.tools:
                    if state.revoked.get((tool, "*")) is None:
                        revoke = ControlRevoke(tool=tool, agent=None, actor=actor, reason=why)
                        entries.append((CONTROL_RUN, "control.revoke", revoke))
                        actions.append({"action": "block", "tool": tool})
    drift = report.to_json() | {"actions": actions, "actor": actor, "reason": why}
    return [(MODELS_RUN, "model.drift", drift), *entries]


def plot_drift(report: DriftReport, path: Path) -> Path:
    """Draw each feature's and the prediction's reference and window histograms (PNG).

    Uses matplotlib's Agg canvas directly: no display, no global backend switch.
    """
    from matplotlib.figure import Figure

    names = list(report.reference)
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    figure: Any = Figure(figsize=(4.2 * columns, 3.0 * rows), layout="constrained")
    axes: Any = figure.subplots(rows, columns, squeeze=False)
    drift = {f.name: f for f in report.features}
    for index, name in enumerate(names):
        ax: Any = axes[index // columns][index % columns]
        reference = np.asarray(report.reference[name], dtype=np.float64)
        observed = np.asarray(report.observed.get(name, []), dtype=np.float64)
        both = np.concatenate([reference, observed]) if observed.size else reference
        edges = np.histogram_bin_edges(both, bins=min(30, max(2, np.unique(both).size)))
        ax.hist(reference, bins=edges, density=True, alpha=0.5, label="reference")
        if observed.size:
            ax.hist(observed, bins=edges, density=True, alpha=0.5, label="window")
        found = drift.get(name)
        title = name if found is None else f"{name}: PSI {found.psi:.2f}, KS p {found.ks_p:.2g}"
        ax.set_title(title, color="red" if found is not None and found.drifted else "black")
        ax.legend(fontsize="small")
    for index in range(len(names), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    figure.suptitle(
        f"{report.model} {report.version}: {report.samples} predictions vs "
        f"{report.reference_rows} reference rows"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=90)
    return path
