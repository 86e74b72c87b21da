"""Continuing a run from the journal: recover one whose process stopped, resume one whose
approval was decided, cancel one, fork one at a step. Each claims the run's lease first."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from charter.agent import Agent, load_agent
from charter.errors import (
    ConfigError,
    RunOwnedError,
    RunStateError,
)
from charter.journal import Record
from charter.journal._kinds import (
    ControlCancel,
    Entry,
    ForkedFrom,
    RunCancelled,
    RunFinished,
    RunRecovered,
    RunResumed,
    RunStarted,
    RunWaiting,
    SegmentLineage,
    StepDecided,
    StepEffect,
    StepObserved,
    StepProposed,
    TokenCounts,
    payload_as,
)
from charter.journal._lease import Lease
from charter.journal._outcome import OutcomeTally
from charter.policy import BudgetMeter
from charter.reasoners._base import (
    Observation,
    RunContext,
    ToolCall,
)
from charter.runtime._approvals import closing_entry
from charter.runtime._controls import CONTROL_RUN
from charter.runtime._delegation import continue_delegation
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
from charter.runtime._ledger import (
    RESOLVED,
    Doubt,
    call_identity,
    call_tool,
    retried_payload,
    target_of,
    writes_from,
)
from charter.runtime._lineage import DELEGATED_BY, children, waiting_child
from charter.runtime._outbox import notification
from charter.runtime._provenance import RunLabels
from charter.runtime._run import Run
from charter.runtime._session import (
    Session,
    new_run_id,
)

if TYPE_CHECKING:
    from charter.runtime._runner import Runner


def recover(
    runner: Runner, agent: Agent, run_id: str, *, actor: str = "", parent: Session | None = None
) -> Run:
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

    A sub-agent's run is continued under its parent (``parent``, its session); asked
    for on its own, its root run is recovered instead, which continues it.

    Raises:
        RunNotFoundError: no such run.
        RunOwnedError: another live process drives the run.
        RunStateError: the run finished, waits for an approval, or belongs to another
            agent.
    """
    first = history(runner.journal, run_id)  # no such run: say so before claiming anything
    if parent is None and DELEGATED_BY in payload_as(RunStarted, first[0].payload):
        root, root_agent = _root_of(runner, first[0])
        return recover(runner, root_agent, root, actor=actor)
    with runner.claim_run(run_id, actor).held() as lease:
        records = history(runner.journal, run_id)  # read under the lease: final
        check_owner(records, agent)
        check_driven_here(records)
        state = run_state(records)
        if state != "running":
            what = "finished" if state == "finished" else "waiting for an approval"
            raise RunStateError(f"run {run_id} is {what}; nothing to recover")
        session = rebuild(agent, records, actor)
        session.lease, session.parent = lease, parent
        started = payload_as(RunStarted, records[0].payload)
        runner.governor.journaled_policies.add(_policy_of(started))
        recovered = RunRecovered(actor=actor)
        if (lineage := _lineage_of(records)) is not None:
            recovered["delegated_by"] = lineage
        session.record("run.recovered", recovered)
        runner.governor.record_policy(session)
        runner.governor.flush(session)
        doubt = interrupted_write(records)
        if doubt is not None:
            _settle_interrupted(runner, session, *doubt, _masking_of(records, doubt[0]))
        decided = resumed_undecided(records)
        if decided is not None:  # it died resuming: finish the decided request's step
            return runner.drive(session, runner.approvals.get(decided).request)
        if session.run.status == "running":  # cancelled while its owner was dead
            runner.governor.paused(session, runner.controls.state())
        return runner.drive(session, None)


def _policy_of(started: RunStarted) -> str:
    """The policy a run charter started names (every such run does)."""
    if "charter" not in started:
        raise KeyError("charter")
    return str(started["charter"]["policy"])


def _lineage_of(records: list[Record]) -> SegmentLineage | None:
    """For a sub-agent's run, the parent and root a segment of it names (its trace is its
    root run's, in whichever process continues it); None for a run of its own."""
    origin = payload_as(RunStarted, records[0].payload).get(DELEGATED_BY)
    return SegmentLineage(run=origin["run"], root=origin["root"]) if origin else None


def _root_of(runner: Runner, started: Record) -> tuple[str, Agent]:
    """The root run of the delegated run ``started`` begins, and its agent (from the
    file the root run started from)."""
    manifest = payload_as(RunStarted, started.payload)
    if DELEGATED_BY not in manifest:
        raise KeyError(DELEGATED_BY)
    root = str(manifest[DELEGATED_BY]["root"])
    root_started = payload_as(RunStarted, history(runner.journal, root)[0].payload)
    if root_started.get("governed_by") == "caller":
        raise RunStateError(
            f"run {started.run_id} was delegated by run {root}, which its caller's own loop "
            "drives (charter.governance): the caller continues both, with "
            f"GovernedRun.resume(journal, agent, {root!r}) then approved_call()"
        )
    source = root_started.get("source")
    if not source or not Path(str(source)).exists():
        raise RunStateError(
            f"run {started.run_id} was delegated by run {root}, which continues it; "
            f"the agent file of run {root} is unknown here: resume or recover run {root} "
            "with its agent"
        )
    return root, load_agent(str(source))


def _masking_of(records: list[Record], step: int) -> str | None:
    """Why the journaled call of ``step`` is not what its tool was given, if it is not:
    values given back into it from placeholders (held in memory only, by the process
    that stopped), or values masked in a call a journal written before calls were
    journaled masked holds as proposed (a retry would hand the tool what was masked)."""
    proposed = next(
        p
        for p in (payload_as(StepProposed, r.payload) for r in records if r.kind == "step.proposed")
        if p["step"] == step
    )
    decided = [
        d
        for d in (payload_as(StepDecided, r.payload) for r in records if r.kind == "step.decided")
        if d["step"] == step
    ]
    if any(d.get("restored") for d in decided):
        return "values given back into it from placeholders are held by the stopped process only"
    if any(d.get("redacted") for d in decided) and "redacted" not in proposed:
        return "its journal holds its arguments unmasked, not as the tool was given them"
    return None


def _settle_interrupted(
    runner: Runner, session: Session, step_index: int, tool_name: str, unlike: str | None = None
) -> None:
    """Retry an interrupted write under its idempotency key, with the arguments its tool
    was given (the journal's, masked as they were), or leave it to a human; ``unlike``:
    why the journaled call is not the call the tool was given (then it is not retried)."""
    if tool_name in session.agent.delegates:  # continue the child its key started, if any
        continue_delegation(runner, session, recovered=True)
        return
    step = next(s for s in session.run.steps if s.index == step_index)
    call = step.action
    assert isinstance(call, ToolCall)
    found = session.agent.inventory.get(tool_name)
    validated = found.validate_args(call.args)
    args = validated.model_dump(mode="json")
    identity = call_identity(found, args)
    key = session.ledger.key(session.run.run_id, step_index, identity)  # as it had
    reads = found.contract.side_effect == "read"
    if reads and unlike is not None:  # nothing to doubt: the model hears it did not run
        error = f"the process stopped while {tool_name} (step {step_index}) ran: {unlike}"
        failed = StepEffect(
            step=step_index, tool=found.name, status="error", error=error, us=0, recovered=True
        )
        session.record("step.effect", failed)
        runner.governor.observed(session, step, call, Observation("error", error))
        return
    if (found.takes_key or found.contract.idempotent or reads) and unlike is None:
        late = runner.late_recorder(session, step_index, found, key)
        observation, effect = call_tool(
            runner.tool_pool, found, validated, key, late, session.lease
        )
        effect["idempotency_key"], effect["recovered"] = key, True
        done: StepEffect = {"step": step_index, "tool": found.name, **effect}
        session.record("step.effect", done)
        if observation.status == "ok":
            session.completed.add(identity)
        retried = None
        if found.contract.side_effect != "read":
            retried = session.ledger.settle(step_index, found, args, effect)
        if retried is not None:  # it retried a call in doubt under its key
            session.record(RESOLVED, retried_payload(retried, step_index, session.agent.name))
        runner.governor.observed(session, step, call, observation)
        return
    session.ledger.in_doubt(Doubt(step_index, found.name, target_of(found, args), identity, key))
    why = (
        f"the process stopped while {tool_name} (step {step_index}) ran; whether it took "
        "effect is unknown, and "
        + (
            "the tool cannot recognise a retry"
            if unlike is None
            else f"it cannot be retried as it was made: {unlike}"
        )
    )
    session.record(
        "step.effect",
        StepEffect(
            step=step_index,
            tool=tool_name,
            agent=session.agent.name,
            status="in_doubt",
            in_doubt=True,
            error=why,
            idempotency_key=key,
        ),
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


def resume(
    runner: Runner, agent: Agent, run_id: str, *, actor: str = "", parent: Session | None = None
) -> Run:
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
    first = history(runner.journal, run_id)  # no such run: say so before claiming anything
    if parent is None and DELEGATED_BY in payload_as(RunStarted, first[0].payload):
        root, root_agent = _root_of(runner, first[0])
        return resume(runner, root_agent, root, actor=actor)
    with runner.claim_run(run_id, actor).held() as lease:
        records = history(runner.journal, run_id)
        check_owner(records, agent)
        check_driven_here(records)
        started = payload_as(RunStarted, records[0].payload)
        waiting = waiting_record(records)
        if waiting is None:
            status = next(
                (
                    payload_as(RunFinished, r.payload)["status"]
                    for r in records
                    if r.kind == "run.finished"
                ),
                "running",
            )
            raise RunStateError(f"run {run_id} is not waiting for an approval (it is {status})")
        request_id = str(payload_as(RunWaiting, waiting.payload)["request_id"])
        state = runner.approvals.get(request_id)
        if state.status == "pending":
            who = state.request.approvers_at(state.level or 0)
            raise RunStateError(
                f"run {run_id} is waiting for approval {request_id} "
                f"(approvers: {', '.join(who) if who else 'anyone'}); "
                f"`charter approvals approve {request_id}` or `deny` it first"
            )
        session = rebuild(agent, records, actor)
        session.lease, session.parent = lease, parent
        runner.governor.journaled_policies.add(_policy_of(started))
        resumed_by = RunResumed(request_id=request_id, actor=actor)
        if (lineage := _lineage_of(records)) is not None:
            resumed_by["delegated_by"] = lineage
        session.record("run.resumed", resumed_by)
        runner.governor.record_policy(session)
        runner.governor.flush(session)
        resumed = [
            r
            for r in runner.journal.records(run_id)
            if r.kind == "run.resumed" and r.seq > waiting.seq
        ]
        first_resumed = payload_as(RunResumed, resumed[0].payload)
        if first_resumed.get("request_id") != request_id or len(resumed) > 1:
            raise RunStateError(f"run {run_id} was resumed by another process first")
        return runner.drive(session, state.request)


def cancel(runner: Runner, run_id: str, *, actor: str, reason: str) -> str:
    """Cancel a run: a running one stops before its next step, in whatever process
    drives it; a waiting one, or a running one whose owner died (its lease ended),
    ends now, under a lease this call claims (an approval request can no longer
    resume it, a recovery no longer continue it). Returns the run's state when
    cancelled (``running`` or ``waiting``).

    Raises:
        ConfigError: no reason given (it is journaled).
        RunNotFoundError: no such run.
        RunStateError: the run already finished.
    """
    if not reason.strip():
        raise ConfigError("cancelling a run needs a reason (it is journaled)")
    history(runner.journal, run_id)
    try:
        lease: Lease | None = runner.claim_run(run_id, actor)
    except RunOwnedError:
        lease = None  # its live owner stops at its next step, seeing the control
    if lease is None:  # its live children stop at their next step too
        return _cancel(runner, run_id, None, actor=actor, reason=reason)
    with lease.held():
        state = _cancel(runner, run_id, lease, actor=actor, reason=reason)
    for child in children(history(runner.journal, run_id)):  # they end with it
        with contextlib.suppress(RunStateError):
            cancel(runner, child, actor=actor, reason=f"run {run_id} was cancelled: {reason}")
    return state


def _cancel(runner: Runner, run_id: str, lease: Lease | None, *, actor: str, reason: str) -> str:
    records = history(runner.journal, run_id)
    state = run_state(records)
    if state == "finished":
        raise RunStateError(f"run {run_id} already finished; nothing to cancel")
    cancel = ControlCancel(run_id=run_id, actor=actor, reason=reason)
    entries: list[Entry] = [(CONTROL_RUN, "control.cancel", cancel)]
    if lease is not None:
        why = f"cancelled by {actor}: {reason}"
        proposed = [
            payload_as(StepProposed, r.payload) for r in records if r.kind == "step.proposed"
        ]
        counts = [p.get("tokens", TokenCounts(prompt=0, completion=0)) for p in proposed]
        tokens = sum(c["prompt"] + c["completion"] for c in counts)
        tally = OutcomeTally()
        for record in records:
            tally.add(record.kind, record.payload)
        tally.add("run.cancelled", {})
        finished: RunFinished = {
            "status": "stopped",
            "answer": None,
            "error": why,
            "steps": len(proposed),
            "tokens": tokens,
            "outcome": tally.outcome("stopped"),
        }
        entries += [
            (run_id, "run.cancelled", RunCancelled(reason=why)),
            (run_id, "run.finished", finished),
        ]
        waiting = waiting_record(records)
        request_id = (
            None if waiting is None else payload_as(RunWaiting, waiting.payload)["request_id"]
        )
        if request_id is not None and not waiting_child(records, request_id):
            # the request leaves every inbox with the run (a child's, with the child)
            request_id = str(request_id)
            entries.append(closing_entry(run_id, request_id, f"run {why}"))
    fence = None if lease is None else lease.fence(release=True)
    stored = runner.journal.append(entries, checkpoint=lease is not None, fence=fence)
    if runner.on_record is not None:
        for item in stored:
            runner.on_record(item)
    return state


def fork(
    runner: Runner,
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
    parent = history(runner.journal, run_id)
    delegated = payload_as(RunStarted, parent[0].payload).get(DELEGATED_BY)
    if delegated:  # alone, it would lose the charters above it
        raise RunStateError(
            f"run {run_id} is a sub-agent's run, delegated by run {delegated['run']}: "
            f"fork run {delegated['root']} instead"
        )
    kept = [r for r in parent[1:] if kept_by_fork(r, at)]
    last = max(
        (
            int(payload_as(StepProposed, r.payload)["step"])
            for r in parent
            if r.kind == "step.proposed"
        ),
        default=0,
    )
    if not 1 <= at <= last:
        raise RunStateError(f"run {run_id} has steps 1 to {last}; cannot fork at step {at}")
    observed = {
        int(payload_as(StepObserved, r.payload)["step"]) for r in kept if r.kind == "step.observed"
    }
    calls = {
        int(p["step"])
        for p in (payload_as(StepProposed, r.payload) for r in kept if r.kind == "step.proposed")
        if "tool" in p["action"]
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
    origin = ForkedFrom(run=run_id, step=at)
    if redone:
        origin["reexecute_writes"] = redone
    goal = str(payload_as(RunStarted, parent[0].payload)["goal"])
    run = Run(run_id=new_run_id(), agent=agent.name, goal=goal)
    starting = Session(
        agent,
        run,
        RunContext(goal, agent.instructions, []),
        BudgetMeter(agent.charter.budgets),
        RunLabels(goal),
        actor,
    )
    manifest = agent.manifest(goal, actor, starting.version_id)
    manifest["forked_from"] = origin
    starting.record("run.started", manifest)
    runner.governor.scope_run(starting)
    runner.governor.record_policy(starting)
    with runner.claim_run(run.run_id, actor).held() as lease:
        stored = runner.journal.append(starting.pending, fence=lease.fence())
        starting.pending.clear()
        if runner.on_record is not None:
            for item in stored:
                runner.on_record(item)
        scoped = [r for r in stored if r.kind == "run.scoped"]
        session = rebuild(agent, [stored[0], *scoped, *kept], actor)
        session.lease = lease
        return runner.drive(session, None)
