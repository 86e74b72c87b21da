"""Journal record kinds of the platform around runs: model versions, evals, MCP tool
approvals, API tokens and refusals, workers. Registered in :data:`._kinds.MODELS` when
:mod:`._kinds` is imported."""

from __future__ import annotations

from typing import Any, TypedDict

from charter.journal._kinds import kind

# Models (run ``models``).


@kind("model.registered")
class ModelRegistered(TypedDict):
    """A model version was registered, with its card (``ModelVersion.to_json``)."""

    name: str
    version: str
    flavor: str
    stage: str
    sha256: str
    size_bytes: int
    trusted_types: list[str]
    reference: dict[str, Any] | None
    registered_at: str
    registered_by: str
    stage_changed_at: str
    card: dict[str, Any]
    lineage: dict[str, Any]
    inputs: list[dict[str, Any]]
    output: dict[str, Any]
    actor: str


@kind("model.promoted")
class ModelPromoted(TypedDict):
    """A version went to production; the one there before was archived."""

    name: str
    version: str
    from_stage: str
    stage: str
    archived: list[str]
    sha256: str
    actor: str
    reason: str


@kind("model.archived")
class ModelArchived(TypedDict):
    """A version was retired."""

    name: str
    version: str
    from_stage: str
    actor: str
    reason: str


@kind("model.drift")
class ModelDrift(TypedDict):
    """A model's inputs or predictions drifted (``DriftReport.to_json``), and what was
    done about it."""

    model: str
    version: str
    window: dict[str, Any]
    reference_rows: int
    thresholds: dict[str, Any]
    features: list[dict[str, Any]]
    breaches: list[str]
    agents: list[str]
    tools: list[str]
    actions: list[dict[str, Any]]
    actor: str
    reason: str


# Everything else.


@kind("eval.finished")
class EvalFinished(TypedDict):
    """An eval suite ran against an agent version (``EvalResult.to_json``)."""

    eval_id: str
    suite: str
    suite_digest: str
    agent: str
    agent_source: str
    agent_version: str
    version_id: str
    reasoner: str
    approver: str
    started: str
    seconds: float
    cases: list[dict[str, Any]]
    kpis: dict[str, float]


@kind("mcp.approved")
class McpApproved(TypedDict):
    """An MCP tool definition was pinned in a lockfile."""

    server: str
    tool: str
    state: str
    old_sha256: str | None
    new_sha256: str | None
    actor: str
    command: str
    lockfile: str


@kind("token.created")
class TokenCreated(TypedDict):
    """An API token was created (never its secret)."""

    token_id: str
    name: str
    role: str
    actor: str


@kind("token.revoked")
class TokenRevoked(TypedDict):
    """An API token was revoked."""

    token_id: str
    actor: str


@kind("api.rejected")
class ApiRejected(TypedDict):
    """The API refused a request (authentication, role, limits)."""

    method: str
    path: str
    status: int
    reason: str
    actor: str
    client: str
    user_agent: str


@kind("api.rejected.burst")
class ApiRejectedBurst(TypedDict):
    """Refusals of one client counted in a burst instead of journaled one by one."""

    client: str
    count: int
    first: str
    last: str
    sample_paths: list[str]


@kind("worker.taken_over")
class WorkerTakenOver(TypedDict):
    """A worker took a silent one over and requeued its runs."""

    worker: str
    host: str
    pid: int
    by: str
    silent_seconds: float
    runs: list[str]
