"""Charters: an agent's policy, written in YAML and compiled to Cedar.

Which tools may run; rules with an effect (``allow``, ``deny``, ``ask``, ``redact``,
``simulate``) and an optional Cedar condition over the call; raw Cedar for anything else;
budgets of steps, tokens and wall time. Every decision names the rules that produced it
and the charter's version hash. See :mod:`charter.policy._cedar` for how rules combine.

.. code-block:: yaml

    name: support
    version: "1"
    tools:
      allow: ["lookup_*", refund_order]
      deny: [send_email]
    rules:
      - id: large-refunds-need-approval
        effect: ask
        tools: [refund_order]
        when: context.args has amount_cents && context.args.amount_cents > 50000
        reason: refunds over $500 need a manager
    budgets:
      max_steps: 12
      max_tokens: 40000
      max_wall_seconds: 600
    approvals:
      escalation:
        - {approvers: [dana, lee], timeout_seconds: 1800}
        - {approvers: [head-of-support], timeout_seconds: 7200}
      receipt_ttl_seconds: 900

Conditions see ``principal`` (the agent), ``resource`` (the tool: ``name``,
``side_effect``, ``trust``, ``confidentiality``, ``idempotent``, ``reversible``, ``owner``,
``reads``) and ``context``: ``args`` (the validated arguments; no nulls, floats as text),
``phase`` (the charter's rollout phase), ``hour``, ``weekday`` (0 = Monday), ``date``
(UTC), ``labels`` (the join of the arguments' labels: ``trust``, ``confidentiality``) and
``args_labels`` (each argument's: ``context.args_labels.to.trust == "untrusted"``).
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from charter._yaml import load_model, parse_yaml_mapping, read_yaml_mapping
from charter.errors import ConfigError
from charter.journal import canonical_json
from charter.policy._anomaly import AnomalyRule, Notifications
from charter.policy._cedar import CompiledCharter, raw_policy_ids
from charter.policy._decision import Decision, Verdict
from charter.policy._flow import Flows, Label
from charter.policy._model_watch import ModelWatch
from charter.policy._predicate import NotOneCondition, compile_condition
from charter.policy._redact import RedactRule
from charter.policy._rollout import Baseline, Phase, Rollout
from charter.policy._schema import check_charter
from charter.policy._scope import ScopeRules

if TYPE_CHECKING:
    from charter.tools import Tool

from charter.tools._contracts import ContractSpec


class ToolRules(BaseModel):
    """Which tools the agent may call. Patterns use shell globbing (``lookup_*``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: list[str] = Field(default_factory=lambda: ["*"])
    """Tools that may run; anything not matched is denied."""
    deny: list[str] = Field(default_factory=lambda: [])
    """Tools that never run; deny wins over allow."""


Effect = Literal["allow", "deny", "ask", "redact", "simulate"]
RollbackOn = Literal["failed", "stopped"]
_RESERVED_PREFIXES = ("tools.", "budget.", "inventory.", "charter.", "policy.", "rate_limits.")


class Rule(BaseModel):
    """One policy rule: an effect on some tools, optionally under a Cedar condition."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    """Named in every decision it takes part in."""
    effect: Effect
    tools: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    """Tool name patterns (shell globbing)."""
    when: str | None = None
    """A Cedar condition, e.g. ``context.args.amount_cents > 50000``."""
    reason: str = ""
    """What a reviewer reads when the rule decides."""

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value.startswith(_RESERVED_PREFIXES):
            raise ValueError(f"rule ids may not start with {', '.join(_RESERVED_PREFIXES)}")
        return value


class Budgets(BaseModel):
    """Limits that stop a run when exceeded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_steps: int = Field(default=20, ge=1)
    """Reasoning steps (proposals) per run."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Prompt plus completion tokens per run."""
    max_wall_seconds: float | None = Field(default=None, gt=0)
    """Elapsed seconds per run."""
    max_cost_usd: float | None = Field(default=None, gt=0)
    """Dollars per run: model tokens at the charter's ``prices`` plus tools' ``cost_usd``."""
    on_breach: Literal["stop", "ask"] = "stop"
    """``stop`` ends the run; ``ask`` waits for an approver to extend the budget (through
    the charter's ``approvals`` chain), and stops only if they deny or nobody answers."""
    extend_by: float = Field(default=0.5, gt=0, le=10)
    """Fraction an approved extension adds to the breached limit (0.5: half as much again)."""

    def extended(self, rule: str) -> Budgets:
        """These budgets with the limit behind ``rule`` (``budget.max_steps``, ...) raised."""
        name = rule.removeprefix("budget.")
        current = getattr(self, name, None)
        if name not in ("max_steps", "max_tokens", "max_wall_seconds", "max_cost_usd") or (
            current is None
        ):
            raise ValueError(f"no budget limit {rule!r} to extend")
        grown = current * (1 + self.extend_by)
        if isinstance(current, int):
            grown = max(current + 1, int(grown))
        return self.model_copy(update={name: grown})


class ModelPrice(BaseModel):
    """What a model's tokens cost, in dollars per million."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt_per_million: float = Field(ge=0)
    completion_per_million: float = Field(ge=0)


class RateLimit(BaseModel):
    """At most ``max_calls`` calls of the matching tools per ``per_seconds``, per agent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    """Journaled as ``rate_limits.<id>`` when it denies a call."""
    tools: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    max_calls: int = Field(ge=1)
    per_seconds: float = Field(gt=0)


class ApprovalLevel(BaseModel):
    """One level of an escalation chain: who may approve, and for how long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approvers: list[str] = Field(default_factory=lambda: [])
    """Identities allowed to decide at this level; empty: anyone."""
    timeout_seconds: float = Field(default=3600.0, gt=0)
    """How long this level has before the request escalates to the next (or expires)."""


class ApprovalPolicy(BaseModel):
    """How ``ask`` decisions are answered: the escalation chain and the receipts' terms."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    escalation: list[ApprovalLevel] = Field(default_factory=lambda: [ApprovalLevel()], min_length=1)
    """Levels in order; a request unanswered at the last level expires (a denial)."""
    receipt_ttl_seconds: float = Field(default=900.0, gt=0)
    """How long an approval stays valid for executing the call once granted."""
    forbid_self_approval: bool = True
    """Whoever started a run may not approve its requests."""


class Charter(BaseModel):
    """An agent's policy. Load one with :func:`load_charter` or build it in code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    version: str = "1"
    description: str = ""
    tools: ToolRules = Field(default_factory=ToolRules)
    budgets: Budgets = Field(default_factory=Budgets)
    rules: list[Rule] = Field(default_factory=lambda: [])
    cedar: str | None = None
    """Raw Cedar policies (each with an ``@id``); ``forbid`` denies, ``permit`` allows."""
    prices: dict[str, ModelPrice] = Field(default_factory=lambda: {})
    """Token prices by model name (as proposals report it); unpriced models cost nothing."""
    rate_limits: list[RateLimit] = Field(default_factory=lambda: [])
    flows: Flows = Field(default_factory=Flows)
    """What the information-flow rules do (see :mod:`charter.policy._flow`)."""
    contracts: dict[str, ContractSpec] = Field(default_factory=lambda: {})
    """Contracts of tools charter did not write, by tool name (see
    :mod:`charter.tools._contracts`); an agent applies them to its tools."""
    redact: list[RedactRule] = Field(default_factory=lambda: [])
    """Values masked before the model or a tool sees them, and where a placeholder may
    be given back (see :mod:`charter.policy._redact`)."""
    scope: ScopeRules | None = None
    """Task scope: which tools (and argument values) a run may use, derived from its goal
    before it reads anything (see :mod:`charter.policy._scope`)."""
    anomalies: list[AnomalyRule] = Field(default_factory=lambda: [])
    """Behaviour patterns that trigger a playbook (see :mod:`charter.policy._anomaly`)."""
    notifications: Notifications = Field(default_factory=Notifications)
    """Where ``notify`` playbook actions go besides the journal's outbox."""
    approvals: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    """Who answers ``ask`` decisions, escalation, and how long approvals stay valid."""
    phase: Phase = "autonomous"
    """The rollout phase a new version of the agent starts in: ``shadow`` (writes and
    external calls are simulated and journaled as what would have been done),
    ``supervised`` (each one the charter allows asks an approver) or ``autonomous`` (the
    charter decides). ``charter agents promote`` moves a version on; conditions see the
    version's current phase as ``context.phase``."""
    rollout: Rollout = Field(default_factory=Rollout)
    """KPI gates for promotion and the production demotion watch (see
    :mod:`charter.policy._rollout`)."""
    baseline: Baseline | None = None
    """What a run's work costs done by hand, for the ROI in ``charter report``."""
    allow_repeat_writes: bool = False
    """Let a run repeat a completed, non-idempotent write or external call with identical
    arguments (by default the repeat is denied: it would do the thing twice)."""
    rollback_on: list[RollbackOn] = Field(default_factory=lambda: [])
    """Run outcomes that undo the run's completed writes at once, newest first, through
    their tools' ``compensate`` (a saga): ``failed`` (an error ended the run) and
    ``stopped`` (a budget, an operator or a call in doubt ended it). The rollback is
    journaled as ``charter runs rollback`` journals it; irreversible and in-doubt effects
    are reported, not guessed at."""
    models: list[ModelWatch] = Field(default_factory=lambda: [])
    """Drift thresholds for registered models the agent calls, and what a breach does
    (see :mod:`charter.policy._model_watch` and :func:`charter.models.check_drift`)."""

    @model_validator(mode="after")
    def _valid_policies(self) -> Charter:
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.id in seen:
                raise ValueError(f"rules.{index}.id: {rule.id!r} is used twice")
            seen.add(rule.id)
            if rule.when is not None:
                try:
                    compile_condition(rule.when)  # parsed and compiled once, checked here
                except NotOneCondition:
                    # Text closing the condition and opening a policy of its own.
                    raise ValueError(
                        f"rules.{index}.when: a condition must be one Cedar expression, "
                        "not policies"
                    ) from None
                except ValueError as exc:
                    raise ValueError(
                        f"rules.{index}.when: invalid Cedar condition in rule {rule.id}: {exc}"
                    ) from exc
        for section, ids in (
            ("rate_limits", [limit.id for limit in self.rate_limits]),
            ("anomalies", [anomaly.id for anomaly in self.anomalies]),
            ("redact", [rule.id for rule in self.redact]),
        ):
            for index, item_id in enumerate(ids):
                if item_id in ids[:index]:
                    raise ValueError(f"{section}.{index}.id: {item_id!r} is used twice")
        if "shadow" in self.rollout.gates:
            raise ValueError(
                "rollout.gates: shadow is where versions start; gate supervised or autonomous"
            )
        if self.cedar is not None:
            try:
                ids = raw_policy_ids(self.cedar)
            except ValueError as exc:
                raise ValueError(f"cedar: {exc}") from exc
            clash = seen & set(ids)
            if clash:
                raise ValueError(f"cedar: @id {sorted(clash)[0]!r} is also a rule id")
        return self

    @cached_property
    def compiled(self) -> CompiledCharter:
        """This charter compiled to Cedar (parsed once per tool, on first use)."""
        return CompiledCharter(self)

    @cached_property
    def policy_hash(self) -> str:
        """Short version hash of the policy content, journaled with every decision.

        Fields left at their defaults are not hashed, so a charter release that adds a
        field does not change the version of every existing charter (which would refuse
        every pending approval, bound to the version it was asked under)."""
        body = canonical_json(self.model_dump(mode="json", exclude_defaults=True))
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Charter:
        """A copy with ``update`` applied; its policy hash reflects the new content."""
        copied = super().model_copy(update=update, deep=deep)
        cached = cast(dict[str, Any], copied.__dict__)
        for derived in ("policy_hash", "compiled"):  # they described the original
            cached.pop(derived, None)
        return copied

    def check_tools(self, known: Collection[str], source: str) -> None:
        """Fail if a rule names no known tool (a typo would silently deny or allow)."""
        for field_name, patterns in (("allow", self.tools.allow), ("deny", self.tools.deny)):
            for pattern in patterns:
                if not any(fnmatch.fnmatchcase(name, pattern) for name in known):
                    raise ConfigError(
                        f"{source}: field tools.{field_name}: {pattern!r} matches no tool; "
                        f"known tools: {', '.join(sorted(known)) or 'none'}"
                    )

    def check_against(self, tools: Iterable[Tool], source: str) -> None:
        """Fail if a conditional rule cannot be evaluated for a tool it applies to: it reads
        an argument the tool does not have, an optional one without ``has``, or compares
        values of different types (see :mod:`charter.policy._schema`); or a scope rule
        constrains an argument a tool does not have."""
        tools = list(tools)
        check_charter(self, tools, source)
        by_name = {t.name: t for t in tools}
        for index, rule in enumerate(self.scope.rules if self.scope else []):
            for part, keys in (("args", list(rule.args)), ("bind", list(rule.bind))):
                for key in keys:
                    tool_name, arg = key.split(".", 1)
                    found = by_name.get(tool_name)
                    if found is None or arg not in found.args_model.model_fields:
                        what = "no such tool" if found is None else f"{tool_name!r} has no {arg!r}"
                        raise ConfigError(
                            f"{source}: field scope.rules.{index}.{part}.{key}: {what}"
                        )
            for key in rule.carry:
                if key not in by_name:
                    raise ConfigError(
                        f"{source}: field scope.rules.{index}.carry.{key}: no such tool"
                    )
        for index, redaction in enumerate(self.redact):
            for at, name in enumerate(redaction.restore):
                tool_name, arg = name.split(".", 1)
                found = by_name.get(tool_name)
                if found is None or arg not in found.args_model.model_fields:
                    what = "no such tool" if found is None else f"{tool_name!r} has no {arg!r}"
                    raise ConfigError(f"{source}: field redact.{index}.restore.{at}: {what}")

    def decide(
        self,
        tool: Tool | str,
        args: Mapping[str, Any] | None = None,
        *,
        agent: str = "agent",
        now: datetime | None = None,
        labels: Label | None = None,
        phase: Phase | None = None,
        args_labels: Mapping[str, Label] | None = None,
    ) -> Decision:
        """Verdict of the Cedar rules on calling ``tool`` with ``args``.

        See :mod:`charter.policy._cedar`; :func:`charter.policy.decide_call` adds the
        information-flow rules.
        """
        return self.compiled.decide(
            tool, args, agent=agent, now=now, labels=labels, phase=phase, args_labels=args_labels
        )

    def deny(self, rule: str, reason: str) -> Decision:
        """A denial by a rule outside the tool lists (inventory, agent scope, budgets)."""
        return self._decision("deny", rule, reason)

    def _decision(self, verdict: Verdict, rule: str, reason: str) -> Decision:
        return Decision(verdict=verdict, rules=(rule,), reason=reason, policy=self.policy_hash)


def load_charter(path: Path | str | None = None, *, text: str | None = None) -> Charter:
    """Read a charter from a YAML file, or from YAML ``text`` (then errors name
    ``<charter>``); raise :class:`ConfigError` naming the source and the field."""
    if text is not None:
        if path is not None:
            raise ValueError("give load_charter a path or text, not both")
        return load_model(Charter, parse_yaml_mapping(text, "<charter>"), "<charter>")
    if path is None:
        raise ValueError("load_charter needs a path or text")
    path = Path(path)
    return load_model(Charter, read_yaml_mapping(path), str(path))
