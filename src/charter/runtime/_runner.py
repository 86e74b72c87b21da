"""The run loop: perceive → reason → govern → act → record.

The loop itself stays short: the governor (:mod:`._governor`) labels, decides and
journals each call, tools act, the journal records. Anything a reasoner gets wrong
(unknown tool, bad arguments) and anything a tool does wrong (error, timeout) becomes an
observation the reasoner sees next, never a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Generator
from concurrent.futures import Future
from typing import Any

from charter.agent import Agent
from charter.errors import (
    JournalContentionError,
    JournalError,
    LeaseLostError,
    ReasonerUnavailableError,
    RunStateError,
)
from charter.journal import Journal
from charter.journal._kinds import BudgetExceeded, RunWaiting
from charter.journal._lease import Lease, claim
from charter.policy import BudgetMeter
from charter.reasoners._base import (
    FinalAnswer,
    Observation,
    RunContext,
    ToolCall,
)
from charter.runtime import _recovery
from charter.runtime._anomaly import AnomalyWatch, JournalRateLimiter
from charter.runtime._answers import ANSWER_TOOL
from charter.runtime._approvals import ApprovalRequest, Approvals, Clock
from charter.runtime._controls import Controls, ControlState
from charter.runtime._delegation import continue_delegation, delegate, end_waiting_child
from charter.runtime._governor import Governed, Governor
from charter.runtime._history import (
    check_owner,
    history,
    run_state,
    waiting_record,
)
from charter.runtime._hooks import RunHook, rollback_on, rollout_watch
from charter.runtime._ledger import (
    call_tool,
    late_result_recorder,
)
from charter.runtime._provenance import RunLabels
from charter.runtime._run import Run, Step
from charter.runtime._session import (
    RecordListener,
    Session,
    active_seconds,
    finish_payload,
    new_run_id,
)
from charter.tools._deadline import ToolThreads
from charter.tools._tool import Tool

__all__ = [
    "RecordListener",
    "Runner",
    "check_owner",
    "history",
    "new_run_id",
    "run_state",
    "waiting_record",
]


class Runner:
    """Runs agents against goals, journaling every step.

    A call the charter asks about stops the run in status ``waiting`` with an approval
    request journaled; :meth:`resume` continues it from the journal once the request is
    decided (or expired), in this process or any other.

    Whatever drives a run (start, resume, recover, fork) first claims the run's lease
    (:mod:`charter.journal._lease`), renews it while driving and releases it when the run
    finishes, waits or this process stops driving it; every record it journals for the
    run is fenced by the lease, so two processes never drive one run.

    Args:
        journal: where every record goes.
        on_record: called with each record once it is durably stored (progress, UIs).
        tool_workers: threads running plain tool functions that declare a timeout (calls
            abandoned at their deadline do not count).
        clock: current UTC time for approvals (replaceable in tests).
        owner: who this runner drives runs for (``server``, ``worker:<id>``, ...), named
            with its process and host to whoever is refused a run it holds.
        lease_ttl: seconds a lease outlives its last renewal (default: ``CHARTER_LEASE_TTL``
            or 30).
    """

    def __init__(
        self,
        journal: Journal,
        *,
        on_record: RecordListener | None = None,
        tool_workers: int = 4,
        clock: Clock | None = None,
        owner: str = "charter",
        lease_ttl: float | None = None,
    ) -> None:
        from charter import settings

        self.journal = journal
        self.owner = owner
        self.lease_ttl = settings.lease_ttl() if lease_ttl is None else lease_ttl
        self.on_record = on_record
        self.tool_pool = ToolThreads(tool_workers)
        """Long-lived threads for plain tool functions that declare a timeout."""
        self.controls = Controls(journal)
        """Operator controls (kill switch, revocations), checked before every step."""
        self.approvals = Approvals(journal) if clock is None else Approvals(journal, clock=clock)
        """Approval requests and receipts."""
        self.anomalies = AnomalyWatch(journal, self.approvals.clock)
        """Checks agents' recent calls and denials against their charters' anomaly rules."""
        self.governor = Governor(journal, self.approvals, self.anomalies, on_record=on_record)
        """The governed-call pipeline every step goes through."""
        self.outbox = self.governor.outbox
        """Notifications queued by playbooks, posted to their webhooks in the background."""
        self.after_run: list[RunHook] = [
            rollback_on(journal, on_record),
            rollout_watch(journal, self.controls),
        ]
        """Hooks called when a run stops being driven (finished, failed or waiting)."""

    def close(self) -> None:
        """Stop the tool threads (calls still running are abandoned); finish posting
        queued notifications (each post is bounded by its timeout)."""
        self.tool_pool.close()
        self.governor.close()

    def claim_run(self, run_id: str, actor: str) -> Lease:
        """Claim ``run_id``'s lease for this process (RunOwnedError if another holds it)."""
        return claim(self.journal.engine, run_id, owner=self.owner, actor=actor, ttl=self.lease_ttl)

    def run(self, agent: Agent, goal: str, *, actor: str = "", run_id: str | None = None) -> Run:
        """Run ``agent`` on ``goal`` until it answers, waits for an approval, a budget
        stops it, or it fails.

        Args:
            agent: the agent to run.
            goal: what it should achieve (trusted input).
            actor: who started the run (journaled; may not approve its requests).
            run_id: the id to use (a queue that allocated one); default: a new one.
        """
        return self.start(new_session(agent, goal, actor, run_id), claim=run_id is not None)

    async def arun(
        self, agent: Agent, goal: str, *, actor: str = "", run_id: str | None = None
    ) -> Run:
        """:meth:`run` on this event loop, interleaved with the loop's other runs.

        The run yields to the loop before each step, so runs started together with
        ``asyncio.gather`` are all in flight at once (each holding its lease) on one
        thread, with no thread per run. A step itself (the reasoner's proposal, the
        governed call, the tool, the journal append) runs on the loop's thread: a
        reasoner or tool that blocks for long blocks the loop, so slow ones belong on
        :meth:`run` in threads. Cancelling the task fails the run (journaled, lease
        released), as an exception raised inside a step does.
        """
        session = new_session(agent, goal, actor, run_id)
        starting = self._starting(session, claim=run_id is not None)
        while True:
            try:
                next(starting)
            except StopIteration as done:
                finished: Run = done.value
                return finished
            try:
                await asyncio.sleep(0)
            except BaseException as exc:  # cancelled between steps: the run fails
                with contextlib.suppress(type(exc)):
                    starting.throw(exc)
                raise

    def start(self, session: Session, *, claim: bool, started: dict[str, Any] | None = None) -> Run:
        """Journal the start of ``session``'s run (its ``run.started`` with ``started``
        added) and drive it; ``claim``: its id was allocated before (a queue's, a
        delegation's), so its lease is claimed and a run already started is refused."""
        return _finish(self._starting(session, claim=claim, started=started))

    def _starting(
        self, session: Session, *, claim: bool, started: dict[str, Any] | None = None
    ) -> Generator[None, None, Run]:
        """:meth:`start`, yielding before each step."""
        run, agent, actor = session.run, session.agent, session.actor
        if not claim:  # a new id: its lease is created with its run.started
            new = Lease.new(
                self.journal.engine, run.run_id, owner=self.owner, actor=actor, ttl=self.lease_ttl
            )
        else:  # a given id (a queue's): a worker that died may hold it
            new = self.claim_run(run.run_id, actor)
        with new.held() as lease:
            if claim and next(iter(self.journal.records(run.run_id)), None):
                raise RunStateError(f"run {run.run_id} already started; recover or resume it")
            session.lease = lease
            manifest = agent.manifest(run.goal, actor, session.version_id)
            session.record("run.started", manifest | (started or {}))
            self.governor.scope_run(session)  # fixed from the goal before any reading
            self.governor.record_policy(session)
            self.governor.flush(session)
            return (yield from self._driving(session, None))

    def recover(self, agent: Agent, run_id: str, *, actor: str = "") -> Run:
        """Continue a run whose process stopped mid-way, from the journal: see
        :func:`charter.runtime._recovery.recover`."""
        return _recovery.recover(self, agent, run_id, actor=actor)

    def resume(self, agent: Agent, run_id: str, *, actor: str = "") -> Run:
        """Continue a ``waiting`` run once its approval request is decided or expired:
        see :func:`charter.runtime._recovery.resume`."""
        return _recovery.resume(self, agent, run_id, actor=actor)

    def late_recorder(
        self, session: Session, step: int, found: Tool, key: str
    ) -> Callable[[Future[Any]], None] | None:
        """What journals the real outcome of ``found``'s call at ``step``, should it
        return after its deadline (a write's; None for a read, which has none to keep)."""
        if found.contract.side_effect == "read":
            return None
        return late_result_recorder(
            self.journal,
            session.run.run_id,
            step,
            found,
            key,
            session.agent.name,
            self.governor.output_mask(session, found),
        )

    def cancel(self, run_id: str, *, actor: str, reason: str) -> str:
        """Cancel a run (see :func:`charter.runtime._recovery.cancel`); returns its state
        when cancelled (``running`` or ``waiting``)."""
        return _recovery.cancel(self, run_id, actor=actor, reason=reason)

    def fork(
        self,
        agent: Agent,
        run_id: str,
        at: int,
        *,
        actor: str = "",
        reexecute_writes: bool = False,
    ) -> Run:
        """Start a new run from ``run_id``'s state before its step ``at``, and run it: see
        :func:`charter.runtime._recovery.fork`."""
        return _recovery.fork(
            self, agent, run_id, at, actor=actor, reexecute_writes=reexecute_writes
        )

    def drive(self, session: Session, approved: ApprovalRequest | None) -> Run:
        """Drive ``session``'s run until it finishes or waits (after ``approved``, the
        decided request it waited for, if any)."""
        return _finish(self._driving(session, approved))

    def _driving(
        self, session: Session, approved: ApprovalRequest | None
    ) -> Generator[None, None, Run]:
        """:meth:`drive`, yielding before each step."""
        run, meter = session.run, session.meter
        session.limiter = JournalRateLimiter(self.journal, session.agent.name, self.approvals.clock)
        try:
            if approved is not None:
                self._finish_approved_step(session, approved)
            while run.status == "running":
                yield
                self._step(session)
        except LeaseLostError as exc:
            # Another process owns the run now: journal nothing more, do nothing more.
            run.status, run.error = "failed", str(exc)
            raise
        except ReasonerUnavailableError as exc:
            run.status, run.error = "failed", str(exc)
        except JournalContentionError as exc:
            # Not the run's failure, and `failed` is final: what it did is journaled if
            # the journal lets us, and the run stays unfinished for `runs recover`.
            with contextlib.suppress(JournalError):
                self.governor.flush(session)
            run.error = (
                f"{exc}; run {run.run_id} is left unfinished: "
                f"`charter runs recover {run.run_id}` continues it"
            )
            raise JournalContentionError(run.error) from exc
        except BaseException as exc:
            run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
            session.record("run.finished", finish_payload(session))
            # If the journal failed, or the lease was lost meanwhile, that error stands.
            with contextlib.suppress(JournalError, LeaseLostError):
                self.governor.flush(session, checkpoint=True, release=True)
                if isinstance(exc, Exception):
                    for hook in self.after_run:
                        hook(session)
            raise
        if run.status == "waiting":
            assert run.waiting_for is not None, "a waiting run names its request"
            waiting: RunWaiting = {
                "request_id": run.waiting_for,
                "active_seconds": active_seconds(meter),
            }
            session.record("run.waiting", waiting)
        else:
            session.record("run.finished", finish_payload(session))
        # Signed with it (when the journal has a key); the lease ends with it.
        self.governor.flush(session, checkpoint=True, release=True)
        for hook in self.after_run:
            hook(session)
        return run

    def _step(self, session: Session) -> None:
        agent, run, meter = session.agent, session.run, session.meter
        # A paused agent starts no run; a running one is stopped after its next proposal
        # (below), before anything it proposed can act: one control check per step.
        if not run.steps and self.governor.paused(session, self.controls.state()):
            return
        breach = meter.breach()
        if breach is not None:
            rule, message = breach
            session.record("budget.exceeded", BudgetExceeded(rule=rule, reason=message))
            if meter.budgets.on_breach == "ask":
                self.governor.request_budget(session, rule, message)
            else:
                run.status, run.error = "stopped", message
            return
        if session.scope is not None and session.scope.outside == "deny":
            session.context.scope = session.scope.tools  # nothing else could be called
        proposal = agent.reasoner.propose(session.context)  # reason
        meter.steps += 1
        usage = proposal.usage
        token_cost = meter.charge_tokens(
            proposal.model, usage.prompt_tokens, usage.completion_tokens, agent.charter.prices
        )
        step = Step(meter.steps, proposal.action, usage, sources=proposal.sources)
        run.steps.append(step)
        action = proposal.action
        self.governor.record_proposal(session, step, proposal.model, token_cost)
        if isinstance(action, FinalAnswer):
            kept = self.governor.check_answer(session, step, action.text)
            if kept is not None:  # else it waits for an approver to release it
                run.status, run.answer = "completed", kept
            return
        controls = self.controls.state()  # read after reasoning, which may take seconds
        if self.governor.paused(session, controls):
            return
        observation = self._govern_and_act(session, step, action, controls, None)
        if observation is not None:
            self.governor.observed(session, step, action, observation)

    def _finish_approved_step(self, session: Session, request: ApprovalRequest) -> None:
        """Re-govern the call a decided request was about, and act on it if approved."""
        if request.tool.startswith("budget."):
            self.governor.finish_budget_request(session, request)
            return
        answer = session.run.steps[-1].action if session.run.steps else None
        held = isinstance(answer, FinalAnswer) and request.run_id == session.run.run_id
        if held and request.tool == ANSWER_TOOL:  # (a tool of that name asks of a call)
            assert isinstance(answer, FinalAnswer)
            self.governor.release_answer(session, request, answer.text)
            return
        if request.run_id != session.run.run_id:  # a sub-agent's: its delegation goes on
            if self.governor.paused(session, self.controls.state()):
                end_waiting_child(self, session, request.request_id)
            else:
                continue_delegation(self, session)
            return
        step = session.run.steps[-1]
        call = step.action
        assert isinstance(call, ToolCall)
        controls = self.controls.state()
        if self.governor.paused(session, controls):
            return
        observation = self._govern_and_act(session, step, call, controls, request)
        if observation is not None:
            self.governor.observed(session, step, call, observation)

    def _govern_and_act(
        self,
        session: Session,
        step: Step,
        call: ToolCall,
        controls: ControlState,
        approved: ApprovalRequest | None,
    ) -> Observation | None:
        """Govern ``call``, run it if it may, journal its effect; None when the run now
        waits for an approval."""
        governed = self.governor.govern(session, step, call, controls, approved)
        if not isinstance(governed, Governed):
            return governed
        found = governed.call.tool
        if found.name in session.agent.delegates:  # a sub-agent's run, under this one
            delegated = delegate(self, session, step, found, governed.key, governed.args)
            if delegated is None:
                return None  # it waits for an approval, and this run with it
            observation, effect = delegated
            return self.governor.record_effect(session, step, governed, observation, effect)
        late = self.late_recorder(session, step.index, found, governed.key)
        observation, effect = call_tool(
            self.tool_pool, found, governed.validated, governed.key, late, session.lease
        )
        return self.governor.record_effect(session, step, governed, observation, effect)


def _finish(driving: Generator[None, None, Run]) -> Run:
    """Run a driving generator to its end, without yielding anywhere: its run."""
    while True:
        try:
            next(driving)
        except StopIteration as done:
            finished: Run = done.value
            return finished


def new_session(agent: Agent, goal: str, actor: str, run_id: str | None) -> Session:
    """A new run of ``agent`` on ``goal`` (a new id unless ``run_id`` is given)."""
    run = Run(run_id=run_id or new_run_id(), agent=agent.name, goal=goal)
    return Session(
        agent,
        run,
        RunContext(goal, agent.instructions, agent.tools(), run_id=run.run_id),
        BudgetMeter(agent.charter.budgets),
        RunLabels(goal),
        actor,
    )
