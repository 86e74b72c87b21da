"""The whole decision on one proposed call, made in one place.

:func:`decide` takes a call (a known tool, its validated arguments and their labels) and
the state it is decided in (operator controls, the run's completed and in-doubt writes,
the rate-limit and anomaly windows, the approval presented for it) and returns one
:class:`Verdict` with every rule that matched. Nothing here writes: the state is passed
in, so the live run, ``charter runs replay`` (which rebuilds the state from the journal as
it stood at the step) and the governance API decide alike.

The order, strongest first: the charter's rules and flows with revocation, the repeat
rule and rate limits (:meth:`charter.agent.Agent.govern`); the run's task scope, fixed
from its goal when it started (``scope.tool``, ``scope.args``); a write whose target is in
doubt; supervision by an operator, then the supervised rollout phase (an allowed write
asks); the shadow phase or a ``simulate`` rule (a write is only simulated); the approval
receipt for an ``ask``; the anomaly rules a call or a denial makes fire.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from charter.agent import Agent
from charter.policy import AnomalyRule, CallLimiter, Charter, Decision, Label, Phase, decide_call
from charter.policy._decision import VERDICT_RANK
from charter.policy._redact import Match, find_in_args
from charter.policy._scope import TaskScope
from charter.runtime._anomaly import AnomalyWatch
from charter.runtime._approvals import Receipt, ReceiptProblem
from charter.runtime._controls import ControlState
from charter.runtime._ledger import (
    EffectLedger,
    call_identity,
    in_doubt_denial,
    recognises_retry,
    target_of,
)
from charter.tools import Tool

BUILT_IN_RULES = frozenset(
    {
        "inventory.revoked",
        "inventory.unknown",
        "charter.repeat_writes",
        "effect.in_doubt",
        "control.supervised",
        "rollout.supervised",
        "policy.error",
        "scope.tool",
        "scope.args",
    }
)
"""Rule ids the runtime applies itself (configured by the charter or an operator);
``flow.*``, ``rate_limits.*``, ``anomaly.*`` and ``budget.*`` ids are built in too."""


@dataclass(frozen=True, slots=True)
class ProposedCall:
    """One call to decide: a known tool and its validated, JSON-ready arguments."""

    step: int
    """The run's step that proposes it."""
    tool: Tool
    args: dict[str, Any]
    labels: Mapping[str, Label] = field(default_factory=lambda: {})
    """Each argument's information-flow label (unlabelled: trusted, internal)."""
    restored: frozenset[str] = frozenset()
    """Arguments holding real values charter restored from placeholders (never masked)."""
    journaled: Mapping[str, Any] | None = None
    """The arguments as the journal keeps them (masked values and values given back by
    their placeholders), where they differ from :attr:`args`: the call's identity and
    target are taken over them, as the ledger rebuilt from the journal takes them."""
    premasked: tuple[Match, ...] = ()
    """Values masked before the call was journaled (a journaled call decided again: its
    placeholders, which the rules that masked them mask still)."""
    _identity: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def writes(self) -> bool:
        """Whether the call has a side effect (``write`` or ``external``)."""
        return self.tool.contract.side_effect != "read"

    @property
    def identity(self) -> str:
        """The call's canonical identity (tool and arguments), as the ledger keys it."""
        # Serialised once: the decision, the ledger key and the recorded effect all ask.
        if self._identity is None:
            object.__setattr__(self, "_identity", call_identity(self.tool, self.kept_args))
        assert self._identity is not None
        return self._identity

    @property
    def kept_args(self) -> dict[str, Any]:
        """:attr:`journaled`, or :attr:`args` when nothing was masked or given back."""
        return self.args if self.journaled is None else dict(self.journaled)

    @property
    def target(self) -> str:
        """What the call acts on (:func:`target_of`), as the ledger keeps it."""
        return target_of(self.tool, self.kept_args)


@dataclass(slots=True)
class CallState:
    """Everything besides the call that its decision depends on."""

    agent: Agent
    run_id: str
    version_id: str
    """The agent version the run belongs to (rollout phases are per version)."""
    controls: ControlState
    ledger: EffectLedger = field(default_factory=EffectLedger)
    """The run's idempotency keys and in-doubt writes."""
    completed: set[str] = field(default_factory=lambda: set[str]())
    """Identities of the run's writes that took effect (the repeat rule)."""
    limiter: CallLimiter | None = None
    """Counts calls against rate limits (default: the agent's in-process limiter)."""
    anomalies: AnomalyWatch | None = None
    """The agent's recent activity; None checks no anomaly rule."""
    calls: Sequence[str] = ()
    """Tools the run called so far, in order (sequence anomalies)."""
    fired: frozenset[str] | set[str] = frozenset()
    """Anomaly rules that already fired in this run."""
    receipt: Receipt | ReceiptProblem | None = None
    """The checked approval presented for this call, if it is the approved call."""
    scope: TaskScope | None = None
    """The run's task scope (journaled as ``run.scoped``); None: no task scope."""
    ancestors: Sequence[Agent] = ()
    """The agents that delegated the run, nearest first: each one's charter decides the
    call too (authority only narrows down a chain of delegations)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The complete decision on one call."""

    decision: Decision
    """The verdict, every matched rule id, the reason and the policy version."""
    phase: Phase
    """The agent version's rollout phase when decided."""
    simulate: bool = False
    """The call is journaled as simulated and not executed (shadow phase, ``simulate``)."""
    receipt: Receipt | ReceiptProblem | None = None
    """For an ``ask`` with an approval presented: the receipt, or why it is refused."""
    fired: tuple[AnomalyRule, ...] = ()
    """Anomaly rules that fired deciding this call (their playbooks are the caller's)."""
    masked: tuple[Match, ...] = ()
    """Argument values the charter's ``redact`` rules mask before the tool runs."""

    @property
    def runs(self) -> bool:
        """Whether the call may be executed now (a ``redact`` verdict: only with
        something masked; a rule that asks for masking nobody can do withholds it)."""
        if self.simulate:
            return False
        if self.decision.verdict == "ask":
            return isinstance(self.receipt, Receipt)
        if self.decision.verdict == "redact":
            return bool(self.masked)
        return self.decision.allowed


RUNNABLE = ("allow", "redact")
"""Verdicts under which a call runs (``redact``: with its masked arguments)."""


def _masking(
    call: ProposedCall, decision: Decision, charter: Charter
) -> tuple[Decision, tuple[Match, ...]]:
    """``decision`` with the ``redact`` rules that mask the call's arguments: an allowed
    call that has something masked is decided ``redact``, naming ``redact.<id>``; a call
    asked about keeps its verdict and runs masked once approved."""
    if decision.verdict == "deny" or not charter.redact:
        return decision, ()
    found = find_in_args(charter.redact, call.tool, call.args, call.labels, call.restored)
    ids = {rule.id for rule in charter.redact if rule.covers(call.tool.name)}
    masked = (*found, *(m for m in call.premasked if m.rule in ids))
    if decision.verdict in ("ask", "simulate"):
        return decision, masked  # approved, it runs masked; simulated, it never runs
    if not masked:
        if decision.verdict == "redact":
            why = f"{decision.reason}; nothing the redact rules name was found to mask"
            return Decision("redact", decision.rules, why.lstrip("; "), decision.policy), ()
        return decision, ()
    ids = tuple(dict.fromkeys(f"redact.{m.rule}" for m in masked))
    paths = ", ".join(dict.fromkeys(m.path for m in masked))
    why = f"{paths} masked before {call.tool.name!r} runs"
    if decision.verdict == "redact" and decision.reason:
        why = f"{decision.reason}; {why}"
    return Decision("redact", (*decision.rules, *ids), why, decision.policy), masked


def _ancestor_decision(above: Agent, call: ProposedCall, controls: ControlState) -> Decision:
    """What the charter of ``above``, an agent up the delegation chain, says of ``call``
    (made on its behalf): its rules, its flows, a revocation of the tool for it."""
    revoked = controls.revocation(call.tool.name, above.name)
    decision = (
        decide_call(above.charter, call.tool, call.args, call.labels, agent=above.name)
        if revoked is None
        else above.charter.deny(
            "inventory.revoked", f"tool {call.tool.name!r} has been revoked: {revoked}"
        )
    )
    rules = tuple(f"{above.name}:{rule}" for rule in decision.rules)
    reason = f"on behalf of {above.name}, whose charter says: {decision.reason}"
    return Decision(decision.verdict, rules, reason, decision.policy)


def narrowed(own: Decision, above: Decision) -> Decision:
    """``own`` decision on a delegated call, narrowed by the decision of a charter up the
    chain: the stricter verdict wins, and every rule that matched is reported (the
    ancestor's prefixed with its agent's name)."""
    rules = (*own.rules, *(r for r in above.rules if r not in own.rules))
    if VERDICT_RANK[above.verdict] > VERDICT_RANK[own.verdict]:
        return Decision(above.verdict, rules, above.reason, own.policy)
    return Decision(own.verdict, rules, own.reason, own.policy)


def decide(call: ProposedCall, state: CallState) -> Verdict:
    """The whole decision on ``call`` in ``state`` (see the module docstring)."""
    agent, tool, args = state.agent, call.tool, call.args
    charter = agent.charter
    controls = state.controls
    phase = controls.phase_of(agent.name, state.version_id) or charter.phase
    decision = agent.govern(
        tool,
        args,
        repeat=call.writes and call.identity in state.completed,
        revoked=controls.revocation(tool.name, agent.name),
        labels=call.labels,
        limiter=state.limiter,
        phase=phase,
    )
    for above in state.ancestors:
        decision = narrowed(decision, _ancestor_decision(above, call, controls))
    if state.scope is not None:
        decision = state.scope.govern(tool, args, decision)
    decision, masked = _masking(call, decision, charter)
    doubt = state.ledger.blocking(call.target) if call.writes else None
    if doubt is not None and doubt.call == call.identity and recognises_retry(tool):
        doubt = None  # the same call under the same key: the tool makes it once
    supervised = controls.supervision(agent.name)
    if doubt is not None and decision.verdict != "deny":
        decision = in_doubt_denial(state.run_id, doubt, decision.policy)
    elif supervised is not None and decision.verdict in RUNNABLE and call.writes:
        why = f"agent {agent.name!r} is supervised: {supervised}"
        decision = Decision("ask", ("control.supervised",), why, decision.policy)
    elif phase == "supervised" and decision.verdict in RUNNABLE and call.writes:
        why = f"version {state.version_id} of {agent.name!r} is in the supervised phase"
        decision = Decision("ask", ("rollout.supervised",), why, decision.policy)
    # Shadow phase: the charter decides as ever, but a write it would allow (or ask
    # about) is only simulated; a `simulate` rule does the same in any phase.
    if decision.verdict == "simulate" or (
        phase == "shadow" and call.writes and decision.verdict in ("allow", "redact", "ask")
    ):
        return Verdict(decision, phase, simulate=True, masked=masked)
    watch, rules = state.anomalies, charter.anomalies
    if decision.verdict == "ask":
        if not isinstance(state.receipt, Receipt):
            return Verdict(decision, phase, receipt=state.receipt, masked=masked)
    elif decision.verdict not in RUNNABLE or (not masked and decision.verdict == "redact"):
        fired = watch.on_denial(agent.name, rules) if watch is not None and rules else []
        return Verdict(decision, phase, fired=tuple(fired))
    if watch is None or not rules:
        return Verdict(decision, phase, receipt=state.receipt, masked=masked)
    fired = watch.on_call(agent.name, rules, tool.name, state.calls, set(state.fired))
    blocked = tuple(f"anomaly.{r.id}" for r in fired if set(r.playbook) - {"notify"})
    if blocked:
        reason = f"stopped by anomaly playbook (rule {', '.join(blocked)})"
        decision = Decision("deny", (*decision.rules, *blocked), reason, decision.policy)
    return Verdict(decision, phase, receipt=state.receipt, fired=tuple(fired), masked=masked)
