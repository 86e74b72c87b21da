"""Task scope: what this run may do, derived from the trusted goal before anything else.

Least privilege per task: an agent asked to summarise a channel has no business sending
money, whatever a message in that channel says. Before the agent reads anything, the
charter's ``scope`` rules read the goal (trusted: whoever started the run wrote it) and
fix which tools the run may call and, for some, which values an argument may take. Every
later call outside that scope is denied or asks (``scope.outside``), as rule
``scope.tool`` (a tool the task does not need) or ``scope.args`` (an argument the task
did not name).

.. code-block:: yaml

    scope:
      outside: deny
      always: ["read_*", "search_*", "list_*"]     # any task may read
      rules:
        - id: email-a-report
          goal: '(?i)\\bemail\\b.*\\bto (?P<to>[\\w.+-]+@[\\w.-]+)'
          tools: [send_email]
          args:
            send_email.to: ["{to}"]               # each recipient must be one of these

A rule applies when its ``goal`` regular expression matches the goal (``re.search``);
named groups bind values that ``args`` constraints use as ``{name}``. A constraint lists
the values an argument may take (text compared case-insensitively, a list argument
element by element); a tool several rules allow is constrained only if each of them
constrains it. A goal no rule matches may use the ``always`` tools only. A charter
without ``scope`` has no task scope.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from charter.policy._decision import VERDICT_RANK, Decision

if TYPE_CHECKING:
    from charter.policy._charter import Charter
    from charter.tools import Tool

_TEMPLATE = re.compile(r"\{(\w+)\}")


class ScopeRule(BaseModel):
    """Tools (and argument values) a task whose goal matches ``goal`` may use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    """Named in the journaled scope."""
    goal: str
    """A regular expression searched in the goal; named groups bind values."""
    tools: list[str] = Field(min_length=1)
    """Tool name patterns (shell globbing) the task may call."""
    args: dict[str, list[str]] = Field(default_factory=lambda: {})
    """``tool.argument`` → the values it may take (``{group}`` fills in a bound value)."""

    @field_validator("goal")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _known_groups(self) -> ScopeRule:
        groups = set(re.compile(self.goal).groupindex)
        for key, values in self.args.items():
            if "." not in key:
                raise ValueError(f"args.{key}: write tool.argument")
            for value in values:
                for name in _TEMPLATE.findall(value):
                    if name not in groups:
                        raise ValueError(
                            f"args.{key}: {{{name}}} is not a named group of goal "
                            f"(groups: {', '.join(sorted(groups)) or 'none'})"
                        )
        return self


class ScopeRules(BaseModel):
    """A charter's ``scope`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outside: Literal["deny", "ask"] = "deny"
    """What a call outside the task's scope gets."""
    always: list[str] = Field(default_factory=lambda: [])
    """Tools every task may call (patterns), with no argument constraint."""
    rules: list[ScopeRule] = Field(default_factory=lambda: [])

    @model_validator(mode="after")
    def _unique(self) -> ScopeRules:
        ids = [rule.id for rule in self.rules]
        for index, rule_id in enumerate(ids):
            if rule_id in ids[:index]:
                raise ValueError(f"rules.{index}.id: {rule_id!r} is used twice")
        return self


class TaskScope(BaseModel):
    """What one run may do: tools, and the values some of their arguments may take."""

    model_config = ConfigDict(frozen=True)

    rules: tuple[str, ...] = ()
    """The scope rules the goal matched."""
    tools: tuple[str, ...] = ()
    """Tool name patterns the run may call."""
    args: dict[str, tuple[str, ...]] = Field(default_factory=lambda: {})
    """``tool.argument`` → allowed values (case-folded)."""
    outside: Literal["deny", "ask"] = "deny"

    def to_json(self) -> dict[str, Any]:
        """As journaled at run start (``run.scoped``)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> TaskScope:
        """The scope a ``run.scoped`` record journaled."""
        return cls.model_validate(dict(payload))

    def govern(self, tool: Tool, args: Mapping[str, Any], decision: Decision) -> Decision:
        """``decision`` unless this scope objects more strongly (deny wins over ask)."""
        objection = self.check(tool, args, decision.policy)
        if objection is None or VERDICT_RANK[objection.verdict] <= VERDICT_RANK[decision.verdict]:
            return decision
        return objection

    def check(self, tool: Tool, args: Mapping[str, Any], policy: str) -> Decision | None:
        """The scope's objection to calling ``tool`` with ``args``, or None."""
        if not any(fnmatch.fnmatchcase(tool.name, p) for p in self.tools):
            why = f"tool {tool.name!r} is outside this task's scope"
            if self.rules:
                why += f" (from {', '.join(self.rules)})"
            return Decision(self.outside, ("scope.tool",), why, policy)
        for name, value in args.items():
            allowed = self.args.get(f"{tool.name}.{name}")
            if allowed is None:
                continue
            values: list[Any] = (
                list(cast(list[Any], value)) if isinstance(value, (list, tuple)) else [value]
            )
            stray = [v for v in values if str(v).strip().casefold() not in allowed]
            if stray or not values:
                return Decision(
                    self.outside,
                    ("scope.args",),
                    f"{name}={stray[0] if stray else value!r} of {tool.name!r} is not one "
                    f"this task named ({', '.join(allowed)})",
                    policy,
                )
        return None


def derive_scope(scope: ScopeRules, goal: str) -> TaskScope:
    """The task scope the charter's rules give ``goal`` (read before any tool output)."""
    matched: list[ScopeRule] = []
    bindings: list[dict[str, str]] = []
    for rule in scope.rules:
        found = re.search(rule.goal, goal)
        if found is not None:
            matched.append(rule)
            bindings.append({k: v for k, v in found.groupdict().items() if v is not None})
    tools = list(scope.always)
    for rule in matched:
        tools.extend(p for p in rule.tools if p not in tools)
    constrained: dict[str, set[str]] = {}
    for rule, bound in zip(matched, bindings, strict=True):
        for key, values in rule.args.items():
            filled = {
                _TEMPLATE.sub(lambda m, b=bound: b.get(m[1], "\0"), v).strip().casefold()
                for v in values
            }
            # A value whose group did not match allows nothing (fail closed).
            constrained.setdefault(key, set()).update(v for v in filled if "\0" not in v)

    def free(tool_name: str) -> bool:  # some source lets the task call it unconstrained
        if any(fnmatch.fnmatchcase(tool_name, p) for p in scope.always):
            return True
        return any(
            any(fnmatch.fnmatchcase(tool_name, p) for p in rule.tools)
            and not any(key.split(".", 1)[0] == tool_name for key in rule.args)
            for rule in matched
        )

    args = {
        key: tuple(sorted(values))
        for key, values in constrained.items()
        if not free(key.split(".", 1)[0])
    }
    return TaskScope(
        rules=tuple(rule.id for rule in matched),
        tools=tuple(tools),
        args=args,
        outside=scope.outside,
    )


def govern_scope(
    charter: Charter, goal: str, tool: Tool, args: Mapping[str, Any], decision: Decision
) -> Decision:
    """``decision`` unless the task scope objects more strongly (deny wins over ask)."""
    if charter.scope is None:
        return decision
    return derive_scope(charter.scope, goal).govern(tool, args, decision)
