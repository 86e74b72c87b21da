"""The model registry, in the journal's database.

A model version is registered once (``name`` + ``version``) with its file, card, lineage,
input and output schemas and reference data, and lives in one of three stages:
``staging`` (where it lands), ``production`` (at most one version per name; the one
agents call) and ``archived``. Promoting a version to production archives the version
that was there. Every change is journaled (run id ``models``: ``model.registered``,
``model.promoted``, ``model.archived``).

The artifact's bytes are stored in the database (``model_artifacts``), not under
``$CHARTER_HOME``: workers on other hosts share the journal's database but not its
directory, a registration is then one transaction (no file left behind by a failed one)
and a backup of the database is a backup of the registry. Each load checks the bytes
against the SHA-256 in the ``model.registered`` record, which the hash chain protects,
so a rewritten artifact row is refused.

Registration checks everything before it writes: a declared hash, the file's format and
trusted types, the model's feature count and names against the declared inputs, and a
sample prediction (on the reference data, if given). A bad input leaves no row and no
journal record.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from charter.errors import JournalError
from charter.journal import Journal
from charter.journal._kinds import Entry
from charter.journal._kinds_platform import ModelArchived, ModelPromoted
from charter.models._artifact import (
    Flavor,
    ModelError,
    ModelNotFoundError,
    Predictor,
    check_scores,
    flavor_of,
    load_predictor,
    sha256_hex,
    untrusted_types,
)
from charter.models._card import ModelSpec
from charter.models._reference import (
    Reference,
    feature_matrix,
    read_reference,
    reference_columns,
    sample_rows,
)
from charter.models._version import (
    LISTED,
    ModelVersion,
    Prediction,
    Stage,
    artifacts_table,
    from_row,
    to_row,
    versions_table,
)

MODELS_RUN = "models"
"""``run_id`` of registry records in the journal."""

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _now() -> str:
    return datetime.now(UTC).isoformat()


ReferenceData = Path | Mapping[str, Sequence[Any] | NDArray[Any]]
"""A CSV or ``.npz`` file, or columns by feature name."""


class ModelRegistry:
    """Registered models in the journal's database; changes are journaled.

    Args:
        journal: whose database holds the registry and whose chain records its changes.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._predictors: dict[tuple[str, str, str], Predictor] = {}
        self._lock = threading.Lock()

    # -- reading -------------------------------------------------------------------------

    def versions(self, name: str | None = None) -> list[ModelVersion]:
        """Registered versions (of one model, or all), oldest first, without references."""
        query = select(*LISTED).order_by(versions_table.c.name, versions_table.c.registered_at)
        if name is not None:
            query = query.where(versions_table.c.name == name)
        with self.journal.engine.connect() as conn:
            return [from_row(row) for row in conn.execute(query)]

    def get(self, name: str, version: str | None = None, *, reference: bool = True) -> ModelVersion:
        """One version; without ``version``: the production version, or else the newest.

        Args:
            name: the model.
            version: the version; default: production, else the newest registered.
            reference: also load the reference samples (drift needs them, predictions
                do not).

        Raises:
            ModelNotFoundError: no such model or version.
        """
        query = select(*LISTED).where(versions_table.c.name == name)
        if version is not None:
            query = query.where(versions_table.c.version == version)
        with self.journal.engine.connect() as conn:
            rows = list(conn.execute(query.order_by(versions_table.c.registered_at)))
            if not rows:
                raise self._not_found(name, version)
            production = [r for r in rows if r.stage == "production"]
            row = (production or rows)[-1] if version is None else rows[0]
            samples = None
            if reference:
                samples = conn.execute(
                    select(versions_table.c.reference).where(
                        *_key(versions_table, name, row.version)
                    )
                ).scalar_one_or_none()
        loaded = None if samples is None else Reference.from_json(json.loads(samples))
        return from_row(row, loaded)

    def current(
        self, name: str, stage: Stage = "production", *, reference: bool = True
    ) -> ModelVersion:
        """The version agents call at ``stage``: the production one, or the newest in
        ``staging`` (or ``archived``).

        Raises:
            ModelNotFoundError: the model has no version in that stage.
        """
        query = (
            select(versions_table.c.version)
            .where(versions_table.c.name == name, versions_table.c.stage == stage)
            .order_by(versions_table.c.registered_at.desc())
            .limit(1)
        )
        with self.journal.engine.connect() as conn:
            found = conn.execute(query).scalar_one_or_none()
        if found is None:
            known = self.versions(name)
            if not known:
                raise self._not_found(name, None)
            stages = ", ".join(f"{v.version} ({v.stage})" for v in known)
            raise ModelNotFoundError(
                f"model {name!r} has no {stage} version; its versions: {stages}"
                + ("; promote one with `charter models promote`" if stage == "production" else "")
            )
        return self.get(name, found, reference=reference)

    def _not_found(self, name: str, version: str | None) -> ModelNotFoundError:
        if version is None:
            names = sorted({v.name for v in self.versions()})
            return ModelNotFoundError(
                f"no model named {name!r} is registered; registered: {', '.join(names) or 'none'}"
            )
        versions = [v.version for v in self.versions(name)]
        if not versions:
            return self._not_found(name, None)
        return ModelNotFoundError(
            f"model {name!r} has no version {version!r}; its versions: {', '.join(versions)}"
        )

    # -- predicting ----------------------------------------------------------------------

    def predictor(self, version: ModelVersion) -> Predictor:
        """The loaded model of ``version`` (loaded once per process, after its bytes are
        checked against the hash journaled when it was registered).

        Raises:
            ModelError: the artifact is gone or does not match its journaled hash.
        """
        key = (version.name, version.version, version.sha256)
        with self._lock:
            found = self._predictors.get(key)
            if found is not None:
                return found
            query = select(artifacts_table.c.content).where(
                artifacts_table.c.name == version.name,
                artifacts_table.c.version == version.version,
            )
            with self.journal.engine.connect() as conn:
                content = conn.execute(query).scalar_one_or_none()
            if content is None:
                raise ModelError(f"model {version.name} {version.version}: its artifact is gone")
            journaled = self._journaled_sha256(version.name, version.version)
            if journaled is None:
                raise ModelError(
                    f"model {version.name} {version.version}: the journal has no "
                    "model.registered record for it; the registry was changed outside charter"
                )
            if journaled != version.sha256:
                raise ModelError(
                    f"model {version.name} {version.version}: the registry says sha256 "
                    f"{version.sha256} but its model.registered record says {journaled}; "
                    "the registry was changed outside charter"
                )
            loaded = load_predictor(
                bytes(content),
                flavor=version.flavor,
                sha256=journaled,
                trusted=version.trusted_types,
                output=version.output,
            )
            self._predictors[key] = loaded
            return loaded

    def _journaled_sha256(self, name: str, version: str) -> str | None:
        for record in self.journal.records_of_kind("model.registered"):
            p = record.payload
            if p.get("name") == name and p.get("version") == version:
                return str(p["sha256"])
        return None

    def predict(self, version: ModelVersion, rows: Sequence[Mapping[str, Any]]) -> list[Prediction]:
        """Predict for rows of named feature values (validated against the input schema).

        Raises:
            ModelError: a row does not fit the schema, or the model failed.
        """
        try:
            matrix = feature_matrix(rows, version.inputs)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"model {version.name} {version.version}: {exc}") from exc
        return _predict(self.predictor(version), matrix)

    # -- changing ------------------------------------------------------------------------

    def register(
        self,
        source: Path | bytes,
        *,
        name: str,
        version: str,
        spec: ModelSpec,
        actor: str,
        flavor: Flavor | None = None,
        sha256: str | None = None,
        trusted: Sequence[str] = (),
        reference: ReferenceData | None = None,
    ) -> ModelVersion:
        """Register a model file as ``name`` ``version``, in ``staging``.

        Args:
            source: the model file, or its bytes.
            name: the model's name (also the default name of its tool).
            version: this version's label, unique per name.
            spec: card, lineage, inputs and output.
            actor: who registers it (journaled).
            flavor: ``skops``, ``joblib`` or ``onnx``; default: from the file's suffix.
            sha256: the hash the file must have (required for joblib files: they are
                pickles, and only bytes someone vouched for are unpickled).
            trusted: skops types to trust beyond skops's defaults.
            reference: training data (a sample is kept) for drift checks.

        Raises:
            ModelError: the name or version is malformed or taken, the hash differs,
                the file does not load, the model does not fit the declared inputs, or
                a sample prediction fails. Nothing is stored or journaled then.
        """
        if not _NAME.match(name):
            raise ModelError(
                f"model name {name!r}: use a letter, then letters, digits or underscores "
                "(at most 64): it is also the name agents call it by"
            )
        if not _VERSION.match(version):
            raise ModelError(
                f"model version {version!r}: use letters, digits, '.', '_' or '-' (at most 64)"
            )
        if flavor is None:
            if not isinstance(source, Path):
                raise ModelError("registering bytes needs a flavor (skops, joblib or onnx)")
            flavor = flavor_of(source)
        self._refuse_duplicate(name, version)
        data = _read(source)
        digest = sha256_hex(data)
        if sha256 is not None and sha256.lower() != digest:
            raise ModelError(
                f"model file hash mismatch: declared sha256 {sha256.lower()}, the file hashes "
                f"to {digest}; nothing registered"
            )
        if flavor == "joblib" and sha256 is None:
            raise ModelError(
                "a joblib file is a pickle, and loading one runs any code it contains: "
                "declare the SHA-256 of the file you trust (--sha256) or save it with skops"
            )
        needed = untrusted_types(data) if flavor == "skops" else []
        predictor = load_predictor(
            data, flavor=flavor, sha256=digest, trusted=trusted, output=spec.output
        )
        _check_schema(predictor, spec)
        matrix, ref_sha = _reference_matrix(reference, spec)
        predictions = _sample_prediction(predictor, matrix)
        stored_reference = None
        if ref_sha is not None:
            kept = sample_rows(matrix.shape[0])
            stored_reference = Reference(
                rows=int(matrix.shape[0]),
                sha256=ref_sha,
                features={
                    f.name: [float(v) for v in matrix[kept, j]] for j, f in enumerate(spec.inputs)
                },
                predictions=[p.score for p in (predictions[int(i)] for i in kept)],
            )
        now = _now()
        made = ModelVersion(
            name=name,
            version=version,
            flavor=flavor,
            stage="staging",
            sha256=digest,
            size_bytes=len(data),
            trusted_types=tuple(needed),
            spec=spec,
            reference=stored_reference,
            registered_at=now,
            registered_by=actor,
            stage_changed_at=now,
        )

        def write(conn: Connection) -> None:
            conn.execute(insert(versions_table).values(to_row(made)))
            conn.execute(
                insert(artifacts_table).values(
                    name=name, version=version, sha256=digest, content=data
                )
            )

        def undo(conn: Connection) -> None:
            conn.execute(delete(artifacts_table).where(*_key(artifacts_table, name, version)))
            conn.execute(delete(versions_table).where(*_key(versions_table, name, version)))

        entry = (MODELS_RUN, "model.registered", made.to_json() | {"actor": actor})
        try:
            self._journaled(write, undo, lambda: entry)
        except IntegrityError as exc:  # another process registered it meanwhile
            raise ModelError(
                f"model {name!r} version {version!r} is already registered; "
                "register the new file under another version"
            ) from exc
        with self._lock:
            self._predictors[(name, version, digest)] = predictor
        return made

    def promote(self, name: str, version: str, *, actor: str, reason: str = "") -> ModelVersion:
        """Make ``version`` the production version of ``name``; the version that was in
        production is archived (so a rollback is another promotion, of that version).

        Raises:
            ModelNotFoundError: no such model or version.
            ModelError: it is already in production, or its card is incomplete.
        """
        target = self.get(name, version)
        if target.stage == "production":
            raise ModelError(f"model {name!r} version {version!r} is already in production")
        missing = target.card.missing()
        if missing:
            raise ModelError(
                f"model {name!r} version {version!r} cannot go to production: its card lacks "
                f"{', '.join(missing)}; register a new version with a complete card"
            )
        demoted: list[str] = []
        now = _now()

        def write(conn: Connection) -> None:
            # Read under the write lock: a promotion racing this one cannot slip between.
            query = select(versions_table.c.version).where(
                versions_table.c.name == name, versions_table.c.stage == "production"
            )
            demoted.extend(str(v) for v in conn.execute(query).scalars())
            for old in demoted:
                _set_stage(conn, name, old, "production", "archived", now)
            _set_stage(conn, name, version, target.stage, "production", now)

        def undo(conn: Connection) -> None:
            _set_stage(conn, name, version, "production", target.stage, now)
            for old in demoted:
                _set_stage(conn, name, old, "archived", "production", now)

        def entry() -> Entry:
            payload: ModelPromoted = {
                "name": name,
                "version": version,
                "from_stage": target.stage,
                "stage": "production",
                "archived": demoted,
                "sha256": target.sha256,
                "actor": actor,
                "reason": reason,
            }
            return (MODELS_RUN, "model.promoted", payload)

        self._journaled(write, undo, entry)
        return self.get(name, version)

    def archive(self, name: str, version: str, *, actor: str, reason: str = "") -> ModelVersion:
        """Retire ``version``: agents can no longer call it as production or staging.

        Raises:
            ModelNotFoundError: no such model or version.
            ModelError: it is already archived.
        """
        target = self.get(name, version)
        if target.stage == "archived":
            raise ModelError(f"model {name!r} version {version!r} is already archived")
        now = _now()

        def write(conn: Connection) -> None:
            _set_stage(conn, name, version, target.stage, "archived", now)

        def undo(conn: Connection) -> None:
            _set_stage(conn, name, version, "archived", target.stage, now)

        payload: ModelArchived = {
            "name": name,
            "version": version,
            "from_stage": target.stage,
            "actor": actor,
            "reason": reason,
        }
        self._journaled(write, undo, lambda: (MODELS_RUN, "model.archived", payload))
        return self.get(name, version)

    def _refuse_duplicate(self, name: str, version: str) -> None:
        query = select(versions_table.c.stage).where(*_key(versions_table, name, version))
        with self.journal.engine.connect() as conn:
            if conn.execute(query).first() is not None:
                raise ModelError(
                    f"model {name!r} version {version!r} is already registered; "
                    "register the new file under another version"
                )

    def _journaled(
        self,
        write: Callable[[Connection], None],
        undo: Callable[[Connection], None],
        entry: Callable[[], Entry],
    ) -> None:
        """Apply ``write``, then journal ``entry()``; if the journal refuses, ``undo``.

        The journal appends on its own connection, so the two cannot share a
        transaction; the registry change commits first and is taken back if its record
        cannot be written, so the registry never shows a change the journal does not.
        """
        try:
            with self.journal.engine.begin() as conn:
                _lock_for_write(conn)
                write(conn)
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise ModelError(f"cannot write the model registry: {exc}") from exc
        try:
            self.journal.append([entry()])
        except JournalError:
            with self.journal.engine.begin() as conn:
                _lock_for_write(conn)
                undo(conn)
            raise


def _lock_for_write(conn: Connection) -> None:
    # Take SQLite's write lock before reading, so a stage check and its update cannot
    # interleave with another writer (a deferred transaction could deadlock upgrading).
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _key(table: Table, name: str, version: str) -> tuple[Any, Any]:
    return (table.c.name == name, table.c.version == version)


def _set_stage(
    conn: Connection, name: str, version: str, expected: Stage, stage: Stage, now: str
) -> None:
    changed = conn.execute(
        update(versions_table)
        .where(*_key(versions_table, name, version), versions_table.c.stage == expected)
        .values(stage=stage, stage_changed_at=now)
    )
    if changed.rowcount != 1:
        raise ModelError(
            f"model {name!r} version {version!r} is no longer {expected} "
            "(changed by someone else meanwhile); nothing changed, try again"
        )


def _read(source: Path | bytes) -> bytes:
    if isinstance(source, bytes):
        return source
    try:
        return source.read_bytes()
    except OSError as exc:
        raise ModelError(f"{source}: cannot read the model file: {exc.strerror}") from exc


def _check_schema(predictor: Predictor, spec: ModelSpec) -> None:
    declared = spec.feature_names
    expected = predictor.n_features
    if expected is not None and expected != len(declared):
        raise ModelError(
            f"input schema mismatch: the model takes {expected} feature(s), the card declares "
            f"{len(declared)} ({', '.join(declared)})"
        )
    names = predictor.feature_names
    if names is not None and names != declared:
        raise ModelError(
            f"input schema mismatch: the model was trained on columns {', '.join(names)}, "
            f"the card declares {', '.join(declared)} (same names, same order)"
        )


def _reference_matrix(
    reference: ReferenceData | None, spec: ModelSpec
) -> tuple[NDArray[np.float64], str | None]:
    if reference is None:  # one all-zero row, to see that the model runs on this schema
        return np.zeros((1, len(spec.inputs)), dtype=np.float64), None
    if isinstance(reference, Path):
        return read_reference(reference, spec.inputs)
    return reference_columns(reference, spec.inputs)


def _predict(predictor: Predictor, matrix: NDArray[np.float64]) -> list[Prediction]:
    result = predictor.predict(matrix)
    check_scores(result.scores, matrix.shape[0])
    labels = result.labels if result.labels is not None else [None] * matrix.shape[0]
    return [Prediction(float(s), label) for s, label in zip(result.scores, labels, strict=True)]


def _sample_prediction(predictor: Predictor, matrix: NDArray[np.float64]) -> list[Prediction]:
    try:
        return _predict(predictor, matrix)
    except Exception as exc:  # a model's own failure: any type, reported as bad input
        raise ModelError(
            f"input schema mismatch: a sample prediction on {matrix.shape[0]} row(s) failed: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
