"""The governed call: one pipeline for every proposed call, whoever proposes it.

label → decide → journal the decision → (the caller acts) → journal the effect and the
observation. :class:`Governor` is that pipeline; the run loop (:mod:`._runner`) and the
governance API (:mod:`charter.governance`) are its callers, each holding the run's lease
(every record is fenced by it). The decision itself is :func:`._decide.decide`.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel

from charter.errors import (
    JournalError,
    UnknownToolError,
)
from charter.journal import Journal, canonical_json
from charter.journal._kinds import (
    AnomalyDetected,
    ApprovalRejected,
    ApprovalRequested,
    ApprovalUsed,
    BudgetExtended,
    CallOutcome,
    ControlPause,
    ControlRevoke,
    NotifyQueued,
    PolicyVersion,
    ProposedAction,
    RunCancelled,
    RunPaused,
    StepDecided,
    StepEffect,
    StepObserved,
    StepProposed,
    TokenCounts,
    payload_as,
)
from charter.policy import AnomalyRule, Decision, Label, Phase
from charter.policy._answer import check_run_answer
from charter.policy._scope import derive_scope
from charter.reasoners._base import (
    Observation,
    ToolCall,
    Turn,
)
from charter.runtime._anomaly import AnomalyWatch
from charter.runtime._answers import ANSWER_TOOL, answer_request, release_answer
from charter.runtime._approvals import ApprovalRequest, Approvals, ReceiptProblem
from charter.runtime._controls import CONTROL_RUN, ControlState
from charter.runtime._decide import CallState, ProposedCall, Verdict, decide
from charter.runtime._history import history
from charter.runtime._hooks import StepHook, step_hooks
from charter.runtime._ledger import (
    RESOLVED,
    retried_payload,
)
from charter.runtime._lineage import delegation_chain, relabelled, strictest_approvals
from charter.runtime._outbox import Outbox, notification
from charter.runtime._provenance import read_back
from charter.runtime._redaction import (
    Redactions,
    journaled_call,
    journaled_masks,
    mask_call,
    mask_output,
)
from charter.runtime._run import Step
from charter.runtime._session import RecordListener, Session, action_json
from charter.tools import Tool, ToolArgumentsError, preview_call


@dataclass(slots=True)
class Governed:
    """A call the charter lets run now: what the caller executes, and under which key."""

    call: ProposedCall
    verdict: Verdict
    validated: BaseModel
    """The tool's validated arguments (masked where the charter says)."""
    key: str
    """The call's idempotency key (see :mod:`._ledger`)."""
    args: dict[str, Any]
    """The arguments the tool gets, JSON-ready: :attr:`call`'s with what the charter's
    ``redact`` rules name masked."""
    given_back: tuple[str, ...] = ()
    """Placeholders whose values were restored into :attr:`args` (masked again wherever
    the tool's output echoes them)."""


class Governor:
    """Governs the calls of runs in one journal, and journals what they did.

    Args:
        journal: where every record goes.
        approvals: approval requests and receipts.
        anomalies: the agents' recent activity, for anomaly rules.
        on_record: called with each record once it is durably stored.
    """

    def __init__(
        self,
        journal: Journal,
        approvals: Approvals,
        anomalies: AnomalyWatch,
        *,
        on_record: RecordListener | None = None,
    ) -> None:
        self.journal = journal
        self.approvals = approvals
        self.anomalies = anomalies
        self.on_record = on_record
        self.outbox = Outbox(journal)
        """Notifications queued by playbooks, posted to their webhooks in the background."""
        self.after_step: list[StepHook] = []
        """Hooks called after each observed step, after the registered ones."""
        self.journaled_policies: set[str] = set()
        self.redactions = Redactions(journal)
        """The values this process masked, by run, to give back where the charter allows."""
        self._notifier: ThreadPoolExecutor | None = None
        """Posts notifications; made on the first one (most runs queue none, and an
        integration opens a governed run, so a governor, per framework run)."""
        self._notifier_lock = threading.Lock()

    def close(self) -> None:
        """Finish posting queued notifications (each post is bounded by its timeout)."""
        with self._notifier_lock:
            notifier, self._notifier = self._notifier, None
        if notifier is not None:
            notifier.shutdown(wait=True)

    def flush(self, session: Session, *, checkpoint: bool = False, release: bool = False) -> None:
        lease = session.lease
        fence = None if lease is None else lease.fence(release=release)
        started = time.monotonic()
        stored = self.journal.append(session.pending, checkpoint=checkpoint, fence=fence)
        if lease is not None and fence is not None:
            lease.appended(started, fence)
        session.pending.clear()
        if release and session.run.status not in ("running", "waiting"):
            self.redactions.forget(session.run.run_id)
        if any(
            item.kind == "notify.queued" and payload_as(NotifyQueued, item.payload)["webhook_url"]
            for item in stored
        ):
            with self._notifier_lock:
                if self._notifier is None:
                    self._notifier = ThreadPoolExecutor(
                        max_workers=1, thread_name_prefix="charter-notify"
                    )
                self._notifier.submit(self._deliver)
        if self.on_record is not None:
            for item in stored:
                self.on_record(item)

    def _deliver(self) -> None:
        # A webhook that is down must not break runs: its failures are journaled and
        # retried on the next delivery; anything else is a bug worth seeing in the log.
        with contextlib.suppress(JournalError):
            self.outbox.deliver()

    def _playbook(self, session: Session, fired: list[AnomalyRule], tool: str, step: Step) -> None:
        """Journal the ``fired`` rules and run their playbooks (the decision that a call
        they block must not run is :func:`decide`'s)."""
        agent, run = session.agent, session.run
        for rule in fired:
            session.fired.add(rule.id)
            reason = rule.describe()
            actor = f"anomaly:{rule.id}"
            detected: AnomalyDetected = {
                "rule": rule.id,
                "kind": rule.kind,
                "reason": reason,
                "tool": tool,
                "step": step.index,
                "playbook": list(rule.playbook),
            }
            session.record("anomaly.detected", detected)
            why = f"anomaly {rule.id}: {reason}"
            for action in rule.playbook:
                match action:
                    case "pause_agent":
                        paused = ControlPause(agent=agent.name, actor=actor, reason=why)
                        session.pending.append((CONTROL_RUN, "control.pause", paused))
                        run.status, run.error = "stopped", f"agent {agent.name!r} paused: {why}"
                    case "stop_run":
                        run.status, run.error = "stopped", why
                    case "revoke_tool":
                        revoked = ControlRevoke(
                            tool=tool, agent=agent.name, actor=actor, reason=why
                        )
                        session.pending.append((CONTROL_RUN, "control.revoke", revoked))
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

    def record_policy(self, session: Session) -> None:
        # Each policy version is journaled once, so any decision can be explained later
        # from the journal alone (`charter policy explain`).
        charter = session.agent.charter
        version = charter.policy_hash
        if version not in self.journaled_policies:
            versions = self.journal.records_of_kind("policy.version")
            known = {payload_as(PolicyVersion, r.payload).get("policy") for r in versions}
            self.journaled_policies |= {str(v) for v in known}
        if version not in self.journaled_policies:
            journaled = PolicyVersion(policy=version, charter=charter.model_dump())
            session.record("policy.version", journaled)
            self.journaled_policies.add(version)

    @staticmethod
    def scope_run(session: Session) -> None:
        """Fix the task scope of a run just started from its goal, before it reads anything,
        and journal it (``run.scoped``); every call is then decided within it."""
        scope = session.agent.charter.scope
        if scope is None:
            return
        session.scope = derive_scope(scope, session.run.goal)
        session.record("run.scoped", session.scope.to_json())

    def check_answer(self, session: Session, step: Step, text: str) -> str | None:
        """The final answer ``text`` (proposed at ``step``) as the run keeps it, checked
        against what the run read (``flows.answer``); a finding is journaled
        (``answer.checked``). None: the charter asks, so the run now waits for an
        approver to release the answer (:meth:`release_answer`)."""
        checked = check_run_answer(session.agent.charter, session.labels, text)
        if checked.found or checked.label.trust == "untrusted":
            session.record("answer.checked", {"step": step.index} | checked.to_json())
        if checked.verdict != "ask":
            return checked.text
        held = answer_request(session, checked)
        decision = held.pop("decision")
        self.request_approval(session, step.index, ANSWER_TOOL, {"text": text}, decision, **held)
        return None

    def release_answer(self, session: Session, request: ApprovalRequest, text: str) -> None:
        """End a run whose answer waited for approval (see :func:`._answers.release_answer`)."""
        release_answer(self.approvals, session, request, text)

    @staticmethod
    def paused(session: Session, controls: ControlState) -> bool:
        """Stop the run if an operator cancelled it or paused its agent, or cancelled or
        paused a run or an agent that delegated it (controls cascade down the chain)."""
        if not controls.cancelled and not controls.paused:  # the usual case: nothing to stop
            return False
        run = session.run
        for above in (session, *session.ancestors()):
            cancelled = controls.cancel_reason(above.run.run_id)
            if cancelled is not None:
                if above is not session:
                    cancelled = (
                        f"run {above.run.run_id} that delegated it was cancelled: {cancelled}"
                    )
                session.record("run.cancelled", RunCancelled(reason=cancelled))
                run.status, run.error = "stopped", cancelled
                return True
            agent = above.agent
            reason = controls.pause_reason(agent.name)
            if reason is not None:
                session.record("run.paused", RunPaused(agent=agent.name, reason=reason))
                run.status, run.error = "stopped", f"agent {agent.name!r} paused: {reason}"
                return True
        return False

    def observed(
        self, session: Session, step: Step, call: ToolCall, observation: Observation
    ) -> None:
        step.observation = observation
        rendered, session.rendered = session.rendered, None
        text = rendered[1] if rendered and rendered[0] is observation else observation.render()
        observed: StepObserved = {"step": step.index, "status": observation.status, "text": text}
        session.record("step.observed", observed)
        self.flush(session)
        session.context.turns.append(Turn(call, observation))  # perceive
        registered = step_hooks()
        if registered or self.after_step:
            for hook in (*registered, *self.after_step):
                hook(self.journal, session, observation)

    def request_approval(
        self,
        session: Session,
        step: int,
        tool: str,
        args: dict[str, Any],
        decision: Decision,
        *,
        labels: Mapping[str, Label] | None = None,
        sources: Mapping[str, tuple[int, ...]] | None = None,
        preview: dict[str, Any] | None = None,
        evidence: dict[str, list[dict[str, Any]]] | None = None,
        flagged: Mapping[str, Label] | None = None,
    ) -> None:
        """Journal an approval request for ``decision`` and set the run waiting on it
        (``preview``, ``evidence``, ``flagged``: what a request that is not about a tool
        call shows instead of the tool's, e.g. an answer's flagged values)."""
        agent, run = session.agent, session.run
        found = agent.inventory.find(tool) if preview is None else None  # none: budget
        if found is not None:
            preview = preview_call(found, args)
        if evidence is None:
            evidence = session.labels.untrusted_sources(args, labels or {}, sources)
        request = ApprovalRequest.create(
            run_id=run.run_id,
            agent=agent.name,
            step=step,
            tool=tool,
            args=args,
            decision=decision,
            terms=strictest_approvals(session),
            requested_by=session.actor,
            now=self.approvals.clock(),
            labels=flagged or labels or {},
            preview=preview,
            evidence=evidence,
        )
        payload: ApprovalRequested = request.to_payload()
        if sources is not None:
            payload["sources"] = {name: list(steps) for name, steps in sources.items()}
        if session.parent is not None:  # the agents that led to it, the first one first
            payload["chain"] = delegation_chain(session)
        session.record("approval.requested", payload)
        run.status, run.waiting_for = "waiting", request.request_id

    def _refresh_doubts(self, session: Session) -> None:
        """Close the run's doubts that a late result or an operator has resolved since."""
        resolved = [r for r in history(self.journal, session.run.run_id) if r.kind == RESOLVED]
        for doubt in session.ledger.apply_resolutions(resolved):
            session.completed.add(doubt.call)  # it happened: a repeat is a repeat

    @staticmethod
    def _simulate(
        session: Session,
        step: Step,
        found: Tool,
        args: dict[str, Any],
        decision: Decision,
        phase: Phase,
    ) -> Observation:
        """Journal what ``found`` would have done, without calling it."""
        why = "shadow phase" if phase == "shadow" else f"rule {', '.join(decision.rules)}"
        simulated: StepEffect = {
            "step": step.index,
            "tool": found.name,
            "agent": session.agent.name,
            "status": "simulated",
            "would_have": decision.verdict,
            "args": args,
            "us": 0,
        }
        session.record("step.effect", simulated)
        return Observation(
            "ok",
            {
                "simulated": True,
                "tool": found.name,
                "note": f"not executed ({why}); treat it as done and continue",
            },
        )

    def request_budget(self, session: Session, rule: str, message: str) -> None:
        """Wait for an approver to extend the breached budget."""
        charter = session.agent.charter
        decision = Decision("ask", (rule,), f"{message}; extend it?", charter.policy_hash)
        limits = {"limits": session.meter.budgets.model_dump(mode="json")}
        self.request_approval(session, session.meter.steps, rule, limits, decision)

    def finish_budget_request(self, session: Session, request: ApprovalRequest) -> None:
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
            rejected = ApprovalRejected(
                request_id=request.request_id, rule=checked.rule, reason=checked.message
            )
            session.record("approval.rejected", rejected)
            run.status, run.error = "stopped", f"budget not extended: {checked.message}"
            return
        meter.budgets = meter.budgets.extended(request.tool)
        used = ApprovalUsed(request_id=request.request_id, approver=checked.approver)
        session.record("approval.used", used)
        extended = BudgetExtended(
            rule=request.tool,
            request_id=request.request_id,
            limits=meter.budgets.model_dump(mode="json"),
        )
        session.record("budget.extended", extended)

    def proposal(self, session: Session, step: Step) -> StepProposed:
        """The ``step.proposed`` record of ``step`` as far as the governor writes it (its
        caller adds the tokens and model): the step and its action, a call's arguments
        masked where the charter's ``redact`` rules mask them before the tool runs (and
        ``redacted``, the records of what was), so that no masked value is ever journaled
        (:func:`._redaction.journaled_call`)."""
        action, rules = step.action, session.agent.charter.redact
        if not isinstance(action, ToolCall) or not rules:
            return StepProposed(step=step.index, action=action_json(action))
        labels = session.labels
        args, masked = journaled_call(
            self.redactions.of(session.run.run_id),
            rules,
            session.agent.inventory.find(action.tool),
            action,
            lambda found, args: labels.arg_labels(found, args, step.sources),
            labels.context,
        )
        if not masked:
            return StepProposed(step=step.index, action=action_json(action))
        journaled: ProposedAction = {"tool": action.tool, "args": args}
        return StepProposed(step=step.index, action=journaled, redacted=masked)

    def record_proposal(self, session: Session, step: Step, model: str, cost_usd: float) -> None:
        """Journal ``step.proposed``: :meth:`proposal` with the step's token counts, the
        model that proposed it and, when not zero, what those tokens cost."""
        proposed = self.proposal(session, step)
        proposed["tokens"] = TokenCounts(
            prompt=step.usage.prompt_tokens, completion=step.usage.completion_tokens
        )
        proposed["model"] = model
        if cost_usd:
            proposed["cost_usd"] = round(cost_usd, 8)
        session.record("step.proposed", proposed)

    def govern(
        self,
        session: Session,
        step: Step,
        call: ToolCall,
        controls: ControlState,
        approved: ApprovalRequest | None,
    ) -> Governed | Observation | None:
        """Label, decide and journal ``call`` (proposed at ``step``).

        Returns what may run now (its decision journaled, and flushed before a write or an
        approved call can touch the world), or the observation of a call that must not
        run (unknown tool, bad arguments, denied, simulated), or None when the run now
        waits for an approval. ``approved``: the decided request this call comes back
        with; its receipt is re-checked against exactly this call.
        """
        agent, sources = session.agent, step.sources
        try:
            found = agent.inventory.get(call.tool)
        except UnknownToolError as exc:
            return Observation("unknown_tool", str(exc))
        rules = agent.charter.redact
        redaction = self.redactions.of(session.run.run_id) if rules else None
        restored = redaction.restore(found.name, call.args, rules) if redaction else None
        if restored is not None and restored.problem is not None:
            return Observation("invalid_arguments", restored.problem)
        try:
            validated, args = found.validate_call(call.args if restored is None else restored.args)
        except ToolArgumentsError as exc:
            return Observation("invalid_arguments", self._masked_problem(session, step, exc))
        scope = session.labels.resolve(session.scope)  # what the goal designates, as read
        labels = session.labels.arg_labels(found, args, sources, scope)
        # A call taken up from the journal holds placeholders of values it masked: they
        # count as masked, and their arguments are labelled as when they were masked.
        premasked = journaled_masks(args, step.masked, labels) if step.masked else ()
        masking = mask_call(redaction, rules, found, call.args, args, labels, restored)
        journaled = masking.shown if masking.shown is not args else None
        proposed = ProposedCall(step.index, found, args, labels, masking.kept, journaled, premasked)
        step.labels = labels
        writes, identity = proposed.writes, proposed.identity
        if writes and session.ledger.doubts:
            self._refresh_doubts(session)
        receipt = None
        if approved is not None:
            receipt = self.approvals.check(
                approved.request_id,
                run_id=session.run.run_id,
                step=step.index,
                tool=found.name,
                args=masking.shown,
                policy=agent.charter.policy_hash,
            )
        verdict = decide(
            proposed,
            CallState(
                agent,
                session.run.run_id,
                session.version_id,
                controls,
                session.ledger,
                session.completed,
                session.limiter,
                self.anomalies,
                session.calls,
                session.fired,
                receipt,
                scope,
                () if session.parent is None else tuple(a.agent for a in session.ancestors()),
            ),
        )
        decision, phase = verdict.decision, verdict.phase
        step.decision = decision
        if masking.masked and verdict.masked:
            try:
                validated = found.validate_args(masking.tool_args)
            except ToolArgumentsError as exc:  # it can run neither masked nor unmasked
                why = f"{decision.reason}; {found.name} refuses the masked value: {exc}"
                decision = step.decision = replace(decision, verdict="deny", reason=why)
                verdict = replace(verdict, decision=decision, masked=())
            args = masking.tool_args
        decided: StepDecided = {
            "step": step.index,
            "tool": found.name,
            "agent": agent.name,
            "labels": session.labels.context.to_json(),
            **decision.to_json(),
        }
        if sources:
            decided["sources"] = {k: list(v) for k, v in sources.items()}
        bound = (
            None
            if scope is None
            else session.labels.designated_sources(found, args, scope, sources)
        )
        if bound:  # arguments the goal designated, by the field and step they were read at
            decided["designated"] = bound
        if phase != "autonomous":
            decided["phase"] = phase
        if verdict.simulate:
            decided["simulated"] = True
        if masking.masked:
            decided["redacted"] = masking.masked
        if restored is not None and restored.records:
            decided["restored"] = restored.records
        session.record("step.decided", decided)
        if verdict.simulate:
            return self._simulate(session, step, found, masking.shown, decision, phase)
        if isinstance(verdict.receipt, ReceiptProblem):
            assert approved is not None
            problem = verdict.receipt
            rejected: ApprovalRejected = {
                "request_id": approved.request_id,
                "rule": problem.rule,
                "reason": problem.message,
            }
            session.record("approval.rejected", rejected)
            return Observation("denied", f"{problem.message} (rule {problem.rule})")
        if verdict.receipt is not None:
            assert approved is not None
            used: ApprovalUsed = {
                "request_id": approved.request_id,
                "step": step.index,
                "approver": verdict.receipt.approver,
            }
            session.record("approval.used", used)
        elif decision.verdict == "ask":
            return self.request_approval(
                session,
                step.index,
                found.name,
                masking.shown,
                decision,
                labels=labels,
                sources=sources,
            )
        if verdict.fired:
            self._playbook(session, list(verdict.fired), found.name, step)
        if not verdict.runs:
            return Observation("denied", f"{decision.reason} (rule {', '.join(decision.rules)})")
        session.calls.append(found.name)
        if found.contract.side_effect != "read" or approved is not None:
            self.flush(session)  # a write is journaled as decided before it can touch the world
        key_for_call = session.ledger.key(session.run.run_id, step.index, identity)
        given_back = tuple(r["placeholder"] for r in restored.records) if restored else ()
        return Governed(proposed, verdict, validated, key_for_call, args, given_back)

    def _masked_problem(self, session: Session, step: Step, problem: Exception) -> str:
        """Why a call's arguments were refused, each value its proposal had masked masked
        in the text too (a validator may quote what it refused)."""
        text = str(problem)
        masked = (
            self.proposal(session, step).get("redacted") if session.agent.charter.redact else None
        )
        if not masked:
            return text
        redaction = self.redactions.of(session.run.run_id)
        echoed = redaction.echoes(text, tuple(str(r["placeholder"]) for r in masked))
        return str(redaction.mask(text, echoed, {})[0]) if echoed else text

    def output_mask(
        self, session: Session, found: Tool
    ) -> Callable[[Literal["ok", "error"], Any], tuple[Any, list[dict[str, Any]]]] | None:
        """What masks ``found``'s output (by status) as :meth:`record_effect` does, for a
        result that arrives late; None when the charter redacts nothing."""
        rules = session.agent.charter.redact
        if not rules:
            return None
        redaction = self.redactions.of(session.run.run_id)

        def mask(status: Literal["ok", "error"], content: Any) -> tuple[Any, list[dict[str, Any]]]:
            masked, records = mask_output(redaction, rules, found, Observation(status, content))
            return masked.content, records

        return mask

    def record_effect(
        self,
        session: Session,
        step: Step,
        governed: Governed,
        observation: Observation,
        effect: CallOutcome,
    ) -> Observation:
        """Journal the effect of a governed call that ran (its ledger entry, output labels
        and cost); return the observation as the reasoner may see it (a secret output
        withheld)."""
        agent, found, args = session.agent, governed.call.tool, governed.call.args
        writes, identity, sources = governed.call.writes, governed.call.identity, step.sources
        key_for_call = governed.key
        if writes:
            effect["idempotency_key"] = key_for_call
            kept = governed.call.kept_args  # as the ledger rebuilt from the journal has it
            retried = session.ledger.settle(step.index, found, kept, effect)
            if retried is not None:  # a retry under its key: it happened, once
                session.record(RESOLVED, retried_payload(retried, step.index, agent.name))
        if found.contract.confidentiality == "secret" and observation.status == "ok":
            observation, effect = withhold_secret(found, observation, effect)
        elif agent.charter.redact and observation.status in ("ok", "error"):
            # Before the model, the journal or a trace can see it.
            redaction = self.redactions.of(session.run.run_id)
            observation, masked = mask_output(
                redaction, agent.charter.redact, found, observation, governed.given_back
            )
            if masked:
                effect = effect.copy()
                if observation.status == "ok":
                    effect["result"] = observation.content
                else:
                    effect["error"] = observation.content
                effect["redacted"] = masked
        if observation.status in ("ok", "error"):  # the tool's own output reached the model
            text = observation.render()
            session.rendered = (observation, text)
            session.labels.observe(
                relabelled(found, effect),
                text,
                step.index,
                args=args,
                sources=sources,
                content=read_back(observation.status, observation.content, text),
            )
        if writes and observation.status == "ok":
            session.completed.add(identity)
        session.meter.cost_usd += found.contract.cost_usd
        if found.contract.cost_usd:
            effect["cost_usd"] = found.contract.cost_usd
        done: StepEffect = {"step": step.index, "tool": found.name, "agent": agent.name, **effect}
        session.record("step.effect", done)
        return observation


def withhold_secret(
    found: Tool, observation: Observation, effect: CallOutcome
) -> tuple[Observation, CallOutcome]:
    # Secret outputs reach neither the model nor the journal: both get a digest only.
    digest = hashlib.sha256(canonical_json(observation.content).encode()).hexdigest()
    shown = f"[secret output of {found.name} withheld; sha256 {digest[:16]}]"
    withheld = effect.copy()
    withheld["result"] = {"withheld": "secret", "sha256": digest}
    return Observation("ok", shown), withheld
