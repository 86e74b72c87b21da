"""The run loop: perceive → reason → govern → act → record.

The loop itself stays short; the charter decides, tools act, the journal records. Anything
a reasoner gets wrong (unknown tool, bad arguments) and anything a tool does wrong (error,
timeout) becomes an observation the reasoner sees next, never a crash.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

from charter.agent import Agent
from charter.errors import (
    JournalContentionError,
    JournalError,
    LeaseLostError,
    ReasonerUnavailableError,
    RunNotFoundError,
    RunOwnedError,
    RunStateError,
    UnknownToolError,
)
from charter.journal import Journal, Record, canonical_json
from charter.journal._lease import Lease, claim
from charter.journal._outcome import OutcomeTally
from charter.journal._store import Entry
from charter.policy import AnomalyRule, BudgetMeter, Decision, Label, Phase
from charter.policy._answer import check_run_answer
from charter.policy._scope import derive_scope, govern_scope
from charter.reasoners._base import (
    FinalAnswer,
    Observation,
    ObservationStatus,
    RunContext,
    ToolCall,
    Turn,
    Usage,
)
from charter.runtime._anomaly import AnomalyWatch, JournalRateLimiter
from charter.runtime._approvals import (
    ApprovalRequest,
    Approvals,
    Clock,
    ReceiptProblem,
    closing_entry,
)
from charter.runtime._controls import CONTROL_RUN, Controls, ControlState
from charter.runtime._ledger import (
    RESOLVED,
    Doubt,
    EffectLedger,
    call_identity,
    in_doubt_denial,
    late_result_recorder,
    recognises_retry,
    retried_payload,
    target_of,
    writes_from,
)
from charter.runtime._outbox import Outbox, notification
from charter.runtime._provenance import RunLabels
from charter.runtime._rollout import demote_if_breached
from charter.runtime._run import Run, Step
from charter.tools import Tool, ToolArgumentsError, ToolOutcomeUnknownError, preview_call

RecordListener = Callable[[Record], None]


def new_run_id() -> str:
    """A 32-hex-digit id that sorts by creation time (journal indexes grow at the end)."""
    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


@dataclass(slots=True)
class _Session:
    """One run in progress: its state and the records not yet flushed."""

    agent: Agent
    run: Run
    context: RunContext
    meter: BudgetMeter
    labels: RunLabels
    actor: str
    completed: set[str] = field(default_factory=lambda: set[str]())
    """Canonical write calls that took effect, for the repeat rule."""
    calls: list[str] = field(default_factory=lambda: [])
    """Tools that ran, in order, for sequence anomalies."""
    fired: set[str] = field(default_factory=lambda: set[str]())
    """Anomaly rules that fired in this run."""
    pending: list[Entry] = field(default_factory=lambda: [])
    limiter: JournalRateLimiter | None = None
    """Counts the agent's calls against its rate limits, from the journal."""
    ledger: EffectLedger = field(default_factory=EffectLedger)
    """Idempotency keys and in-doubt writes."""
    rendered: tuple[Observation, str] | None = None
    """The latest tool output and its rendered text, rendered once for labels and record."""
    lease: Lease | None = None
    """This process's lease on the run: every flush is fenced by it."""
    tally: OutcomeTally = field(default_factory=OutcomeTally)
    """The evidence of the run's outcome, from every record it journaled."""
    version_id: str = field(init=False)
    """The agent's exact version, which rollout phases belong to."""

    def __post_init__(self) -> None:
        self.version_id = self.agent.version_id

    def record(self, kind: str, payload: dict[str, Any]) -> None:
        self.pending.append((self.run.run_id, kind, payload))
        self.tally.add(kind, payload)


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
        self._journaled_policies: set[str] = set()
        self.controls = Controls(journal)
        """Operator controls (kill switch, revocations), checked before every step."""
        self.approvals = Approvals(journal) if clock is None else Approvals(journal, clock=clock)
        """Approval requests and receipts."""
        self.anomalies = AnomalyWatch(journal, self.approvals.clock)
        """Checks agents' recent calls and denials against their charters' anomaly rules."""
        self.outbox = Outbox(journal)
        """Notifications queued by playbooks, posted to their webhooks in the background."""
        self._notifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="charter-notify")
        self._predictions: dict[str, int] = {}
        """Predictions seen per watched model, to check drift every few of them."""

    def close(self) -> None:
        """Stop the tool threads (calls still running are abandoned); finish posting
        queued notifications (each post is bounded by its timeout)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._notifier.shutdown(wait=True)

    def _claim(self, run_id: str, actor: str) -> Lease:
        """Claim ``run_id``'s lease for this process (RunOwnedError if another holds it)."""
        return claim(self.journal.engine, run_id, owner=self.owner, actor=actor, ttl=self.lease_ttl)

    def _flush(self, session: _Session, *, checkpoint: bool = False, release: bool = False) -> None:
        lease = session.lease
        fence = None if lease is None else lease.fence(release=release)
        started = time.monotonic()
        stored = self.journal.append(session.pending, checkpoint=checkpoint, fence=fence)
        if lease is not None and fence is not None:
            lease.appended(started, fence)
        session.pending.clear()
        if any(item.kind == "notify.queued" and item.payload["webhook_url"] for item in stored):
            self._notifier.submit(self._deliver)
        if self._on_record is not None:
            for item in stored:
                self._on_record(item)

    def _deliver(self) -> None:
        # A webhook that is down must not break runs: its failures are journaled and
        # retried on the next delivery; anything else is a bug worth seeing in the log.
        with contextlib.suppress(JournalError):
            self.outbox.deliver()

    def _playbook(
        self, session: _Session, fired: list[AnomalyRule], tool: str, step: Step
    ) -> Observation | None:
        """Run the playbooks of ``fired`` rules; a denial if the call must not run."""
        agent, run = session.agent, session.run
        blocked: list[str] = []
        for rule in fired:
            session.fired.add(rule.id)
            reason = rule.describe()
            actor = f"anomaly:{rule.id}"
            session.record(
                "anomaly.detected",
                {
                    "rule": rule.id,
                    "kind": rule.kind,
                    "reason": reason,
                    "tool": tool,
                    "step": step.index,
                    "playbook": list(rule.playbook),
                },
            )
            why = f"anomaly {rule.id}: {reason}"
            for action in rule.playbook:
                match action:
                    case "pause_agent":
                        payload = {"agent": agent.name, "actor": actor, "reason": why}
                        session.pending.append((CONTROL_RUN, "control.pause", payload))
                        run.status, run.error = "stopped", f"agent {agent.name!r} paused: {why}"
                    case "stop_run":
                        run.status, run.error = "stopped", why
                    case "revoke_tool":
                        payload = {"tool": tool, "agent": agent.name, "actor": actor, "reason": why}
                        session.pending.append((CONTROL_RUN, "control.revoke", payload))
                    case _:
                        notifications = agent.charter.notifications
                        session.pending.append(
                            notification(
                                rule=rule.id,
                                agent=agent.name,
                                run_id=run.run_id,
                                message=f"{why} (agent {agent.name}, run {run.run_id}, "
                                f"step {step.index}, tool {tool})",
                                webhook_url=notifications.webhook_url,
                                timeout=notifications.timeout_seconds,
                            )
                        )
            if set(rule.playbook) - {"notify"}:
                blocked.append(rule.id)
        if not blocked:
            return None
        rules = ", ".join(f"anomaly.{rule_id}" for rule_id in blocked)
        denied = Observation("denied", f"stopped by anomaly playbook (rule {rules})")
        _deny_decided(session, step, tuple(f"anomaly.{rule_id}" for rule_id in blocked), denied)
        return denied

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
        session = _Session(
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
            if agent.charter.scope is not None:  # fixed from the goal before any reading
                session.record("run.scoped", derive_scope(agent.charter.scope, goal).to_json())
            self._record_policy(session)
            self._flush(session)
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
            state = run_state(records)
            if state != "running":
                what = "finished" if state == "finished" else "waiting for an approval"
                raise RunStateError(f"run {run_id} is {what}; nothing to recover")
            session = _rebuild(agent, records, actor)
            session.lease = lease
            self._journaled_policies.add(str(records[0].payload["charter"]["policy"]))
            session.record("run.recovered", {"actor": actor})
            self._record_policy(session)
            self._flush(session)
            doubt = _interrupted_write(records)
            if doubt is not None:
                self._settle_interrupted(session, *doubt)
            decided = _resumed_undecided(records)
            if decided is not None:  # it died resuming: finish the decided request's step
                return self._drive(session, self.approvals.get(decided).request)
            if session.run.status == "running":  # cancelled while its owner was dead
                self._paused(session, self.controls.state())
            return self._drive(session, None)

    def _settle_interrupted(self, session: _Session, step_index: int, tool_name: str) -> None:
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
            self._observed(session, step, call, observation)
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
            session = _rebuild(agent, records, actor)
            session.lease = lease
            self._journaled_policies.add(str(started["charter"]["policy"]))
            session.record("run.resumed", {"request_id": request_id, "actor": actor})
            self._record_policy(session)
            self._flush(session)
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
            waiting = waiting_record(records)
            if waiting is not None:  # the request leaves every inbox with the run
                request_id = str(waiting.payload["request_id"])
                entries.append(closing_entry(run_id, request_id, f"run {why}"))
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
        kept = [r for r in parent[1:] if _kept(r, at)]
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
        starting = _Session(
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
        self._record_policy(starting)
        with self._claim(run.run_id, actor).held() as lease:
            stored = self.journal.append(starting.pending, fence=lease.fence())
            starting.pending.clear()
            if self._on_record is not None:
                for item in stored:
                    self._on_record(item)
            session = _rebuild(agent, [stored[0], *kept], actor)
            session.lease = lease
            return self._drive(session, None)

    def _drive(self, session: _Session, approved: ApprovalRequest | None) -> Run:
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
                self._flush(session)
            run.error = (
                f"{exc}; run {run.run_id} is left unfinished: "
                f"`charter runs recover {run.run_id}` continues it"
            )
            raise JournalContentionError(run.error) from exc
        except BaseException as exc:
            run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
            session.record("run.finished", _finish(session))
            # If the journal failed, or the lease was lost meanwhile, that error stands.
            with contextlib.suppress(JournalError, LeaseLostError):
                self._flush(session, checkpoint=True, release=True)
                if isinstance(exc, Exception):
                    self._roll_back_on(session)
            raise
        if run.status == "waiting":
            session.record(
                "run.waiting",
                {"request_id": run.waiting_for, "active_seconds": _active_seconds(meter)},
            )
        else:
            session.record("run.finished", _finish(session))
        # Signed with it (when the journal has a key); the lease ends with it.
        self._flush(session, checkpoint=True, release=True)
        self._roll_back_on(session)
        if run.status != "waiting":
            self._watch_rollout(session)
        return run

    def _watch_rollout(self, session: _Session) -> None:
        """Demote the agent version if its charter says its recent runs breach a KPI."""
        agent = session.agent
        demotion = agent.charter.rollout.demote
        if demotion is None:
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

    def _roll_back_on(self, session: _Session) -> None:
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

    @staticmethod
    def _paused(session: _Session, controls: ControlState) -> bool:
        """Stop the run if an operator cancelled it or paused its agent."""
        agent, run = session.agent, session.run
        cancelled = controls.cancel_reason(run.run_id)
        if cancelled is not None:
            session.record("run.cancelled", {"reason": cancelled})
            run.status, run.error = "stopped", cancelled
            return True
        reason = controls.pause_reason(agent.name)
        if reason is not None:
            session.record("run.paused", {"agent": agent.name, "reason": reason})
            run.status, run.error = "stopped", f"agent {agent.name!r} paused: {reason}"
        return reason is not None

    def _record_policy(self, session: _Session) -> None:
        # Each policy version is journaled once, so any decision can be explained later
        # from the journal alone (`charter policy explain`).
        charter = session.agent.charter
        version = charter.policy_hash
        if version not in self._journaled_policies:
            known = {
                r.payload.get("policy") for r in self.journal.records_of_kind("policy.version")
            }
            self._journaled_policies |= {str(v) for v in known}
        if version not in self._journaled_policies:
            session.record("policy.version", {"policy": version, "charter": charter.model_dump()})
            self._journaled_policies.add(version)

    def _step(self, session: _Session) -> None:
        agent, run, meter = session.agent, session.run, session.meter
        # A paused agent starts no run; a running one is stopped after its next proposal
        # (below), before anything it proposed can act: one control check per step.
        if not run.steps and self._paused(session, self.controls.state()):
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
                "action": _action_json(action),
                "tokens": {"prompt": usage.prompt_tokens, "completion": usage.completion_tokens},
                "model": proposal.model,
            }
            | ({"cost_usd": round(token_cost, 8)} if token_cost else {}),
        )
        if isinstance(action, FinalAnswer):
            checked = check_run_answer(agent.charter, session.labels, action.text)
            if checked.found or checked.label.trust == "untrusted":
                session.record("answer.checked", {"step": step.index} | checked.to_json())
            run.status, run.answer = "completed", checked.text
            return
        controls = self.controls.state()  # read after reasoning, which may take seconds
        if self._paused(session, controls):
            return
        observation = self._govern_and_act(session, step, action, controls, None)
        if observation is not None:
            self._observed(session, step, action, observation)

    def _observed(
        self, session: _Session, step: Step, call: ToolCall, observation: Observation
    ) -> None:
        step.observation = observation
        rendered, session.rendered = session.rendered, None
        text = rendered[1] if rendered and rendered[0] is observation else observation.render()
        session.record(
            "step.observed", {"step": step.index, "status": observation.status, "text": text}
        )
        self._flush(session)
        session.context.turns.append(Turn(call, observation))  # perceive
        self._watch_model(session, observation)

    def _watch_model(self, session: _Session, observation: Observation) -> None:
        """Check a watched model for drift every half window of its predictions (its
        charter's ``models:``); a breach journals ``model.drift`` and its actions at once."""
        content = observation.content
        watches = session.agent.charter.models
        if not watches or observation.status != "ok" or not isinstance(content, dict):
            return
        model = cast(dict[str, Any], content).get("model")
        watch = next((w for w in watches if w.model == model), None)
        if watch is None:
            return
        seen = self._predictions[watch.model] = self._predictions.get(watch.model, 0) + 1
        # Every half window: each check is a batch of tests, so checking after every
        # prediction would multiply false alarms.
        if seen % max(watch.min_samples, watch.window // 2):
            return
        from charter.models import ModelNotFoundError, ModelRegistry, check_drift

        try:
            check_drift(
                self.journal,
                ModelRegistry(self.journal),
                watch,
                actor="charter:drift-watch",
                notifications=session.agent.charter.notifications,
            )
        except ModelNotFoundError:  # a tool's output that only looked like a prediction
            return

    def _request_budget(self, session: _Session, rule: str, message: str) -> None:
        """Wait for an approver to extend the breached budget."""
        charter = session.agent.charter
        decision = Decision("ask", (rule,), f"{message}; extend it?", charter.policy_hash)
        limits = {"limits": session.meter.budgets.model_dump(mode="json")}
        self._request_approval(session, session.meter.steps, rule, limits, decision)

    def _finish_budget_request(self, session: _Session, request: ApprovalRequest) -> None:
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

    def _finish_approved_step(self, session: _Session, request: ApprovalRequest) -> None:
        """Re-govern the call a decided request was about, and act on it if approved."""
        if request.tool.startswith("budget."):
            self._finish_budget_request(session, request)
            return
        step = session.run.steps[-1]
        call = step.action
        assert isinstance(call, ToolCall)
        controls = self.controls.state()
        if self._paused(session, controls):
            return
        observation = self._govern_and_act(session, step, call, controls, request)
        if observation is not None:
            self._observed(session, step, call, observation)

    def _govern_and_act(
        self,
        session: _Session,
        step: Step,
        call: ToolCall,
        controls: ControlState,
        approved: ApprovalRequest | None,
    ) -> Observation | None:
        """Govern ``call`` and act on it; None when the run now waits for an approval."""
        agent, sources = session.agent, step.sources
        try:
            found = agent.inventory.get(call.tool)
        except UnknownToolError as exc:
            return Observation("unknown_tool", str(exc))
        try:
            validated = found.validate_args(call.args)
        except ToolArgumentsError as exc:
            return Observation("invalid_arguments", str(exc))
        args = validated.model_dump(mode="json")
        writes = found.contract.side_effect != "read"
        identity = call_identity(found, args)
        key = identity if writes else ""  # only writes are held to the repeat rule
        if writes and session.ledger.doubts:
            self._refresh_doubts(session)
        labels = session.labels
        arg_labels = labels.arg_labels(found, args, sources)
        phase = controls.phase_of(agent.name, session.version_id) or agent.charter.phase
        decision = agent.govern(  # govern
            found,
            args,
            repeat=key in session.completed,
            revoked=controls.revocation(found.name, agent.name),
            labels=arg_labels,
            limiter=session.limiter,
            phase=phase,
        )
        decision = govern_scope(agent.charter, session.run.goal, found, args, decision)
        doubt = session.ledger.blocking(target_of(found, args)) if writes else None
        if doubt is not None and doubt.call == identity and recognises_retry(found):
            doubt = None  # the same call under the same key: the tool makes it once
        supervised = controls.supervision(agent.name)
        if doubt is not None and decision.verdict != "deny":
            decision = in_doubt_denial(session.run.run_id, doubt, decision.policy)
        elif supervised is not None and decision.allowed and writes:
            why = f"agent {agent.name!r} is supervised: {supervised}"
            decision = Decision("ask", ("control.supervised",), why, decision.policy)
        elif phase == "supervised" and decision.allowed and writes:
            why = f"version {session.version_id} of {agent.name!r} is in the supervised phase"
            decision = Decision("ask", ("rollout.supervised",), why, decision.policy)
        # Shadow phase: the charter decides as ever, but a write it would allow (or ask
        # about) is only simulated; a `simulate` rule does the same in any phase.
        simulate = decision.verdict == "simulate" or (
            phase == "shadow" and writes and decision.verdict in ("allow", "ask")
        )
        step.decision = decision
        decided = {
            "step": step.index,
            "tool": found.name,
            "agent": agent.name,
            "labels": labels.context.to_json(),
            **decision.to_json(),
        }
        if sources:
            decided["sources"] = {k: list(v) for k, v in sources.items()}
        if phase != "autonomous":
            decided["phase"] = phase
        if simulate:
            decided["simulated"] = True
        session.record("step.decided", decided)
        if simulate:
            return self._simulate(session, step, found, args, decision, phase)
        if decision.verdict == "ask":
            if approved is None:
                return self._request_approval(
                    session,
                    step.index,
                    found.name,
                    args,
                    decision,
                    labels=arg_labels,
                    sources=step.sources,
                )
            checked = self.approvals.check(
                approved.request_id,
                run_id=session.run.run_id,
                step=step.index,
                tool=found.name,
                args=args,
                policy=decision.policy,
            )
            if isinstance(checked, ReceiptProblem):
                session.record(
                    "approval.rejected",
                    {
                        "request_id": approved.request_id,
                        "rule": checked.rule,
                        "reason": checked.message,
                    },
                )
                return Observation("denied", f"{checked.message} (rule {checked.rule})")
            session.record(
                "approval.used",
                {
                    "request_id": approved.request_id,
                    "step": step.index,
                    "approver": checked.approver,
                },
            )
        elif not decision.allowed:
            denied = Observation("denied", f"{decision.reason} (rule {', '.join(decision.rules)})")
            fired = self.anomalies.on_denial(agent.name, agent.charter.anomalies)
            if fired:
                self._playbook(session, fired, found.name, step)
            return denied
        if agent.charter.anomalies:
            fired = self.anomalies.on_call(
                agent.name, agent.charter.anomalies, found.name, session.calls, session.fired
            )
            stopped = self._playbook(session, fired, found.name, step) if fired else None
            if stopped is not None:
                return stopped
        session.calls.append(found.name)
        if found.contract.side_effect != "read" or approved is not None:
            self._flush(session)  # a write is journaled as decided before it can touch the world
        key_for_call = session.ledger.key(session.run.run_id, step.index, identity)
        late = (
            late_result_recorder(
                self.journal, session.run.run_id, step.index, found, key_for_call, agent.name
            )
            if writes
            else None
        )
        observation, effect = self._act(found, validated, key_for_call, late)
        if writes:
            effect["idempotency_key"] = key_for_call
            retried = session.ledger.settle(step.index, found, args, effect)
            if retried is not None:  # a retry under its key: it happened, once
                session.record(RESOLVED, retried_payload(retried, step.index, agent.name))
        if found.contract.confidentiality == "secret" and observation.status == "ok":
            observation, effect = _withhold_secret(found, observation, effect)
        if observation.status in ("ok", "error"):  # the tool's own output reached the model
            session.rendered = (observation, observation.render())
            labels.observe(found, session.rendered[1], step.index, args=args, sources=sources)
        if key and observation.status == "ok":
            session.completed.add(key)
        session.meter.cost_usd += found.contract.cost_usd
        if found.contract.cost_usd:
            effect["cost_usd"] = found.contract.cost_usd
        session.record(
            "step.effect", {"step": step.index, "tool": found.name, "agent": agent.name} | effect
        )
        return observation

    @staticmethod
    def _simulate(
        session: _Session,
        step: Step,
        found: Tool,
        args: dict[str, Any],
        decision: Decision,
        phase: Phase,
    ) -> Observation:
        """Journal what ``found`` would have done, without calling it."""
        why = "shadow phase" if phase == "shadow" else f"rule {', '.join(decision.rules)}"
        session.record(
            "step.effect",
            {
                "step": step.index,
                "tool": found.name,
                "agent": session.agent.name,
                "status": "simulated",
                "would_have": decision.verdict,
                "args": args,
                "us": 0,
            },
        )
        return Observation(
            "ok",
            {
                "simulated": True,
                "tool": found.name,
                "note": f"not executed ({why}); treat it as done and continue",
            },
        )

    def _request_approval(
        self,
        session: _Session,
        step: int,
        tool: str,
        args: dict[str, Any],
        decision: Decision,
        *,
        labels: Mapping[str, Label] | None = None,
        sources: Mapping[str, tuple[int, ...]] | None = None,
    ) -> None:
        """Journal an approval request for ``decision`` and set the run waiting on it."""
        agent, run = session.agent, session.run
        found = agent.inventory.find(tool)  # none for a budget request
        request = ApprovalRequest.create(
            run_id=run.run_id,
            agent=agent.name,
            step=step,
            tool=tool,
            args=args,
            decision=decision,
            terms=agent.charter.approvals,
            requested_by=session.actor,
            now=self.approvals.clock(),
            labels=labels or {},
            preview=preview_call(found, args) if found is not None else None,
            evidence=session.labels.untrusted_sources(args, labels or {}, sources),
        )
        payload = request.to_payload()
        if sources is not None:
            payload["sources"] = {name: list(steps) for name, steps in sources.items()}
        session.record("approval.requested", payload)
        run.status, run.waiting_for = "waiting", request.request_id

    def _refresh_doubts(self, session: _Session) -> None:
        """Close the run's doubts that a late result or an operator has resolved since."""
        resolved = [r for r in history(self.journal, session.run.run_id) if r.kind == RESOLVED]
        for doubt in session.ledger.apply_resolutions(resolved):
            session.completed.add(doubt.call)  # it happened: a repeat is a repeat

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
        except FutureTimeout as exc:
            elapsed = int((time.perf_counter() - started) * 1e6)
            message = f"tool {found.name!r} did not finish within {timeout}s"
            if timeout is None:  # the tool bounds itself (an HTTP client) and said so
                message = f"tool {found.name!r} timed out: {exc}"
            in_doubt = found.contract.side_effect != "read"
            if in_doubt and late is not None and call is not None:
                call.add_done_callback(late)
            effect = {"status": "timeout", "error": message, "in_doubt": in_doubt, "us": elapsed}
            return Observation("timeout", message), effect
        except ToolOutcomeUnknownError as exc:  # e.g. its server died mid-call
            elapsed = int((time.perf_counter() - started) * 1e6)
            in_doubt = found.contract.side_effect != "read"
            effect = {"status": "error", "error": str(exc), "in_doubt": in_doubt, "us": elapsed}
            return Observation("error", str(exc)), effect
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


def _withhold_secret(
    found: Tool, observation: Observation, effect: dict[str, Any]
) -> tuple[Observation, dict[str, Any]]:
    # Secret outputs reach neither the model nor the journal: both get a digest only.
    digest = hashlib.sha256(canonical_json(observation.content).encode()).hexdigest()
    shown = f"[secret output of {found.name} withheld; sha256 {digest[:16]}]"
    return Observation("ok", shown), effect | {"result": {"withheld": "secret", "sha256": digest}}


def _action_json(action: ToolCall | FinalAnswer) -> dict[str, Any]:
    if isinstance(action, FinalAnswer):
        return {"answer": action.text}
    return {"tool": action.tool, "args": action.args}


def _active_seconds(meter: BudgetMeter) -> float:
    return round(time.monotonic() - meter.started, 3)


def _finish(session: _Session) -> dict[str, Any]:
    run, meter = session.run, session.meter
    run.tokens, run.cost_usd = meter.tokens, meter.cost_usd
    run.outcome = session.tally.outcome(run.status)
    verdicts = [s.decision.verdict for s in run.steps if s.decision is not None]
    return {
        "agent": session.agent.name,
        "version_id": session.version_id,
        "denied": verdicts.count("deny"),
        "asked": verdicts.count("ask"),
        "status": run.status,
        "answer": run.answer,
        "error": run.error,
        "steps": meter.steps,
        "tokens": meter.tokens,
        "cost_usd": round(meter.cost_usd, 6),
        "outcome": run.outcome,
    }


def _deny_decided(
    session: _Session, step: Step, rules: tuple[str, ...], denied: Observation
) -> None:
    """Make the step's decision, not yet journaled, the denial that stopped its call, so
    its record shows what happened rather than the charter's ``allow``."""
    decision = step.decision
    if decision is None or decision.verdict == "deny":
        return  # a denial that fired the rule keeps its own rules and reason
    reason = str(denied.content)
    step.decision = Decision("deny", (*decision.rules, *rules), reason, decision.policy)
    for run_id, kind, payload in reversed(session.pending):
        if run_id == session.run.run_id and kind == "step.decided":
            if payload.get("step") == step.index:
                payload |= {"verdict": "deny", "rules": list(step.decision.rules), "reason": reason}
                session.tally.add(kind, payload)
            return


def history(journal: Journal, run_id: str) -> list[Record]:
    """A run's records; for a fork, its own ``run.started``, then the steps it kept from
    its parent, then its own records.

    Raises:
        RunNotFoundError: no such run.
    """
    own = list(journal.records(run_id))
    if not own or own[0].kind != "run.started":
        raise RunNotFoundError(f"no run with id {run_id!r}; `charter runs` lists them")
    origin = own[0].payload.get("forked_from")
    if not origin:
        return own
    at = int(origin["step"])
    kept = [r for r in history(journal, str(origin["run"]))[1:] if _kept(r, at)]
    return [own[0], *kept, *own[1:]]


def _kept(record: Record, at: int) -> bool:
    """Whether a fork at step ``at`` keeps its parent's ``record``: the steps before ``at``
    and what resolved their in-doubt writes."""
    step_record = record.kind.startswith("step.") or record.kind == RESOLVED
    return step_record and int(record.payload.get("step", 0)) < at


def _resumed_undecided(records: list[Record]) -> str | None:
    """The request id a run was resumed for, if nothing was decided since the resume."""
    for record in reversed(records):
        if record.kind == "step.decided":
            return None
        if record.kind == "run.resumed":
            return str(record.payload["request_id"])
    return None


def _interrupted_write(records: list[Record]) -> tuple[int, str] | None:
    """``(step, tool)`` of a write allowed to run but with no journaled effect, if any."""
    decided: dict[int, str] = {}
    allowed: dict[int, str] = {}
    for record in records:
        p = record.payload
        if record.kind == "step.decided":
            decided[int(p["step"])] = str(p["tool"])
            if p["verdict"] == "allow":
                allowed[int(p["step"])] = str(p["tool"])
        elif record.kind == "approval.used" and int(p.get("step", 0)) in decided:
            allowed[int(p["step"])] = decided[int(p["step"])]
        elif record.kind in ("step.effect", "step.observed"):
            allowed.pop(int(p.get("step", 0)), None)
    return max(allowed.items()) if allowed else None


def check_owner(records: list[Record], agent: Agent) -> None:
    """Raise RunStateError unless the run whose records these are is ``agent``'s."""
    owner = records[0].payload["agent"]
    if owner != agent.name:
        raise RunStateError(
            f"run {records[0].run_id} belongs to agent {owner!r}, not {agent.name!r}"
        )


def run_state(records: list[Record]) -> Literal["running", "waiting", "finished"]:
    """A run's lifecycle state, from its latest ``run.finished|waiting|resumed`` record."""
    for record in reversed(records):
        match record.kind:
            case "run.finished":
                return "finished"
            case "run.waiting":
                return "waiting"
            case "run.resumed":
                return "running"
            case _:
                pass
    return "running"


def waiting_record(records: list[Record]) -> Record | None:
    """The run's ``run.waiting`` record if waiting is its latest state, else None."""
    for record in reversed(records):
        if record.kind == "run.waiting":
            return record
        if record.kind in ("run.resumed", "run.finished"):
            return None
    return None


def _observation(status: ObservationStatus, text: str) -> Observation:
    """An observation as the reasoner saw it, rebuilt from its journaled text."""
    if status == "ok":
        try:
            return Observation("ok", json.loads(text))
        except ValueError:
            return Observation("ok", text)  # cut for length, or withheld: the text it saw
    return Observation(status, text.removeprefix(f"{status}: "))


def _rebuild(agent: Agent, records: list[Record], actor: str) -> _Session:
    """The session of a journaled run, as it stood when it began waiting."""
    started = records[0]
    goal = str(started.payload["goal"])
    run = Run(run_id=started.run_id, agent=agent.name, goal=goal)
    meter = BudgetMeter(agent.charter.budgets)
    session = _Session(
        agent,
        run,
        RunContext(goal, agent.instructions, agent.tools(), run_id=run.run_id),
        meter,
        RunLabels(goal),
        actor or str(started.payload.get("actor", "")),
    )
    steps: dict[int, Step] = {}
    effects: dict[int, dict[str, Any]] = {}
    active, segment = 0.0, datetime.fromisoformat(started.ts)
    for record in records[1:]:
        p = record.payload
        session.tally.add(record.kind, p)
        match record.kind:
            case "step.proposed":
                action = p["action"]
                tokens = p.get("tokens", {})
                usage = Usage(int(tokens.get("prompt", 0)), int(tokens.get("completion", 0)))
                step = Step(
                    int(p["step"]),
                    FinalAnswer(action["answer"])
                    if "answer" in action
                    else ToolCall(action["tool"], dict(action["args"])),
                    usage,
                )
                steps[step.index] = step
                run.steps.append(step)
                meter.steps = step.index
                meter.charge_tokens(
                    str(p.get("model", "")),
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    agent.charter.prices,
                )
            case "step.decided":
                sources = p.get("sources")
                if sources is not None and int(p["step"]) in steps:
                    steps[int(p["step"])].sources = {k: tuple(v) for k, v in sources.items()}
            case "step.effect":
                effects[int(p["step"])] = p
                session.calls.append(str(p["tool"]))
                tool = agent.inventory.find(str(p["tool"]))
                if tool is not None:
                    meter.cost_usd += tool.contract.cost_usd
            case "step.observed":
                _replay_observation(session, steps[int(p["step"])], p, effects)
            case "run.waiting":
                active += (datetime.fromisoformat(record.ts) - segment).total_seconds()
            case "run.resumed":
                segment = datetime.fromisoformat(record.ts)
            case "anomaly.detected":
                session.fired.add(str(p["rule"]))
            case "budget.extended":
                meter.budgets = meter.budgets.extended(str(p["rule"]))
            case _:
                pass
    meter.started = time.monotonic() - active
    session.ledger = EffectLedger.replay(records, agent.inventory.find)
    session.completed |= {call for call, done in session.ledger.done.items() if done}
    return session


def _replay_observation(
    session: _Session, step: Step, payload: dict[str, Any], effects: dict[int, dict[str, Any]]
) -> None:
    call = step.action
    assert isinstance(call, ToolCall)
    effect = effects.get(step.index, {})
    status = effect.get("status")
    result = effect.get("result")
    if status == "ok" and not (isinstance(result, dict) and "withheld" in result):
        observation = Observation("ok", result)  # whole, where the rendered text was cut
    else:
        observation = _observation(payload["status"], str(payload["text"]))
    step.observation = observation
    session.context.turns.append(Turn(call, observation))
    tool = session.agent.inventory.find(call.tool)
    if tool is None or status not in ("ok", "error"):
        return  # the tool never ran: nothing of its own reached the model
    try:
        args = tool.validate_args(call.args).model_dump(mode="json")
    except ToolArgumentsError:
        return
    session.labels.observe(tool, str(payload["text"]), step.index, args=args, sources=step.sources)
    if status == "ok" and tool.contract.side_effect != "read":
        session.completed.add(canonical_json([tool.name, args]))
