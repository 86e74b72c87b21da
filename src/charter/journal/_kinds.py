"""Journal record kinds: one typed model per kind of record charter writes.

Each model is a :class:`~typing.TypedDict`, registered under its kind by :func:`kind`. A
writer builds its payload as the model (pyright checks every key and value where it is
built) and a reader picks fields off it typed (:func:`payload_as`); at run time the
payload is the plain dict it always was. So an append costs exactly what it did (no
object to build, no conversion before ``canonical_json``) and the stored JSON, hence every
hash, is byte for byte what it was: a key a writer leaves out stays out, a key written
as null stays null.

``NotRequired`` keys are written only sometimes (a flag, an optional detail) or were not
written by earlier versions; readers of those use ``.get`` and keep their defaults. A
nested value readers pick apart has a model of its own; one passed on whole (a charter
dump, a tool's result) stays ``dict[str, Any]``. :func:`charter.journal._kind_check.parse_payload`
checks a stored payload against its model (tests, audits); nothing on the append path does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NotRequired, TypedDict, TypeVar, cast

P = TypeVar("P")
_M = TypeVar("_M", bound=type)

Payload = Mapping[str, Any]
"""A record's payload as a writer hands it over: any of the models, or a plain mapping."""
Entry = tuple[str, str, Payload]
"""``(run_id, kind, payload)`` of a record about to be appended."""

MODELS: dict[str, type] = {}
"""Record kind → its payload model."""


def kind(name: str) -> Callable[[_M], _M]:
    """Register the decorated model as the payload of records of kind ``name``."""

    def register(model: _M) -> _M:
        if name in MODELS:
            raise ValueError(f"record kind {name!r} has two models")
        MODELS[name] = model
        return model

    return register


def payload_as(model: type[P], payload: Mapping[str, Any]) -> P:
    """``payload`` typed as ``model``: the same object, neither copied nor checked (a
    reader that must survive a damaged record checks it first, see
    :func:`charter.journal.decode`)."""
    return cast(P, payload)


# Nested values readers pick apart.


class ProposedCall(TypedDict):
    """A proposed tool call."""

    tool: str
    args: dict[str, Any]


class ProposedAnswer(TypedDict):
    """A proposed final answer."""

    answer: str


ProposedAction = ProposedCall | ProposedAnswer
"""What a reasoner proposed: ``"answer" in action`` tells which."""


class TokenCounts(TypedDict):
    """Tokens one proposal took."""

    prompt: int
    completion: int


class DelegatedBy(TypedDict):
    """The run that delegated a sub-agent's run, at which step, and the chain's root."""

    run: str
    step: int
    agent: str
    root: str
    depth: int
    idempotency_key: str
    task_label: dict[str, str]
    root_goal: str
    budgets: dict[str, Any]


class SegmentLineage(TypedDict):
    """The parent and root run a resumed or recovered sub-agent's segment names."""

    run: str
    root: str


class ForkedFrom(TypedDict):
    """The run and step a fork started from."""

    run: str
    step: int
    reexecute_writes: NotRequired[list[str]]
    """The writes the fork redoes under new keys, as its caller allowed."""


class CharterRef(TypedDict):
    """The charter a run started under."""

    name: str
    version: str | int
    policy: str


class Decided(TypedDict):
    """A decision, as journaled (``Decision.to_json``)."""

    verdict: str
    rules: list[str]
    reason: str
    policy: str


# A run's life.


@kind("run.started")
class RunStarted(TypedDict):
    """A run began: its agent's manifest, its goal and who started it."""

    agent: str
    goal: str
    agent_version: NotRequired[str]
    version_id: NotRequired[str]
    reasoner: NotRequired[dict[str, Any]]
    charter: NotRequired[CharterRef]
    tools: NotRequired[list[str]]
    refused_tools: NotRequired[dict[str, Any]]
    tool_origins: NotRequired[dict[str, Any]]
    source: NotRequired[str]
    """The agent file it was loaded from."""
    actor: NotRequired[str]
    governed_by: NotRequired[str]
    """``caller``: driven through the governance API, not charter's loop."""
    forked_from: NotRequired[ForkedFrom | None]
    delegated_by: NotRequired[DelegatedBy]


@kind("run.finished")
class RunFinished(TypedDict):
    """A run ended (a rollback or a cancel writes the short form, without agent)."""

    status: str
    steps: int
    tokens: int
    answer: NotRequired[str | None]
    error: NotRequired[str | None]
    cost_usd: NotRequired[float | None]
    agent: NotRequired[str]
    version_id: NotRequired[str]
    denied: NotRequired[int]
    asked: NotRequired[int]
    outcome: NotRequired[str | None]


@kind("run.waiting")
class RunWaiting(TypedDict):
    """A run stopped to wait for an approval."""

    request_id: str
    active_seconds: NotRequired[float]


@kind("run.resumed")
class RunResumed(TypedDict):
    """A waiting run continued once its request was decided."""

    request_id: str
    actor: str
    delegated_by: NotRequired[SegmentLineage]


@kind("run.recovered")
class RunRecovered(TypedDict):
    """A run whose process stopped was taken up again."""

    actor: str
    delegated_by: NotRequired[SegmentLineage]


@kind("run.cancelled")
class RunCancelled(TypedDict):
    """An operator cancelled the run (or one that delegated it)."""

    reason: str


@kind("run.paused")
class RunPaused(TypedDict):
    """The run stopped because its agent is paused."""

    agent: str
    reason: str


@kind("run.scoped")
class RunScoped(TypedDict):
    """The task scope fixed from the goal before anything was read."""

    rules: list[str]
    tools: list[str]
    args: dict[str, list[str]]
    outside: str
    bind: NotRequired[dict[str, list[dict[str, Any]]]]
    """``tool.argument`` → the goal-designated sources its value may come from."""
    carry: NotRequired[dict[str, list[str]]]
    """Tool → confidential output fields the goal sends through it."""


# A step.


@kind("step.proposed")
class StepProposed(TypedDict):
    """The reasoner proposed a call or an answer."""

    step: int
    action: ProposedAction
    """A call's arguments as journaled: masked where the charter's ``redact`` rules mask
    them before the tool runs."""
    tokens: NotRequired[TokenCounts]
    model: NotRequired[str]
    cost_usd: NotRequired[float]
    redacted: NotRequired[list[dict[str, Any]]]
    """What was masked in the arguments."""


@kind("step.decided")
class StepDecided(TypedDict):
    """The decision on a proposed call, with the run's context label."""

    step: int
    verdict: str
    rules: list[str]
    reason: str
    policy: str
    tool: str
    agent: str
    labels: NotRequired[dict[str, Any] | None]
    sources: NotRequired[dict[str, list[int]] | None]
    designated: NotRequired[dict[str, list[list[Any]]]]
    """Arguments the goal designated: where each value was read, ``[[step, "tool.path"]]``."""
    phase: NotRequired[str]
    simulated: NotRequired[bool]
    redacted: NotRequired[list[dict[str, Any]]]
    restored: NotRequired[list[dict[str, Any]]]


class CallOutcome(TypedDict):
    """What a call did, as its executor tells it: a ``step.effect`` but for the step, the
    tool and the agent, which the governor adds when it journals it."""

    status: str
    result: NotRequired[Any]
    error: NotRequired[str | None]
    us: NotRequired[int | None]
    in_doubt: NotRequired[bool]
    idempotency_key: NotRequired[str]
    recovered: NotRequired[bool]
    cost_usd: NotRequired[float]
    labels: NotRequired[dict[str, Any]]
    redacted: NotRequired[list[dict[str, Any]]]
    would_have: NotRequired[str]
    args: NotRequired[dict[str, Any]]
    child_run: NotRequired[str]
    delegated: NotRequired[dict[str, Any]]


@kind("step.effect")
class StepEffect(CallOutcome):
    """What a call did (or would have done, ``simulated``)."""

    step: int
    tool: str
    agent: NotRequired[str]


@kind("step.observed")
class StepObserved(TypedDict):
    """What the reasoner was shown of the call's outcome."""

    step: int
    status: str
    text: str


@kind("answer.checked")
class AnswerChecked(TypedDict):
    """The final answer's check against what the run read (``flows.answer``)."""

    step: int
    verdict: str
    rule: str | None
    found: list[dict[str, Any]]
    labels: dict[str, str]


@kind("answer.released")
class AnswerReleased(TypedDict):
    """A final answer ``flows.answer`` held went out, its approval's receipt checked."""

    step: int
    request_id: str
    approver: str


@kind("policy.version")
class PolicyVersion(TypedDict):
    """A charter version, journaled once so any decision can be explained later."""

    policy: str
    charter: dict[str, Any]


@kind("anomaly.detected")
class AnomalyDetected(TypedDict):
    """An anomaly rule fired; its playbook runs."""

    rule: str
    kind: str
    reason: str
    tool: str
    step: int
    playbook: list[str]


@kind("budget.exceeded")
class BudgetExceeded(TypedDict):
    """A budget ran out."""

    rule: str
    reason: str


@kind("budget.extended")
class BudgetExtended(TypedDict):
    """An approver extended a budget."""

    rule: str
    request_id: str
    limits: dict[str, Any]


@kind("effect.resolved")
class EffectResolved(TypedDict):
    """An in-doubt write settled: a late result, a retry under its key, or a person."""

    step: int
    tool: str
    agent: str
    idempotency_key: str | None
    outcome: str
    status: str
    actor: str
    by_step: NotRequired[int]
    us: NotRequired[int]
    note: NotRequired[str]
    result: NotRequired[Any]
    error: NotRequired[str | None]
    redacted: NotRequired[list[dict[str, Any]]]


@kind("delegate.started")
class DelegateStarted(TypedDict):
    """A step handed work to a sub-agent's run."""

    step: int
    tool: str
    agent: str
    child_run: str
    idempotency_key: str


@kind("delegate.waiting")
class DelegateWaiting(TypedDict):
    """The run waits because its sub-agent's run waits for an approval."""

    step: int
    child_run: str
    request_id: str


# Approvals.


@kind("approval.requested")
class ApprovalRequested(TypedDict):
    """A call (or a budget extension) waits for a person."""

    request_id: str
    agent: str
    step: int
    tool: str
    args: dict[str, Any]
    args_hash: str
    policy: str
    rules: list[str]
    reason: str
    requested_at: str
    requested_by: str
    terms: dict[str, Any]
    labels: dict[str, Any]
    preview: NotRequired[dict[str, Any]]
    evidence: NotRequired[dict[str, Any]]
    sources: NotRequired[dict[str, list[int]]]
    chain: NotRequired[list[dict[str, Any]]]


class _Receipt(TypedDict):
    request_id: str
    run_id: str
    step: int
    tool: str
    args_hash: str
    policy: str
    approver: str
    verdict: str
    reason: str
    decided_at: str
    expires_at: str
    signature: str
    """Hex Ed25519 signature over the receipt; empty when the journal has no key."""
    key_id: str


@kind("approval.granted")
class ApprovalGranted(_Receipt):
    """An approver granted the request: the receipt, signed with the journal's key."""


@kind("approval.denied")
class ApprovalDenied(_Receipt):
    """An approver refused the request: the receipt, signed with the journal's key."""


@kind("approval.escalated")
class ApprovalEscalated(TypedDict):
    """The request went up its escalation chain."""

    request_id: str
    level: int
    approvers: list[str] | None


@kind("approval.expired")
class ApprovalExpired(TypedDict):
    """The request was not answered in time."""

    request_id: str
    deadline: str


@kind("approval.used")
class ApprovalUsed(TypedDict):
    """The receipt was checked and the approved call goes ahead."""

    request_id: str
    approver: str
    step: NotRequired[int]


@kind("approval.closed")
class ApprovalClosed(TypedDict):
    """The run ended while the request was unanswered."""

    request_id: str
    reason: str


@kind("approval.rejected")
class ApprovalRejected(TypedDict):
    """The receipt failed its check at execution."""

    request_id: str
    rule: str
    reason: str


# Rollback.


@kind("rollback.started")
class RollbackStarted(TypedDict):
    """Undoing a run's writes began."""

    actor: str


class _Undone(TypedDict):
    step: int
    tool: str
    detail: str
    actor: str


@kind("rollback.compensated")
class RollbackCompensated(_Undone):
    """A write was undone by its compensation."""


@kind("rollback.irreversible")
class RollbackIrreversible(_Undone):
    """A write has no compensation: a person must undo it."""


@kind("rollback.in_doubt")
class RollbackInDoubt(_Undone):
    """A write whose effect is unknown was left for a person."""


@kind("rollback.failed")
class RollbackFailed(_Undone):
    """A compensation failed."""


@kind("rollback.finished")
class RollbackFinished(TypedDict):
    """Undoing ended: how each write went, and the run's outcome after it."""

    actor: str
    complete: bool
    outcomes: dict[str, int]
    outcome: NotRequired[str | None]


# Operator controls (run ``control``).


class _AgentControl(TypedDict):
    agent: str
    actor: str
    reason: str


@kind("control.pause")
class ControlPause(_AgentControl):
    """Kill switch: the agent's runs stop before their next step."""


@kind("control.resume")
class ControlResume(_AgentControl):
    """The agent's runs may run again."""


@kind("control.supervise")
class ControlSupervise(_AgentControl):
    """Every write of the agent waits for a person."""


@kind("control.unsupervise")
class ControlUnsupervise(_AgentControl):
    """Supervision lifted."""


class _ToolControl(TypedDict):
    tool: str
    agent: str | None
    """None: every agent."""
    actor: str
    reason: str


@kind("control.revoke")
class ControlRevoke(_ToolControl):
    """A tool may not be called (by one agent, or by all)."""


@kind("control.restore")
class ControlRestore(_ToolControl):
    """A revoked tool may be called again."""


@kind("control.cancel")
class ControlCancel(TypedDict):
    """A run is cancelled, in whichever process runs it."""

    run_id: str
    actor: str
    reason: str


@kind("control.phase")
class ControlPhase(TypedDict):
    """An agent version moved to a rollout phase."""

    agent: str
    version_id: str
    phase: str
    previous: str | None
    actor: str
    reason: str
    evidence: list[dict[str, Any]]


# Notifications (run ``outbox``).


@kind("notify.queued")
class NotifyQueued(TypedDict):
    """A webhook notification waits to be delivered."""

    notification_id: str
    rule: str
    agent: str
    run_id: str
    message: str
    webhook_url: str | None
    timeout_seconds: float


class _Delivery(TypedDict):
    notification_id: str
    detail: str


@kind("notify.delivered")
class NotifyDelivered(_Delivery):
    """The webhook took the notification."""


@kind("notify.failed")
class NotifyFailed(_Delivery):
    """One delivery attempt failed."""


class InheritedOutput(TypedDict):
    """One tool output a run inherited: kept at ``step`` -1, -2, ...; ``known``: the tool is
    the agent's; ``text`` left out when its contract is secret."""

    step: int
    tool: str
    known: bool
    sha256: str
    label: dict[str, str]
    text: NotRequired[str]
    args: NotRequired[dict[str, Any]]


@kind("run.inherited")
class RunInherited(TypedDict):
    """Tool outputs a run's model sees from before the run, labelled as if it read them."""

    outputs: list[InheritedOutput]


# Registers the platform's kinds (their module uses kind(), defined above).
from charter.journal import _kinds_platform  # noqa: E402, F401  # pyright: ignore[reportUnusedImport]
