"""The run loop: perceive → reason → govern → act → record.

The loop itself stays short: the governor (:mod:`._governor`) labels, decides and
journals each call, tools act, the journal records. Anything a reasoner gets wrong
(unknown tool, bad arguments) and anything a tool does wrong (error, timeout) becomes an
observation the reasoner sees next, never a crash.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from charter.agent import Agent
from charter.errors import (
    JournalContentionError,
    JournalError,
    LeaseLostError,
    ReasonerUnavailableError,
    RunOwnedError,
    RunStateError,
)
from charter.journal import Journal
from charter.journal._lease import Lease, claim
from charter.journal._outcome import OutcomeTally
from charter.journal._store import Entry
from charter.policy import BudgetMeter, Decision
from charter.reasoners._base import (
    FinalAnswer,
    Observation,
    RunContext,
    ToolCall,
)
from charter.runtime._anomaly import AnomalyWatch, JournalRateLimiter
from charter.runtime._approvals import ApprovalRequest, Approvals, Clock, ReceiptProblem
from charter.runtime._controls import CONTROL_RUN, Controls, ControlState
from charter.runtime._governor import Governed, Governor
from charter.runtime._history import (
    check_driven_here,
    check_owner,
    history,
    interrupted_write,
    kept_by_fork,
    rebuild,
    resumed_undecided,
    run_state,
    waiting_record,
)
from charter.runtime._hooks import RunHook
from charter.runtime._ledger import (
    RESOLVED,
    Doubt,
    call_identity,
    late_result_recorder,
    retried_payload,
    target_of,
    writes_from,
)
from charter.runtime._outbox import notification
from charter.runtime._provenance import RunLabels
from charter.runtime._rollout import demote_if_breached
from charter.runtime._run import Run, Step
from charter.runtime._session import (
    RecordListener,
    Session,
    action_json,
    active_seconds,
    finish_payload,
    new_run_id,
)
from charter.tools import Tool

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
        tool_workers: threads available to tools that declare a timeout.
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
        self._on_record = on_record
        self._pool = ThreadPoolExecutor(max_workers=tool_workers, thread_name_prefix="charter-tool")
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
        self.after_run: list[RunHook] = [self._roll_back_on, self._watch_rollout]
        """Hooks called when a run stops being driven (finished, failed or waiting)."""

    def close(self) -> None:
        """Stop the tool threads (calls still running are abandoned); finish posting
        queued notifications (each post is bounded by its timeout)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.governor.close()

    def _claim(self, run_id: str, actor: str) -> Lease:
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
        run = Run(run_id=run_id or new_run_id(), agent=agent.name, goal=goal)
        session = Session(
            agent,
            run,
            RunContext(goal, agent.instructions, agent.tools(), run_id=run.run_id),
            BudgetMeter(agent.charter.budgets),
            RunLabels(goal),
            actor,
        )
        if run_id is None:  # a new id: its lease is created with its run.started
            new = Lease.new(
                self.journal.engine, run.run_id, owner=self.owner, actor=actor, ttl=self.lease_ttl
            )
        else:  # a given id (a queue's): a worker that died may hold it
            new = self._claim(run.run_id, actor)
        with new.held() as lease:
            if run_id is not None and next(iter(self.journal.records(run_id)), None):
                raise RunStateError(f"run {run_id} already started; recover or resume it")
            session.lease = lease
            manifest = agent.manifest(session.version_id)
            session.record("run.started", manifest | {"goal": goal, "actor": actor})
            self.governor.record_policy(session)
            self.governor.flush(session)
            return self._drive(session, None)

    def recover(self, agent: Agent, run_id: str, *, actor: str = "") -> Run:
        """Continue a run whose process stopped mid-way (a crash, a kill), from the journal.

        Steps journaled as done are not repeated. A write journaled as decided but with no
        effect may or may not have happened: it is retried with the same idempotency key
        when the tool can recognise a retry (it takes ``idempotency_key``, or declares
        itself idempotent); otherwise its effect is journaled ``in_doubt``, a
        notification is queued, and the run stops for a human to check, never running the
        call a second time.

        The run is claimed first: a run whose owner is alive (its lease unexpired) is
        refused; once the lease expired (or its holder, a process of this host, is gone)
        the claim succeeds, and the former owner, should it wake, is fenced out.

        Raises:
            RunNotFoundError: no such run.
            RunOwnedError: another live process drives the run.
            RunStateError: the run finished, waits for an approval, or belongs to another
                agent.
        """
        history(self.journal, run_id)  # no such run: say so before claiming anything
        with self._claim(run_id, actor).held() as lease:
            records = history(self.journal, run_id)  # read under the lease: final
            check_owner(records, agent)
            check_driven_here(records)
            state = run_state(records)
            if state != "running":
                what = "finished" if state == "finished" else "waiting for an approval"
                raise RunStateError(f"run {run_id} is {what}; nothing to recover")
            session = rebuild(agent, records, actor)
            session.lease = lease
            self.governor.journaled_policies.add(str(records[0].payload["charter"]["policy"]))
            session.record("run.recovered", {"actor": actor})
            self.governor.record_policy(session)
            self.governor.flush(session)
            doubt = interrupted_write(records)
            if doubt is not None:
                self._settle_interrupted(session, *doubt)
            decided = resumed_undecided(records)
            if decided is not None:  # it died resuming: finish the decided request's step
                return self._drive(session, self.approvals.get(decided).request)
            if session.run.status == "running":  # cancelled while its owner was dead
                self.governor.paused(session, self.controls.state())
            return self._drive(session, None)

    def _settle_interrupted(self, session: Session, step_index: int, tool_name: str) -> None:
        """Retry an interrupted write under its idempotency key, or leave it to a human."""
        step = next(s for s in session.run.steps if s.index == step_index)
        call = step.action
        assert isinstance(call, ToolCall)
        found = session.agent.inventory.get(tool_name)
        validated = found.validate_args(call.args)
        args = validated.model_dump(mode="json")
        identity = call_identity(found, args)
        key = session.ledger.key(session.run.run_id, step_index, identity)  # as it had
        if found.takes_key or found.contract.idempotent or found.contract.side_effect == "read":
            observation, effect = self._act(found, validated, key)
            effect |= {"idempotency_key": key, "recovered": True}
            session.record("step.effect", {"step": step_index, "tool": found.name} | effect)
            if observation.status == "ok":
                session.completed.add(identity)
            retried = None
            if found.contract.side_effect != "read":
                retried = session.ledger.settle(step_index, found, args, effect)
            if retried is not None:  # it retried a call in doubt under its key
                session.record(RESOLVED, retried_payload(retried, step_index, session.agent.name))
            self.governor.observed(session, step, call, observation)
            return
        session.ledger.in_doubt(
            Doubt(step_index, found.name, target_of(found, args), identity, key)
        )
        why = (
            f"the process stopped while {tool_name} (step {step_index}) ran; whether it took "
            "effect is unknown, and the tool cannot recognise a retry"
        )
        session.record(
            "step.effect",
            {
                "step": step_index,
                "tool": tool_name,
                "agent": session.agent.name,
                "status": "in_doubt",
                "in_doubt": True,
                "error": why,
                "idempotency_key": key,
            },
        )
        notifications = session.agent.charter.notifications
        session.pending.append(
            notification(
                rule="in_doubt",
                agent=session.agent.name,
                run_id=session.run.run_id,
                message=f"run {session.run.run_id}: {why}; check it, then roll back or fork",
                webhook_url=notifications.webhook_url,
                timeout=notifications.timeout_seconds,
            )
        )
        session.run.status, session.run.error = "stopped", f"in doubt: {why}"

    def resume(self, agent: Agent, run_id: str, *, actor: str = "") -> Run:
        """Continue a ``waiting`` run from the journal once its approval request is
        decided or expired.

        The approved call is re-governed under ``agent``'s charter and the receipt
        re-checked against it before anything runs; a denial or expiry becomes an
        observation the reasoner sees, as any denial does.

        Raises:
            RunNotFoundError: no such run.
            RunOwnedError: another live process drives the run (it resumed it first).
            RunStateError: the run is not waiting, its request is still undecided, it
                belongs to another agent, or another process resumed it first.
        """
        history(self.journal, run_id)  # no such run: say so before claiming anything
        with self._claim(run_id, actor).held() as lease:
            records = history(self.journal, run_id)
            check_owner(records, agent)
            check_driven_here(records)
            started = records[0].payload
            waiting = waiting_record(records)
            if waiting is None:
                status = next(
                    (r.payload["status"] for r in records if r.kind == "run.finished"), "running"
                )
                raise RunStateError(f"run {run_id} is not waiting for an approval (it is {status})")
            request_id = str(waiting.payload["request_id"])
            state = self.approvals.get(request_id)
            if state.status == "pending":
                who = state.request.approvers_at(state.level or 0)
                raise RunStateError(
                    f"run {run_id} is waiting for approval {request_id} "
                    f"(approvers: {', '.join(who) if who else 'anyone'}); "
                    f"`charter approvals approve {request_id}` or `deny` it first"
                )
            session = rebuild(agent, records, actor)
            session.lease = lease
            self.governor.journaled_policies.add(str(started["charter"]["policy"]))
            session.record("run.resumed", {"request_id": request_id, "actor": actor})
            self.governor.record_policy(session)
            self.governor.flush(session)
            resumed = [
                r
                for r in self.journal.records(run_id)
                if r.kind == "run.resumed" and r.seq > waiting.seq
            ]
            if resumed[0].payload.get("request_id") != request_id or len(resumed) > 1:
                raise RunStateError(f"run {run_id} was resumed by another process first")
            return self._drive(session, state.request)

    def cancel(self, run_id: str, *, actor: str, reason: str) -> str:
        """Cancel a run: a running one stops before its next step, in whatever process
        drives it; a waiting one, or a running one whose owner died (its lease ended),
        ends now, under a lease this call claims (an approval request can no longer
        resume it, a recovery no longer continue it). Returns the run's state when
        cancelled (``running`` or ``waiting``).

        Raises:
            RunNotFoundError: no such run.
            RunStateError: the run already finished.
        """
        history(self.journal, run_id)
        try:
            lease: Lease | None = self._claim(run_id, actor)
        except RunOwnedError:
            lease = None  # its live owner stops at its next step, seeing the control
        if lease is None:
            return self._cancel(run_id, None, actor=actor, reason=reason)
        with lease.held():
            return self._cancel(run_id, lease, actor=actor, reason=reason)

    def _cancel(self, run_id: str, lease: Lease | None, *, actor: str, reason: str) -> str:
        records = history(self.journal, run_id)
        state = run_state(records)
        if state == "finished":
            raise RunStateError(f"run {run_id} already finished; nothing to cancel")
        cancel = {"run_id": run_id, "actor": actor, "reason": reason}
        entries: list[Entry] = [(CONTROL_RUN, "control.cancel", cancel)]
        if lease is not None:
            why = f"cancelled by {actor}: {reason}"
            proposed = [r.payload for r in records if r.kind == "step.proposed"]
            tokens = sum(p["tokens"]["prompt"] + p["tokens"]["completion"] for p in proposed)
            tally = OutcomeTally()
            for record in records:
                tally.add(record.kind, record.payload)
            tally.add("run.cancelled", {})
            finished = {
                "status": "stopped",
                "answer": None,
                "error": why,
                "steps": len(proposed),
                "tokens": tokens,
                "outcome": tally.outcome("stopped"),
            }
            entries += [
                (run_id, "run.cancelled", {"reason": why}),
                (run_id, "run.finished", finished),
            ]
        fence = None if lease is None else lease.fence(release=True)
        stored = self.journal.append(entries, checkpoint=lease is not None, fence=fence)
        if self._on_record is not None:
            for item in stored:
                self._on_record(item)
        return state

    def fork(
        self,
        agent: Agent,
        run_id: str,
        at: int,
        *,
        actor: str = "",
        reexecute_writes: bool = False,
    ) -> Run:
        """Start a new run from ``run_id``'s state before its step ``at``, and run it.

        The new run keeps the steps before ``at`` (their observations, labels, budgets
        and completed writes) without executing them again, then continues live with
        ``agent``, whose charter or reasoner may differ from the original's. Its
        ``run.started`` names the parent run and step, so the journal links the two.

        The parent's writes from step ``at`` on (done, or in doubt) are not the fork's:
        redone live, they would run again under the fork's own idempotency keys, paying
        twice. So a fork over any of them is refused, naming them, unless
        ``reexecute_writes`` says that is meant (it is journaled in ``forked_from``).

        Raises:
            RunNotFoundError: no such run.
            RunStateError: ``at`` is not a step of the run, a step before it is
                unfinished (waiting for an approval), or the parent made writes from
                ``at`` on and ``reexecute_writes`` is not set.
        """
        parent = history(self.journal, run_id)
        kept = [r for r in parent[1:] if kept_by_fork(r, at)]
        last = max((int(r.payload["step"]) for r in parent if r.kind == "step.proposed"), default=0)
        if not 1 <= at <= last:
            raise RunStateError(f"run {run_id} has steps 1 to {last}; cannot fork at step {at}")
        observed = {int(r.payload["step"]) for r in kept if r.kind == "step.observed"}
        calls = {
            int(r.payload["step"])
            for r in kept
            if r.kind == "step.proposed" and "tool" in r.payload["action"]
        }
        if calls - observed:
            raise RunStateError(
                f"step {min(calls - observed)} of run {run_id} never finished; fork before it"
            )
        redone = writes_from(parent, at, agent.inventory.find)
        if redone and not reexecute_writes:
            listed = "; ".join(redone)
            raise RunStateError(
                f"forking run {run_id} at step {at} would redo {len(redone)} write(s) it "
                f"already made, under new idempotency keys: {listed}. Fork at a later step, "
                "or pass --reexecute-writes (reexecute_writes=True) if they should happen again"
            )
        origin: dict[str, Any] = {"run": run_id, "step": at}
        if redone:
            origin["reexecute_writes"] = redone
        goal = str(parent[0].payload["goal"])
        run = Run(run_id=new_run_id(), agent=agent.name, goal=goal)
        starting = Session(
            agent,
            run,
            RunContext(goal, agent.instructions, []),
            BudgetMeter(agent.charter.budgets),
            RunLabels(goal),
            actor,
        )
        starting.record(
            "run.started",
            agent.manifest(starting.version_id)
            | {"goal": goal, "actor": actor, "forked_from": origin},
        )
        self.governor.record_policy(starting)
        with self._claim(run.run_id, actor).held() as lease:
            stored = self.journal.append(starting.pending, fence=lease.fence())
            starting.pending.clear()
            if self._on_record is not None:
                for item in stored:
                    self._on_record(item)
            session = rebuild(agent, [stored[0], *kept], actor)
            session.lease = lease
            return self._drive(session, None)

    def _drive(self, session: Session, approved: ApprovalRequest | None) -> Run:
        run, meter = session.run, session.meter
        session.limiter = JournalRateLimiter(self.journal, session.agent.name, self.approvals.clock)
        try:
            if approved is not None:
                self._finish_approved_step(session, approved)
            while run.status == "running":
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
            session.record(
                "run.waiting",
                {"request_id": run.waiting_for, "active_seconds": active_seconds(meter)},
            )
        else:
            session.record("run.finished", finish_payload(session))
        # Signed with it (when the journal has a key); the lease ends with it.
        self.governor.flush(session, checkpoint=True, release=True)
        for hook in self.after_run:
            hook(session)
        return run

    def _watch_rollout(self, session: Session) -> None:
        """Demote the agent version if its charter says its recent runs breach a KPI."""
        agent = session.agent
        demotion = agent.charter.rollout.demote
        if demotion is None or session.run.status == "waiting":
            return
        phase = self.controls.state().phase_of(agent.name, session.version_id)
        demote_if_breached(
            self.journal,
            self.controls,
            agent=agent.name,
            version_id=session.version_id,
            phase=phase or agent.charter.phase,
            demotion=demotion,
        )

    def _roll_back_on(self, session: Session) -> None:
        """Undo the run's writes if its charter says so for the way it ended."""
        run = session.run
        if run.status not in session.agent.charter.rollback_on:
            return
        from charter.runtime._rollback import rollback  # it reads runs through this module

        report = rollback(
            self.journal,
            session.agent,
            run.run_id,
            actor=f"charter:rollback_on:{run.status}",
            on_record=self._on_record,
        )
        run.rolled_back = True
        run.outcome = report.outcome or run.outcome

    def _step(self, session: Session) -> None:
        agent, run, meter = session.agent, session.run, session.meter
        # A paused agent starts no run; a running one is stopped after its next proposal
        # (below), before anything it proposed can act: one control check per step.
        if not run.steps and self.governor.paused(session, self.controls.state()):
            return
        breach = meter.breach()
        if breach is not None:
            rule, message = breach
            session.record("budget.exceeded", {"rule": rule, "reason": message})
            if meter.budgets.on_breach == "ask":
                self._request_budget(session, rule, message)
            else:
                run.status, run.error = "stopped", message
            return
        proposal = agent.reasoner.propose(session.context)  # reason
        meter.steps += 1
        usage = proposal.usage
        token_cost = meter.charge_tokens(
            proposal.model, usage.prompt_tokens, usage.completion_tokens, agent.charter.prices
        )
        step = Step(meter.steps, proposal.action, usage, sources=proposal.sources)
        run.steps.append(step)
        action = proposal.action
        session.record(
            "step.proposed",
            {
                "step": step.index,
                "action": action_json(action),
                "tokens": {"prompt": usage.prompt_tokens, "completion": usage.completion_tokens},
                "model": proposal.model,
            }
            | ({"cost_usd": round(token_cost, 8)} if token_cost else {}),
        )
        if isinstance(action, FinalAnswer):
            run.status, run.answer = "completed", action.text
            return
        controls = self.controls.state()  # read after reasoning, which may take seconds
        if self.governor.paused(session, controls):
            return
        observation = self._govern_and_act(session, step, action, controls, None)
        if observation is not None:
            self.governor.observed(session, step, action, observation)

    def _request_budget(self, session: Session, rule: str, message: str) -> None:
        """Wait for an approver to extend the breached budget."""
        charter = session.agent.charter
        decision = Decision("ask", (rule,), f"{message}; extend it?", charter.policy_hash)
        limits = {"limits": session.meter.budgets.model_dump(mode="json")}
        self.governor.request_approval(session, session.meter.steps, rule, limits, decision)

    def _finish_budget_request(self, session: Session, request: ApprovalRequest) -> None:
        """Extend the budget an approver granted, or stop the run."""
        meter, run = session.meter, session.run
        checked = self.approvals.check(
            request.request_id,
            run_id=run.run_id,
            step=meter.steps,
            tool=request.tool,
            args={"limits": meter.budgets.model_dump(mode="json")},
            policy=session.agent.charter.policy_hash,
        )
        if isinstance(checked, ReceiptProblem):
            session.record(
                "approval.rejected",
                {"request_id": request.request_id, "rule": checked.rule, "reason": checked.message},
            )
            run.status, run.error = "stopped", f"budget not extended: {checked.message}"
            return
        meter.budgets = meter.budgets.extended(request.tool)
        session.record(
            "approval.used", {"request_id": request.request_id, "approver": checked.approver}
        )
        session.record(
            "budget.extended",
            {
                "rule": request.tool,
                "request_id": request.request_id,
                "limits": meter.budgets.model_dump(mode="json"),
            },
        )

    def _finish_approved_step(self, session: Session, request: ApprovalRequest) -> None:
        """Re-govern the call a decided request was about, and act on it if approved."""
        if request.tool.startswith("budget."):
            self._finish_budget_request(session, request)
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
        late = None
        if governed.call.writes:
            late = late_result_recorder(
                self.journal,
                session.run.run_id,
                step.index,
                found,
                governed.key,
                session.agent.name,
            )
        observation, effect = self._act(found, governed.validated, governed.key, late)
        return self.governor.record_effect(session, step, governed, observation, effect)

    def _act(
        self,
        found: Tool,
        validated: Any,
        idempotency_key: str,
        late: Callable[[Future[Any]], None] | None = None,
    ) -> tuple[Observation, dict[str, Any]]:
        """Call ``found``; a write that times out is in doubt, and ``late`` is called with
        the abandoned call when it finishes (to journal its real outcome)."""
        started = time.perf_counter()
        timeout = found.contract.timeout_s
        call: Future[Any] | None = None
        try:
            if timeout is None:
                result = found.invoke(validated, idempotency_key)
            else:
                call = self._pool.submit(found.invoke, validated, idempotency_key)
                result = call.result(timeout=timeout)
        except FutureTimeout:
            elapsed = int((time.perf_counter() - started) * 1e6)
            message = f"tool {found.name!r} did not finish within {timeout}s"
            in_doubt = found.contract.side_effect != "read"
            if in_doubt and late is not None and call is not None:
                call.add_done_callback(late)
            effect = {"status": "timeout", "error": message, "in_doubt": in_doubt, "us": elapsed}
            return Observation("timeout", message), effect
        except Exception as exc:
            elapsed = int((time.perf_counter() - started) * 1e6)
            message = f"{type(exc).__name__}: {exc}"
            return Observation("error", message), {
                "status": "error",
                "error": message,
                "us": elapsed,
            }
        elapsed = int((time.perf_counter() - started) * 1e6)
        return Observation("ok", result), {"status": "ok", "result": result, "us": elapsed}
