"""Govern the calls of an agent loop charter does not run.

An integration (another framework's agent, an MCP client, a plain Python loop) keeps its
own loop and runs its own tools; around each tool call it asks charter, and tells charter
what happened::

    from charter import Journal, load_agent
    from charter.governance import GovernedRun

    with GovernedRun.open(Journal("sqlite:///charter.db"), load_agent("agent.yaml"),
                          goal="refund order 1042 if policy allows") as run:
        verdict = run.govern("refund_order", {"order_id": 1042})
        if verdict.runs:
            run.record(verdict, result=refund_order(1042))   # the caller runs the tool
        elif verdict.verdict == "ask":
            verdict = run.wait_for_approval(timeout=600)      # or come back later: resume
        run.finish(answer="refunded")

Every call goes through the same pipeline as charter's own run loop (the run's lease
claimed, arguments labelled, one decision, the decision journaled, the effect and the
observation journaled with the output's labels), so the run has the same records,
receipts, controls, budgets, labels, traces and idempotency keys as a native run:
the dashboard, ``charter audit verify``, rollback, ``runs replay`` and ``policy explain``
work on it unchanged.

Tools may be ordinary charter tools or :func:`~charter.tools.declared_tool`\\ s: a name,
a JSON schema of the arguments (optional) and a contract, with no callable. A tool the
agent file's ``delegate:`` names is not the caller's to run: charter runs the sub-agent
(a child run in this process, linked to the step both ways, sharing the run's budgets,
decided under every charter above it, its result labelled with what it read) and returns
its result as the verdict's observation, or the approval the child waits for.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Self, cast

from charter.agent import Agent
from charter.errors import RunStateError
from charter.journal import Journal
from charter.journal._kinds import (
    BudgetExceeded,
    CallOutcome,
    DelegateStarted,
    RunResumed,
    RunStarted,
    RunWaiting,
    StepEffect,
    payload_as,
)
from charter.journal._lease import Lease, claim
from charter.reasoners._base import FinalAnswer, Observation, ToolCall, Usage
from charter.runtime._anomaly import JournalRateLimiter
from charter.runtime._answers import ANSWER_TOOL
from charter.runtime._approvals import ApprovalRequest, ApprovalState
from charter.runtime._controls import Controls
from charter.runtime._delegation import (
    DELEGATE_STARTED,
    continue_delegation,
    delegate,
    end_waiting_child,
)
from charter.runtime._governor import Governed
from charter.runtime._history import (
    check_owner,
    history,
    interrupted_write,
    rebuild,
    run_state,
    waiting_record,
)
from charter.runtime._inherit import INHERITED, Inherited, inherit, inherited_count
from charter.runtime._ledger import Doubt, call_identity, target_of
from charter.runtime._run import Run, Step
from charter.runtime._runner import Runner, new_session
from charter.runtime._session import (
    Session,
    active_seconds,
    finish_payload,
)

__all__ = ["CallVerdict", "GovernedRun", "Inherited"]

CALLER = "caller"
"""``run.started``'s ``governed_by`` for a run its caller drives (charter's own run loop
never resumes or recovers it)."""


_POLICIES: weakref.WeakKeyDictionary[Journal, set[str]] = weakref.WeakKeyDictionary()
"""Policy versions known to be in each journal: an integration opens a governed run per
framework run, and looking them up in the journal each time scans it."""
_CONTROLS: weakref.WeakKeyDictionary[Journal, Controls] = weakref.WeakKeyDictionary()
"""The operator controls of each journal as last read: a new reader would read every
control record again on a governed run's first call. Each call still asks the journal
whether a control was added since (by any process), as a runner's own reader does."""


def _runner(journal: Journal, owner: str) -> Runner:
    runner = Runner(journal, owner=owner)
    runner.governor.journaled_policies = _POLICIES.setdefault(journal, set())
    controls = _CONTROLS.get(journal)
    if controls is None:  # it reads the journal through a weak reference: the cache must
        # not keep the journal (and its connections) alive once its users let it go
        controls = _CONTROLS.setdefault(journal, Controls(cast(Journal, weakref.proxy(journal))))
    runner.controls = controls
    return runner


@dataclass(frozen=True, slots=True)
class CallVerdict:
    """Charter's answer on one proposed call."""

    run_id: str
    step: int
    """The run's step this call is (its decision, effect and observation are journaled
    under it)."""
    tool: str
    args: dict[str, Any]
    """The arguments as validated (what the caller must run, exactly)."""
    verdict: str
    """``allow``, ``deny``, ``ask``, ``simulate``, ``redact`` (it runs with :attr:`args`,
    where the charter's ``redact`` rules masked values), or ``invalid`` (an unknown tool,
    arguments its schema rejects, a placeholder this run cannot give back: nothing was
    decided)."""
    rules: tuple[str, ...] = ()
    """Every rule that matched."""
    reason: str = ""
    labels: dict[str, dict[str, str]] = field(default_factory=lambda: {})
    """Each argument's information-flow label (``trust``, ``confidentiality``)."""
    idempotency_key: str | None = None
    """The key to pass to the tool's backend when the call runs."""
    approval: ApprovalRequest | None = None
    """The approval request journaled for an ``ask``."""
    approver: str | None = None
    """Who approved the call, when it runs on an approval's receipt."""
    observation: Observation | None = None
    """What the model should be told when the call does not run."""
    child_run: str | None = None
    """For a call of a ``delegate:`` tool: the sub-agent's run charter started for it (in
    this process, linked to this step both ways). The caller runs nothing and records
    nothing: the child's result is :attr:`observation`, labelled with what it read."""

    @property
    def runs(self) -> bool:
        """Whether the caller may run the call now (then :meth:`GovernedRun.record` it)."""
        return self.idempotency_key is not None


class GovernedRun:
    """A governed run whose calls its caller executes. Build it with :meth:`open` or
    :meth:`resume`; it holds the run's lease until :meth:`finish` or :meth:`close`.

    Raises (any method): :class:`~charter.errors.LeaseLostError` once another process
    took the run over (nothing more is journaled for this process).
    """

    def __init__(self, runner: Runner, session: Session, lease: Lease) -> None:
        self._runner = runner
        self._session = session
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(lease.held())
        session.lease = lease
        session.limiter = JournalRateLimiter(
            runner.journal, session.agent.name, runner.approvals.clock
        )
        self._pending: tuple[Step, Governed] | None = None
        self._usage = Usage()
        self._model = ""
        self._inherited = 0

    @property
    def run_id(self) -> str:
        """The run's id (resume it by this id in another process)."""
        return self._session.run.run_id

    @property
    def run(self) -> Run:
        """The run as it stands (status, steps, tokens, outcome once finished)."""
        return self._session.run

    @classmethod
    def open(
        cls,
        journal: Journal,
        agent: Agent,
        goal: str,
        *,
        actor: str = "",
        owner: str = "governance",
    ) -> GovernedRun:
        """Start a governed run of ``agent`` on ``goal`` (trusted input), claiming its
        lease; its ``run.started`` names the agent's version and charter, as a native
        run's does."""
        runner = _runner(journal, owner)
        session = new_session(agent, goal, actor, None)
        run = session.run
        lease = Lease.new(
            journal.engine, run.run_id, owner=owner, actor=actor, ttl=runner.lease_ttl
        )
        governed = cls(runner, session, lease)
        manifest = agent.manifest(goal, actor, session.version_id)
        manifest["governed_by"] = CALLER
        session.record("run.started", manifest)
        runner.governor.scope_run(session)
        runner.governor.record_policy(session)
        runner.governor.flush(session)
        return governed

    @classmethod
    def resume(
        cls,
        journal: Journal,
        agent: Agent,
        run_id: str,
        *,
        actor: str = "",
        owner: str = "governance",
    ) -> GovernedRun:
        """Take up run ``run_id`` in this process (claiming its lease). A run that waited
        for an approval now decided continues with :meth:`approved_call`.

        Raises:
            RunNotFoundError: no such run.
            RunOwnedError: another live process holds the run.
            RunStateError: the run finished, belongs to another agent, or waits for an
                approval not yet decided.
        """
        history(journal, run_id)
        runner = _runner(journal, owner)
        lease = claim(journal.engine, run_id, owner=owner, actor=actor, ttl=runner.lease_ttl)
        try:
            records = history(journal, run_id)
            check_owner(records, agent)
            state = run_state(records)
            if state == "finished":
                raise RunStateError(f"run {run_id} finished; open a new run")
            session = rebuild(agent, records, actor)
            waiting = waiting_record(records)
            if waiting is not None:
                request_id = str(payload_as(RunWaiting, waiting.payload)["request_id"])
                if runner.approvals.get(request_id).status == "pending":
                    raise RunStateError(
                        f"run {run_id} waits for approval {request_id}; "
                        f"`charter approvals approve {request_id}` or `deny` it first"
                    )
                session.run.status, session.run.waiting_for = "waiting", request_id
        except BaseException:
            lease.release()
            raise
        manifest = payload_as(RunStarted, records[0].payload)
        if "charter" not in manifest:
            raise KeyError("charter")  # every run's start names its charter
        runner.governor.journaled_policies.add(str(manifest["charter"]["policy"]))
        governed = cls(runner, session, lease)
        governed._inherited = inherited_count(records)
        runner.governor.record_policy(session)
        interrupted = interrupted_write(records) if waiting is None else None
        if interrupted is not None and interrupted[1] in agent.delegates:
            # The child its key started is found and continued (or read), never doubled.
            try:
                continue_delegation(runner, session, recovered=True)
            except BaseException:
                governed.close()  # not left half taken up
                raise
        elif interrupted is not None:
            governed._unrecorded(*interrupted)
        return governed

    def _journaled_args(self, step: Step) -> dict[str, Any]:
        """The arguments of ``step``'s call as the journal keeps them."""
        action = self._runner.governor.proposal(self._session, step)["action"]
        assert "args" in action  # a call's proposal
        return dict(action["args"])

    def _unrecorded(
        self, step_index: int, tool_name: str, why: str = "", governed: Governed | None = None
    ) -> None:
        """A call allowed before the caller's process stopped, its result never recorded:
        a write's effect is unknown, so it is journaled in doubt (its target blocked by
        rule ``effect.in_doubt`` until ``charter runs resolve``); a read is an error.
        ``governed``: the call as governed in this process (else: as journaled)."""
        session = self._session
        step = next(s for s in session.run.steps if s.index == step_index)
        call = step.action
        assert isinstance(call, ToolCall)
        found = session.agent.inventory.get(tool_name)
        if governed is not None:  # keyed over the arguments as journaled (masked)
            identity, target, key = governed.call.identity, governed.call.target, governed.key
        else:
            args = found.validate_args(call.args).model_dump(mode="json")
            identity, target = call_identity(found, args), target_of(found, args)
            key = session.ledger.key(self.run_id, step_index, identity)
        why = why or (
            f"the caller's process stopped after {tool_name} (step {step_index}) was allowed "
            "and before its result was recorded"
        )
        agent = session.agent.name
        if found.contract.side_effect == "read":
            effect = StepEffect(
                step=step_index, tool=tool_name, agent=agent, status="error", error=why, us=0
            )
        else:
            session.ledger.in_doubt(Doubt(step_index, found.name, target, identity, key))
            effect = StepEffect(
                step=step_index,
                tool=tool_name,
                agent=agent,
                status="in_doubt",
                in_doubt=True,
                error=why,
                idempotency_key=key,
            )
        session.record("step.effect", effect)
        self._runner.governor.observed(session, step, call, Observation("error", why))

    def inherit(self, outputs: Sequence[Inherited]) -> None:
        """Tell the run what its model sees from before the run began: the tool outputs of
        the conversation it starts from (a framework's session, thread or message
        history). Each is labelled as if the run had read it: by its tool's contract,
        field by field, a trusted field vouching for its values as in the run itself; an
        output of a tool the agent does not have, or of none named, is untrusted. One
        ``run.inherited`` record keeps each output's digest and label (and its text,
        unless the tool's contract is secret), so a resume and ``runs replay`` label
        them again. Call it before the calls that the outputs may have chosen.

        Raises:
            RunStateError: the run is not running.
        """
        session = self._open_for("inherit a conversation")
        if not outputs:
            return
        record = inherit(session.labels, session.agent.inventory, outputs, -1 - self._inherited)
        self._inherited += len(outputs)
        session.record(INHERITED, record)
        self._runner.governor.flush(session)

    def report_usage(
        self, *, prompt_tokens: int = 0, completion_tokens: int = 0, model: str = ""
    ) -> None:
        """Count model usage since the last call against the run's budgets; it is
        journaled with the next proposed call (or the finish)."""
        if prompt_tokens < 0 or completion_tokens < 0:
            raise ValueError("token counts cannot be negative")
        self._usage = Usage(
            self._usage.prompt_tokens + prompt_tokens,
            self._usage.completion_tokens + completion_tokens,
        )
        self._model = model or self._model

    def govern(
        self,
        tool: str,
        args: Mapping[str, Any],
        arg_sources: Mapping[str, Sequence[int]] | None = None,
    ) -> CallVerdict:
        """Decide a proposed call of ``tool`` with ``args`` and journal the decision.

        Args:
            tool: the tool's name (one of the agent's tools, or a declared tool).
            args: the arguments the model proposed.
            arg_sources: for each argument, the steps whose outputs it came from (value
                provenance); default: every argument counts as the whole context.

        Returns the verdict; when it :attr:`~CallVerdict.runs`, run the call exactly as
        validated and :meth:`record` what happened before governing another. A call of a
        ``delegate:`` tool that may run is run here (see :attr:`CallVerdict.child_run`).

        Raises:
            RunStateError: the run finished or waits for an approval, or the previous
                call that may run was not recorded.
        """
        session = self._open_for("govern a call")
        if self._pending is not None:
            raise RunStateError(
                f"step {self._pending[0].index} of run {self.run_id} "
                f"({self._pending[1].call.tool.name}) may run but was not recorded; "
                "record its result or error first"
            )
        run, governor = session.run, self._runner.governor
        controls = self._runner.controls.state()
        call = ToolCall(tool, dict(args))
        stopped = self._stopped(session)
        if stopped is not None:
            return stopped
        step = self._propose(session, call, arg_sources)
        if governor.paused(session, controls):
            return self._end_stopped(session, step, call)
        governed = governor.govern(session, step, call, controls, None)
        if isinstance(governed, Governed):
            if governed.call.tool.name in session.agent.delegates:
                return self._delegate(session, step, call, governed)
            self._pending = (step, governed)
            return self._verdict(step, call, governed=governed)
        if governed is None:  # an approval was requested: the run waits
            return self._waiting(session, step, call)
        governor.observed(session, step, call, governed)
        if run.status != "running":  # an anomaly playbook stopped the run
            return self._end_stopped(session, step, call, observation=governed)
        return self._verdict(step, call, observation=governed)

    def _waiting(self, session: Session, step: Step, call: ToolCall) -> CallVerdict:
        """The run waits for an approval (its own call's, or a sub-agent's)."""
        run = session.run
        assert run.waiting_for is not None, "a waiting run names its request"
        waiting: RunWaiting = {
            "request_id": run.waiting_for,
            "active_seconds": active_seconds(session.meter),
        }
        session.record("run.waiting", waiting)
        self._runner.governor.flush(session, checkpoint=True)
        request = self._runner.approvals.get(str(run.waiting_for)).request
        verdict = self._verdict(step, call, approval=request)
        if request.run_id == self.run_id:
            return verdict
        # A sub-agent's call asks: this call waits on the same request, for its reasons.
        child = f"its sub-agent's run {request.run_id} waits for approval: {request.reason}"
        return replace(verdict, verdict="ask", rules=request.rules, reason=child)

    def _delegate(
        self, session: Session, step: Step, call: ToolCall, governed: Governed
    ) -> CallVerdict:
        """Run the sub-agent a ``delegate:`` tool hands its task to, here, as charter's run
        loop does (:func:`charter.runtime._delegation.delegate`): a child run linked to
        this step, sharing this run's budgets, under every charter above it."""
        runner = self._runner
        found = governed.call.tool
        outcome = delegate(runner, session, step, found, governed.key, governed.args)
        if outcome is None:  # the child waits for an approval, and this run with it
            return self._waiting(session, step, call)
        observation, effect = outcome
        observation = runner.governor.record_effect(session, step, governed, observation, effect)
        runner.governor.observed(session, step, call, observation)
        return self._child_verdict(step, call, governed.args)

    def _child_verdict(self, step: Step, call: ToolCall, args: dict[str, Any]) -> CallVerdict:
        """What a delegation that ran, or was continued, returns to the caller: the
        request it waits on, or the child's result as the observation."""
        session = self._session
        if session.run.status == "waiting":  # the child asked for an approval
            return self._waiting(session, step, call)
        started = (
            payload_as(DelegateStarted, r.payload)
            for r in self._runner.journal.records(self.run_id)
            if r.kind == DELEGATE_STARTED
        )
        child = next((str(d["child_run"]) for d in started if int(d["step"]) == step.index), None)
        verdict = self._verdict(step, call, observation=step.observation)
        return replace(verdict, args=args, child_run=child)

    def record(
        self,
        verdict: CallVerdict,
        *,
        result: Any = None,
        error: str | None = None,
        in_doubt: bool = False,
    ) -> Observation:
        """Journal what the call ``verdict`` let run did: its ``result`` (JSON-ready), or
        the ``error`` it raised. Returns the observation to give the model (a secret
        output is withheld from it and from the journal). With ``in_doubt``, the call
        may or may not have taken effect (it timed out or was cancelled midway): a
        write is journaled in doubt, its target blocked by rule ``effect.in_doubt``
        until ``charter runs resolve``; a read, as failed with ``error``.

        Raises:
            RunStateError: no call of this run awaits a result at that step (never
                governed, denied, or already recorded).
        """
        session = self._open_for("record a call")
        pending = self._pending
        if pending is None or pending[0].index != verdict.step or verdict.run_id != self.run_id:
            awaited = "none does" if pending is None else f"step {pending[0].index} does"
            raise RunStateError(
                f"run {self.run_id}: no governed call awaits a result at step {verdict.step} "
                f"({awaited}); govern a call, then record it once"
            )
        step, governed = pending
        if in_doubt:
            self._pending = None
            why = error or f"the outcome of {governed.call.tool.name} is unknown"
            self._unrecorded(step.index, governed.call.tool.name, why, governed)
            return Observation("error", why)
        if error is not None:
            observation = Observation("error", error)
            effect = CallOutcome(status="error", error=error, us=0)
        else:
            observation = Observation("ok", result)
            effect = CallOutcome(status="ok", result=result, us=0)
        self._pending = None
        observation = self._runner.governor.record_effect(
            session, step, governed, observation, effect
        )
        call = step.action
        assert isinstance(call, ToolCall)
        self._runner.governor.observed(session, step, call, observation)
        return observation

    def wait_for_approval(self, timeout: float, *, poll: float = 0.5) -> CallVerdict:
        """Block until the run's approval request is decided (in any process: the CLI,
        the API, the dashboard) or ``timeout`` seconds pass, then return the call as
        re-governed (see :meth:`approved_call`).

        Raises:
            RunStateError: the run is not waiting, or the request is still undecided at
                the timeout.
        """
        session = self._session
        if session.run.status != "waiting" or session.run.waiting_for is None:
            raise RunStateError(f"run {self.run_id} is not waiting for an approval")
        request_id = session.run.waiting_for
        deadline = time.monotonic() + timeout
        while self._runner.approvals.get(request_id).status == "pending":
            if time.monotonic() >= deadline:
                raise RunStateError(
                    f"approval {request_id} of run {self.run_id} is still undecided after "
                    f"{timeout:g}s; wait again, or close and resume the run later"
                )
            time.sleep(poll)
        return self.approved_call()

    def approved_call(self) -> CallVerdict:
        """The call the run waited for, governed again now that its request is decided:
        it runs only if the signed receipt matches exactly this call (run, step, tool,
        arguments, policy version) and the charter still allows it; otherwise it is
        denied, with the rule that refused it.

        Raises:
            RunStateError: the run is not waiting for a decided request.
        """
        session = self._session
        run = session.run
        request_id = run.waiting_for
        if run.status != "waiting" or request_id is None:
            raise RunStateError(f"run {self.run_id} is not waiting for an approval")
        if self._answer_request() is not None:
            raise RunStateError(
                f"run {self.run_id} waits for the release of its answer, not a call; "
                "finish(answer) again with the same answer once it is decided"
            )
        state = self._runner.approvals.get(request_id)
        if state.status == "pending":
            raise RunStateError(f"approval {request_id} of run {self.run_id} is still undecided")
        run.status, run.waiting_for = "running", None
        session.record("run.resumed", RunResumed(request_id=request_id, actor=session.actor))
        step = run.steps[-1]
        call = step.action
        assert isinstance(call, ToolCall)
        controls = self._runner.controls.state()
        if self._runner.governor.paused(session, controls):
            if state.request.run_id != self.run_id:  # the child it waited with ends too
                end_waiting_child(self._runner, session, request_id)
            return self._end_stopped(session, step, call)
        if state.request.run_id != self.run_id:  # a sub-agent's request: it goes on
            continue_delegation(self._runner, session)
            return self._child_verdict(step, call, self._journaled_args(step))
        governed = self._runner.governor.govern(session, step, call, controls, state.request)
        if isinstance(governed, Governed):
            approver = state.receipt.approver if state.receipt is not None else None
            if governed.call.tool.name in session.agent.delegates:  # approved: charter runs it
                return replace(self._delegate(session, step, call, governed), approver=approver)
            self._pending = (step, governed)
            return self._verdict(step, call, governed=governed, approver=approver)
        observation = governed or Observation("denied", "not approved")
        self._runner.governor.observed(session, step, call, observation)
        return self._verdict(step, call, observation=observation)

    def finish(self, answer: str | None = None, *, error: str | None = None) -> Run:
        """End the run with the final ``answer`` (completed) or the ``error`` that ended
        it (failed); its outcome is computed as a native run's, its record signed when
        the journal has a key, and the lease released.

        When the charter's ``flows.answer`` asks, the answer is held: the run waits
        (returned in status ``waiting``) for an approver to release it; finishing again
        with the same answer once the request is decided keeps it (approved) or withholds
        it (denied, expired, or another answer than the one approved).

        Raises:
            RunStateError: the run already finished, or a call that may run was not
                recorded.
        """
        session = self._open_for("finish the run", waiting_ok=True)
        if self._pending is not None:
            raise RunStateError(
                f"step {self._pending[0].index} of run {self.run_id} may run but was not "
                "recorded; record its result or error before finishing"
            )
        run, governor = session.run, self._runner.governor
        held = self._answer_request()
        if error is not None:
            run.status, run.error = "failed", error
        elif held is not None:  # the answer waited for approval: release it, or not
            if held.status == "pending":
                raise RunStateError(
                    f"run {self.run_id} waits for approval {held.request.request_id} of its "
                    "answer; finish again once it is decided"
                )
            run.status, run.waiting_for = "running", None
            session.record(
                "run.resumed", {"request_id": held.request.request_id, "actor": session.actor}
            )
            governor.release_answer(session, held.request, answer or "")
        else:
            step = self._propose(session, FinalAnswer(answer or ""), None)
            kept = governor.check_answer(session, step, answer or "")
            if kept is None:  # the charter asks before the answer may be kept
                session.record(
                    "run.waiting",
                    {
                        "request_id": run.waiting_for,
                        "active_seconds": active_seconds(session.meter),
                    },
                )
                governor.flush(session, checkpoint=True)
                return run
            run.status, run.answer = "completed", kept
        return self._end(session)

    def _answer_request(self) -> ApprovalState | None:
        """The request the run waits on to release its answer, if it waits on one."""
        run = self._session.run
        if run.status != "waiting" or run.waiting_for is None:
            return None
        state = self._runner.approvals.get(run.waiting_for)
        held = run.steps and isinstance(run.steps[-1].action, FinalAnswer)
        return state if held and state.request.tool == ANSWER_TOOL else None

    def close(self) -> None:
        """Stop governing in this process without finishing the run (e.g. to resume it
        elsewhere once an approval is decided): the lease is released."""
        with contextlib.suppress(Exception):
            if self._session.pending:
                self._runner.governor.flush(self._session)
        self._stack.close()
        self._runner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and self._session.run.status in ("running", "waiting"):
            with contextlib.suppress(Exception):
                self._pending = None
                self.finish(error=f"{type(exc).__name__}: {exc}")
        self.close()

    # --- the steps shared by govern, approved_call and finish ---

    def _open_for(self, what: str, *, waiting_ok: bool = False) -> Session:
        run = self._session.run
        if run.status == "waiting" and not waiting_ok:
            raise RunStateError(
                f"cannot {what}: run {self.run_id} waits for approval {run.waiting_for}; "
                "wait_for_approval() or approved_call() first"
            )
        if run.status not in ("running", "waiting"):
            raise RunStateError(f"cannot {what}: run {self.run_id} is {run.status}")
        return self._session

    def _propose(
        self,
        session: Session,
        action: ToolCall | FinalAnswer,
        sources: Mapping[str, Sequence[int]] | None,
    ) -> Step:
        meter, usage = session.meter, self._usage
        self._usage = Usage()
        meter.steps += 1
        cost = meter.charge_tokens(
            self._model, usage.prompt_tokens, usage.completion_tokens, session.agent.charter.prices
        )
        kept = (
            None if sources is None else {k: tuple(int(s) for s in v) for k, v in sources.items()}
        )
        step = Step(meter.steps, action, usage, sources=kept)
        session.run.steps.append(step)
        self._runner.governor.record_proposal(session, step, self._model, cost)
        return step

    def _stopped(self, session: Session) -> CallVerdict | None:
        """A budget that ran out stops the run before the call is proposed."""
        breach = session.meter.breach()
        if breach is None:
            return None
        rule, message = breach
        session.record("budget.exceeded", BudgetExceeded(rule=rule, reason=message))
        session.run.status, session.run.error = "stopped", message
        self._end(session)
        return CallVerdict(self.run_id, session.meter.steps, "", {}, "deny", (rule,), message)

    def _end_stopped(
        self, session: Session, step: Step, call: ToolCall, observation: Observation | None = None
    ) -> CallVerdict:
        self._end(session)
        reason = session.run.error or "the run was stopped"
        decision = step.decision
        rules = (
            decision.rules
            if decision is not None and decision.verdict == "deny"
            else ("control.stopped",)
        )
        return CallVerdict(
            self.run_id,
            step.index,
            call.tool,
            dict(call.args),
            "deny",
            rules,
            reason,
            observation=observation or Observation("denied", reason),
        )

    def _end(self, session: Session) -> Run:
        run = session.run
        session.record("run.finished", finish_payload(session))
        self._runner.governor.flush(session, checkpoint=True, release=True)
        for hook in self._runner.after_run:
            hook(session)
        self._stack.close()
        return run

    def _verdict(
        self,
        step: Step,
        call: ToolCall,
        *,
        governed: Governed | None = None,
        approval: ApprovalRequest | None = None,
        observation: Observation | None = None,
        approver: str | None = None,
    ) -> CallVerdict:
        decision = step.decision
        args = dict(call.args) if governed is None else governed.args
        labels = {
            name: {"trust": label.trust, "confidentiality": label.confidentiality}
            for name, label in (step.labels or {}).items()
        }
        verdict = "invalid" if decision is None else decision.verdict
        if governed is not None and governed.verdict.simulate:
            verdict = "simulate"
        return CallVerdict(
            self.run_id,
            step.index,
            call.tool,
            args,
            verdict,
            () if decision is None else decision.rules,
            str(observation.content)
            if decision is None and observation
            else (decision.reason if decision else ""),
            labels,
            None if governed is None else governed.key,
            approval,
            approver,
            observation,
        )
